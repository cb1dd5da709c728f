-- What this run's changed files reach (sql/macros/incremental.sql): the keys whose core rows are
-- recomputed. From the keys of the added and dropped files (core.file_keys):
-- * client, census_client: the clients of the attendance files (their core.sessions rows are
--   recomputed) and of the census files (their core.census rows: a re-sent snapshot makes its rows
--   the latest landed, even where they say what the last one said);
-- * care_client: the clients whose care may have changed (core.persons and every person-level
--   table): those of attendance and roster files; those of census files whose admissions now
--   differ from core.census as the previous run left it (a daily census snapshot repeats every
--   open admission: only a new admission, a discharge or a correction changes care); and every
--   client a roster row links to a member in scope;
-- * member: the members of the changed files and of those roster files' clients (a new roster row
--   can link a claims member to a client, or unlink the one it linked), closed over claim chains:
--   the members of every current claim line sharing a claim id with a member in scope (its own
--   claim id, the original it names in REF*F8, or that original's claim id through an 835's
--   CLP07 -> CLP01), until no new member is reached;
-- * claim: the claim ids of the changed files and every claim id of the members in scope (their
--   versions are resolved again);
-- * person: the persons the care clients and members were before this run (core.persons as the
--   previous run left it); core.changed_persons adds the ones they are now.
-- Empty when the run is not by scope (a full refresh or a first build: every table is rebuilt).
-- Grain: one row per key kind x key value.
{%- set previous_persons = previous_state('core', 'persons') %}
{%- set previous_census = previous_state('core', 'census') %}
{%- if not core_incremental() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
-- depends_on: {{ ref('staging__roster') }}, {{ ref('staging__claims') }}
-- depends_on: {{ ref('staging__remittance_835') }}, {{ ref('staging__census') }}
select null::string as key_kind, null::string as key_value where false
{%- else %}
with changed_keys as (
    select distinct k.key_kind, k.key_value
    from {{ ref('core__file_keys') }} as k
    join {{ ref('core__file_changes') }} as c on k.file_id = {{ file_id('c.file_sha256') }}
)

, roster_links as (
    select distinct client_id, member_id
    from {{ ref('staging__roster') }}
    where member_id is not null
)

-- census admissions of the census files' clients: as they win now, and as core.census has them
, census_now as (
    select source_layout, client_id, program, level_of_care, admit_date, discharge_date, discharge_reason
    from {{ ref('staging__census') }}
    where client_id in (select key_value from changed_keys where key_kind = 'census_client')
    qualify row_number() over (
        partition by source_layout, client_id, program, level_of_care, admit_date
        order by _landed_at desc, _source_file desc, _row_number desc
    ) = 1
)

, census_before as (
{%- if previous_census is not none %}
    select source_layout, client_id, program, level_of_care, admit_date, discharge_date, discharge_reason
    from {{ previous_census }}
    where client_id in (select key_value from changed_keys where key_kind = 'census_client')
{%- else %}
    select * from census_now where false
{%- endif %}
)

, census_changed as (
    select client_id from (select * from census_now except all select * from census_before)
    union
    select client_id from (select * from census_before except all select * from census_now)
)

, seed_members as (
    select key_value as member_id from changed_keys where key_kind = 'member'
    union
    select r.member_id
    from roster_links as r
    join changed_keys as k on k.key_kind = 'roster_client' and k.key_value = r.client_id
)

, payer_numbers as (
    select distinct payer_claim_control_number, claim_id
    from {{ ref('staging__remittance_835') }}
    where _rule is null and payer_claim_control_number is not null
)

-- the claim ids a current claim line links by: its own, the original it names, and that
-- original's claim id through an 835
, claim_links as {{ cte_materialized() }} (
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


, care_clients as (
    select key_value as client_id from changed_keys where key_kind in ('client', 'roster_client')
    union
    select client_id from census_changed
    union
    select r.client_id from roster_links as r join members as m using (member_id)
)

, claims as (
    select key_value as claim_id from changed_keys where key_kind = 'claim'
    union
    select l.link_id from claim_links as l join members as m using (member_id)
)

, previous_persons as (
{%- if previous_persons is not none %}
    select p.person_id
    from {{ previous_persons }} as p
    where p.client_id in (select client_id from care_clients)
        or p.member_id in (select member_id from members)
{%- else %}
    select null::string as person_id where false
{%- endif %}
)

select key_kind, key_value from changed_keys where key_kind in ('client', 'census_client')
union all
select 'care_client', client_id from care_clients
union all
select 'member', member_id from members
union all
select 'claim', claim_id from claims
union all
select 'person', person_id from previous_persons
{%- endif %}
