-- What this run's changed files reach (sql/macros/incremental.sql): the keys whose core rows are
-- recomputed. From the keys of the added and dropped files (core.file_keys):
-- * care_client: the clients whose care may have changed (core.persons and every person-level
--   table): those of attendance and roster files; those of census files whose admissions now
--   differ from core.census as the previous run left it (a daily census snapshot repeats every
--   open admission: only a new admission, a discharge or a correction changes care); and every
--   client a roster row links to a member in scope;
-- * claim: the claim ids of core.claim_scope: those of the changed files, and every claim id of
--   the members whose claims may now belong to another person, closed over claim links (versions
--   are resolved again for whole chains; every other claim id keeps its lines);
-- * member: the members of the changed files, the relinked members of core.claim_scope, and the
--   members of every line of a claim id in scope;
-- * person: the persons the care clients and members were before this run (core.persons as the
--   previous run left it); core.changed_persons adds the ones they are now.
-- Empty when the run is not by scope (a full refresh or a first build: every table is rebuilt).
-- Grain: one row per key kind x key value.
{%- set previous_persons = previous_state('core', 'persons') %}
{%- set previous_census = previous_state('core', 'census') %}
{%- if not core_incremental() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
-- depends_on: {{ ref('core__claim_scope') }}, {{ ref('staging__roster') }}
-- depends_on: {{ ref('staging__claims') }}, {{ ref('staging__census') }}
select null::string as key_kind, null::string as key_value where false
{%- else %}
with changed_keys as (
    {{ changed_file_keys() }}
)

, roster_links as (
    {{ roster_links() }}
)

-- the clients whose admissions change: those of dropped census files, and those of an added
-- snapshot's best row of an admission that beats the row core.census held (the previous run's, the
-- merge's order: sql/macros/incremental.sql) and says something else, that core.census had not,
-- or that core.census already holds (merged by a core step that did not finish)
, census_new as (
    select *
    from ({{ latest_landed_new_rows('staging__census', 'census_client') }})
    qualify row_number() over (
        partition by source_layout, client_id, program, level_of_care, admit_date
        order by _landed_at desc, _source_file desc, _row_number desc
    ) = 1
)

, census_changed as (
    {{ dropped_file_clients('census_client') }}
    union
    select n.client_id
    from census_new as n
{%- if previous_census is not none %}
    left join {{ previous_census }} as p
        on {{ same_key('p', 'n', ['source_layout', 'client_id', 'program', 'level_of_care'
            , 'admit_date']) }}
    where p.client_id is null
        -- the held row is this very row: a core step that failed after merging it did not
        -- finish the persons it changed (core.applied_files still lists the file as added)
        or (n._landed_at, n._source_file, n._row_number) = (p.landed_at, p.source_file, p.source_row)
        or (
            (n._landed_at, n._source_file, n._row_number) > (p.landed_at, p.source_file, p.source_row)
            and (n.discharge_date is distinct from p.discharge_date
                or n.discharge_reason is distinct from p.discharge_reason)
        )
{%- endif %}
)

-- the claim ids in scope and the relinked members (core.claim_scope: a table of its own, so that
-- the planner knows how few claim ids select the lines below)
, relinked_members as (
    select key_value as member_id from {{ ref('core__claim_scope') }}
    where key_kind = 'relinked_member'
)

, claims as (
    select key_value as claim_id from {{ ref('core__claim_scope') }} where key_kind = 'claim'
)

-- the members whose persons' rows are recomputed: those of the changed files, the relinked ones
-- and the members of every line of the claim ids in scope (a chain's final version can move from
-- one member's claim to another's)
, members as (
    select key_value as member_id from changed_keys where key_kind in ('member', 'roster_member')
    union
    select member_id from relinked_members
    union
    select member_id from {{ ref('staging__claims') }}
    where claim_id in (select claim_id from claims)
)

, care_clients as (
    select key_value as client_id from changed_keys where key_kind in ('client', 'roster_client')
    union
    select client_id from census_changed
    union
    select r.client_id from roster_links as r join members as m using (member_id)
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

select 'care_client' as key_kind, client_id as key_value from care_clients
union all
select 'member', member_id from members
union all
select 'claim', claim_id from claims
union all
select 'person', person_id from previous_persons
{%- endif %}
