-- The claim ids an incremental run resolves again, and the members whose claims may now belong to
-- another person (sql/macros/incremental.sql; core.change_scope reads both):
-- * relinked_member: the members of the changed roster files and of their clients (a roster row
--   links a member to a client, or unlinks it), the members of dropped files, and the
--   claims-only members a new claim line gives another payer than their person has (a claims
--   person is member:<payer of the latest claim>:<member id>);
-- * claim: the claim ids of the changed files and every claim id of the relinked members,
--   closed over claim links: a line's claim id and the original it names (REF*F8), an 835's
--   CLP01 and CLP07 (versions are resolved again for whole chains; a chain that lost a link in a
--   dropped file is reached through that file's claim ids, which are in scope).
-- A table of its own so that the planner of core.change_scope knows how few claim ids select the
-- staged lines it reads (at L, as a CTE there, it hashed every staged line: 4 s instead of 1.5).
-- Empty when the run is not by scope.
-- Grain: one row per key kind x key value.
{%- set previous_persons = previous_state('core', 'persons') %}
{%- if not core_incremental() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
-- depends_on: {{ ref('staging__roster') }}, {{ ref('staging__claims') }}
-- depends_on: {{ ref('staging__remittance_835') }}
select null::string as key_kind, null::string as key_value where false
{%- else %}
with changed_keys as (
    {{ changed_file_keys() }}
)

, roster_links as (
    {{ roster_links() }}
)

, relinked_members as (
    select key_value as member_id from changed_keys where key_kind = 'roster_member'
    union
    select r.member_id
    from roster_links as r
    join changed_keys as k on k.key_kind = 'roster_client' and k.key_value = r.client_id
    union
    select k.key_value
    from {{ ref('core__file_keys') }} as k
    join {{ ref('core__file_changes') }} as c on k.file_id = {{ file_id('c.file_sha256') }}
    where c.change <> 'added' and k.key_kind in ('member', 'roster_member')
{%- if previous_persons is not none %}
    union
    select l.member_id
    from {{ ref('staging__claims') }} as l
    join {{ previous_persons }} as p on p.member_id = l.member_id and p.person_source = 'claims'
    where {{ added_files_condition() }} and coalesce(l.payer, 'Unknown') <> p.payer
{%- endif %}
)

-- how claim ids link, both ways: a line's claim id and the original it names (REF*F8), an 835's
-- claim id (CLP01) and the payer's claim control number (CLP07)
, claim_edges as {{ cte_materialized() }} (
    with edges as (
        select distinct claim_id, original_claim_id as linked_id
        from {{ ref('staging__claims') }}
        where original_claim_id is not null and original_claim_id <> claim_id
        union
        select claim_id, payer_claim_control_number
        from {{ ref('staging__remittance_835') }}
        where _rule is null and payer_claim_control_number is not null
            and payer_claim_control_number <> claim_id
    )
    select claim_id, linked_id from edges
    union all
    select linked_id, claim_id from edges
)

, claims as (
    with recursive reached (claim_id) as (
        select key_value from changed_keys where key_kind = 'claim'
        union
        select claim_id from {{ ref('staging__claims') }}
        where member_id in (select member_id from relinked_members)
        union
        select e.linked_id
        from reached as r
        join claim_edges as e on e.claim_id = r.claim_id
    )
    select claim_id from reached
)

select 'claim' as key_kind, claim_id as key_value from claims
union all
select 'relinked_member', member_id from relinked_members
{%- endif %}
