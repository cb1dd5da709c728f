-- The diagnoses of each episode and its co-occurring status: the ICD-10-CM codes on the final
-- claim lines that make the episode (lines of the person at the episode's level of care whose
-- first service date falls within the episode), grouped by sql/seeds/diagnosis_groups.csv
-- (3-character prefix, the dot removed). The principal diagnosis is the first code of the
-- episode's earliest line (then lowest claim id and line number). co_occurring: at least one
-- substance-use and at least one mental-health diagnosis in the episode (SAMHSA); null when the
-- episode has no grouped diagnosis (no claim lines: EHR-only, or only codes outside the groups).
-- Grain: one row per episode (every episode of core.episodes).
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
with lines as (
    select
        e.episode_id
        , l.service_from_date
        , l.claim_id
        , l.line_number
        , l.diagnosis_codes
    from (select * from {{ ref('core__episodes') }} where {{ in_changed_persons() }}) as e
    join {{ rows_of_changed_persons('core__claim_lines') }} as l
        on l.person_id = e.person_id
        and l.level_of_care = e.level_of_care
        and l.service_from_date between e.start_date and e.end_date
)

, codes as (
    select
        episode_id
        , service_from_date
        , claim_id
        , line_number
        , upper(replace(trim(raw_code), '.', '')) as code
        , position
    from (
        select
            *
            , {{ unnest_with_position(split_list('diagnosis_codes', '|'), 'raw_code', 'position') }}
        from lines
        where diagnosis_codes is not null
    )
)

, grouped as (
    select
        c.*
        , g.category
        , g.diagnosis_group
    from codes as c
    left join {{ value_set('diagnosis_groups') }} as g
        on g.code_prefix = left(c.code, 3)
    where c.code <> ''
)

, principal as (
    select episode_id, code as principal_diagnosis_code, diagnosis_group as principal_diagnosis_group
    from grouped
    qualify row_number() over (
        partition by episode_id order by service_from_date, claim_id, line_number, position
    ) = 1
)

, per_episode as (
    select
        episode_id
        , {{ sorted_distinct_agg('code', "'|'") }} as diagnosis_codes
        , {{ sorted_distinct_agg('diagnosis_group', "'|'", "category = 'substance_use'") }}
            as substance_use_groups
        , {{ sorted_distinct_agg('diagnosis_group', "'|'", "category = 'mental_health'") }}
            as mental_health_groups
        , bool_or(category = 'substance_use') as has_substance_use
        , bool_or(category = 'mental_health') as has_mental_health
    from grouped
    group by episode_id
)

select
    e.episode_id
    , e.person_id
    , e.level_of_care
    , d.diagnosis_codes
    , p.principal_diagnosis_code
    , p.principal_diagnosis_group
    , d.substance_use_groups
    , d.mental_health_groups
    , coalesce(d.has_substance_use, false) as has_substance_use
    , coalesce(d.has_mental_health, false) as has_mental_health
    , case
        when d.has_substance_use or d.has_mental_health
            then d.has_substance_use and d.has_mental_health
    end as co_occurring
    , case
        when d.has_substance_use and d.has_mental_health then 'co_occurring'
        when d.has_substance_use then 'substance_use_only'
        when d.has_mental_health then 'mental_health_only'
        else 'unknown'
    end as co_occurring_status
from (select * from {{ ref('core__episodes') }} where {{ in_changed_persons() }}) as e
left join per_episode as d using (episode_id)
left join principal as p using (episode_id)
