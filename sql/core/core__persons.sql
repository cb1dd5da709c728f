-- One row per person: every roster client, plus every claims member whom no roster client links
-- to (claims with no client still count as their own persons).
-- Grain: one row per person_id. person_id is `client:<client id>` or `member:<payer>:<member id>`;
-- person_key is its keyed HMAC-SHA256 pseudonym, the only person identifier the marts carry.
-- Race and ethnicity are mapped to the OMB SPD 15 (2024) categories (see sql/seeds/README.md).
-- Refreshed by change scope (sql/macros/incremental.sql): the persons of the clients and members
-- in core.change_scope (as they were and as they are) are deleted and computed again.
{%- do scoped_incremental_config(
    scope_rows('client_id', 'care_client') ~ ' or ' ~ scope_rows('member_id', 'member')
    ~ ' or ' ~ scope_rows('person_id', 'person')) %}
with all_latest_roster as (
    select *
    from {{ ref('staging__roster') }}
    qualify row_number() over (
        partition by client_id order by _landed_at desc, _source_file desc, _row_number desc
    ) = 1
)

, latest_roster as (
    select * from all_latest_roster where {{ in_change_scope('client_id', 'care_client') }}
)

, race_selections as (
    select client_id, {{ unnest_list(split_list("coalesce(race, '')", '|'), 'race_value') }}
    from latest_roster
)

, race_categories as (
    select
        s.client_id
        , count(distinct m.omb_category) filter (
            where m.omb_category not in ('Other race', 'Unknown')
        ) as known_categories
        , min(m.omb_category) filter (
            where m.omb_category not in ('Other race', 'Unknown')
        ) as only_category
        , bool_or(m.omb_category = 'Other race') as chose_other
    from race_selections as s
    left join {{ value_set('race_ethnicity_map') }} as m on upper(m.source_value) = upper(trim(s.race_value))
    group by s.client_id
)

, clients as (
    select
        'client:' || r.client_id as person_id
        , 'ehr' as person_source
        , r.client_id
        , r.member_id
        , coalesce(r.payer, 'Unknown') as payer
        , r.birth_date
        , r.sex
        , case
            when upper(r.ethnicity) = 'HISPANIC OR LATINO' then 'Hispanic or Latino'
            when rc.known_categories > 1 then 'Multiracial'
            when rc.known_categories = 1 then rc.only_category
            when rc.chose_other then 'Other race'
            else 'Unknown'
        end as race_ethnicity
    from latest_roster as r
    left join race_categories as rc on rc.client_id = r.client_id
)

, claims_members as (
    select member_id, {{ arg_max('payer', 'received_date') }} as payer
    from {{ ref('staging__claims') }}
    where member_id not in (select member_id from all_latest_roster where member_id is not null)
        and {{ in_change_scope('member_id', 'member') }}
    group by member_id
)

, members as (
    select
        'member:' || coalesce(payer, 'Unknown') || ':' || member_id as person_id
        , 'claims' as person_source
        , null::string as client_id
        , member_id
        , coalesce(payer, 'Unknown') as payer
        , null::date as birth_date
        , 'U' as sex
        , 'Unknown' as race_ethnicity
    from claims_members
)

, persons as (
    select * from clients
    union all
    select * from members
)

select
    person_id
    , {{ pseudonymize("person_id") }} as person_key
    , person_source
    , client_id
    , member_id
    , payer
    , birth_date
    , sex
    , race_ethnicity
from persons
