-- The persons whose core rows this run recomputes (sql/macros/incremental.sql): the persons the
-- clients and members of core.change_scope were before this run, and the ones they are now
-- (core.persons, refreshed). A member a new roster row links to a client is both: its claims
-- person leaves, the client's person takes its claims. Empty when the run is not by scope.
-- Grain: one row per person_id.
{%- if not core_incremental() %}
-- depends_on: {{ ref('core__change_scope') }}, {{ ref('core__persons') }}
select null::string as person_id where false
{%- else %}
select key_value as person_id
from {{ ref('core__change_scope') }}
where key_kind = 'person'

union

select person_id
from {{ ref('core__persons') }}
where client_id in (select key_value from {{ ref('core__change_scope') }} where key_kind = 'care_client')
    or member_id in (select key_value from {{ ref('core__change_scope') }} where key_kind = 'member')
{%- endif %}
