-- The persons whose rows of the per-episode marts (marts.episodes, marts.episode_cost) a refresh by
-- change scope deletes and computes again (sql/macros/incremental.sql, mart_scoped()):
-- * the changed persons of this run (core.changed_persons: new sessions, census rows, claim
--   chains, roster links);
-- * every person with an episode whose row follows the as-of date (the latest session): an open
--   episode, or one whose transition window is not complete — as the marts hold them from the
--   previous run, and as they are now. A row that was neither then and is neither now reads the
--   same under both as-of dates (core.episodes: is_open; core.transitions: window_complete), so the
--   other persons' rows are kept as they are, whichever way the as-of date moved.
-- Built in the marts step, before the marts: it reads the marts the previous run left (not a
-- ref(), which would order this run's build of them first). Empty of previous rows on a first
-- build and on an engine that builds every table whole.
-- Grain: one row per person.
{%- set previous_episodes = previous_state('marts', 'episodes') %}
{%- set previous_costs = previous_state('marts', 'episode_cost') %}
with keys_before as (
{%- if previous_episodes is not none %}
    select person_key from {{ previous_episodes }}
    where is_open or not transition_window_complete
{%- else %}
    select null::string as person_key where false
{%- endif %}
{%- if previous_costs is not none %}
    union
    select person_key from {{ previous_costs }} where is_open
{%- endif %}
)

, persons as (
    select person_id from {{ ref('core__changed_persons') }}
    union
    select e.person_id
    from {{ ref('core__episodes') }} as e
    join {{ ref('core__transitions') }} as t using (episode_id)
    where e.is_open or not t.window_complete
    union
    select p.person_id
    from {{ ref('core__persons') }} as p
    where p.person_key in (select person_key from keys_before)
)

select person_id, {{ pseudonymize('person_id') }} as person_key
from persons
