-- What this run's changed files reach (sql/macros/incremental.sql): the keys whose core rows are
-- recomputed. From the keys of the added and dropped files (core.file_keys):
-- * client: every client id they carry, and every client a roster row links to a member in scope;
-- * member: every member id they carry and the members of those clients' roster rows (a new roster
--   row can link a claims member to a client, or unlink the one it linked), closed over claim
--   chains: the members of every current claim line sharing a claim id with a member in scope —
--   its own claim id, the original it names (REF*F8), or that original's claim id through an 835
--   (CLP07 -> CLP01) — until no new member is reached;
-- * claim: the claim ids of the changed files and every claim id of the members in scope (their
--   versions are resolved again);
-- * person: the persons those clients and members were before this run (core.persons as the
--   previous run left it); core.changed_persons adds the ones they are now.
-- Empty when the run is not by scope (a full refresh or a first build: every table is rebuilt).
-- Grain: one row per key kind x key value.
{%- set previous_persons = previous_state('core', 'persons') %}
{%- if not core_incremental() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
-- depends_on: {{ ref('staging__roster') }}, {{ ref('staging__claims') }}
-- depends_on: {{ ref('staging__remittance_835') }}
select null::varchar as key_kind, null::varchar as key_value where false
{%- else %}
with changed_keys as (
    select distinct k.key_kind, k.key_value
    from {{ ref('core__file_keys') }} as k
    join {{ ref('core__file_changes') }} as c using (file_sha256)
)

, roster_links as (
    select distinct client_id, member_id
    from {{ ref('staging__roster') }}
    where member_id is not null
)

, seed_members as (
    select key_value as member_id from changed_keys where key_kind = 'member'
    union
    select r.member_id
    from roster_links as r
    join changed_keys as k on k.key_kind = 'client' and k.key_value = r.client_id
)

, payer_numbers as (
    select distinct payer_claim_control_number, claim_id
    from {{ ref('staging__remittance_835') }}
    where _rule is null and payer_claim_control_number is not null
)

-- the claim ids a current claim line links by: its own, the original it names, and that
-- original's claim id through an 835
, claim_links as materialized (
    select member_id, claim_id as link_id from {{ ref('staging__claims') }}
    union
    select member_id, original_claim_id from {{ ref('staging__claims') }}
    where original_claim_id is not null
    union
    select c.member_id, p.claim_id
    from {{ ref('staging__claims') }} as c
    join payer_numbers as p on p.payer_claim_control_number = c.original_claim_id
)

, members as (
    with recursive reached (member_id) as (
        select member_id from seed_members
        union
        select l.member_id
        from claim_links as l
        join changed_keys as k on k.key_kind = 'claim' and k.key_value = l.link_id
        union
        select other.member_id
        from reached as r
        join claim_links as own on own.member_id = r.member_id
        join claim_links as other on other.link_id = own.link_id
    )
    select distinct member_id from reached
)

, clients as (
    select key_value as client_id from changed_keys where key_kind = 'client'
    union
    select r.client_id from roster_links as r join members as m using (member_id)
)

, claims as (
    select key_value as claim_id from changed_keys where key_kind = 'claim'
    union
    select l.link_id from claim_links as l join members as m using (member_id)
)

{%- if previous_persons is not none %}

, previous_persons as (
    select p.person_id
    from {{ previous_persons }} as p
    where p.client_id in (select client_id from clients)
        or p.member_id in (select member_id from members)
)
{%- else %}

, previous_persons as (
    select null::varchar as person_id where false
)
{%- endif %}

select 'client' as key_kind, client_id as key_value from clients
union all
select 'member', member_id from members
union all
select 'claim', claim_id from claims
union all
select 'person', person_id from previous_persons
{%- endif %}
