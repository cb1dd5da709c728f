-- Outcomes by diagnosis, in long format: per level of care, for all episodes, each principal
-- diagnosis group (core.episode_diagnoses; 'Unknown' = no grouped diagnosis, e.g. EHR-only
-- episodes) and each co-occurring status (co_occurring, substance_use_only, mental_health_only,
-- unknown): persons, episodes, median length of stay of closed episodes, completion rate (of
-- closed episodes with a known discharge reason), step-down rate and 30-day continuity rate (of
-- closed episodes whose transition window has passed: a next episode at a lower level, resp. at
-- any level, starting within it), each rate with its 95% Wilson interval and, against the rest
-- of the level's episodes, the minimum detectable difference at 80% power and alpha 0.05
-- (sql/macros/power.sql) and a flag when that exceeds the configured difference.
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: the values of one
-- dimension of a level add up to the level's 'all' row, for persons (a row with its persons
-- suppressed is suppressed whole) and for each rate's numerator and denominator, each a count of
-- its own.
-- Grain: one row per level of care x dimension x value.
with episodes as (
    select
        e.level_of_care
        , p.person_key
        , 'All episodes' as all_episodes
        , coalesce(d.principal_diagnosis_group, 'Unknown') as principal_diagnosis_group
        , d.co_occurring_status as co_occurring
        , e.length_of_stay
        , e.is_open
        , not e.is_open and e.discharge_reason is not null as reason_known
        , e.discharge_reason = 'completed' as completed
        , not e.is_open and t.window_complete as window_eligible
        , t.direction = 'step_down' as stepped_down
        , t.within_window as continued
    from {{ ref('core__episodes') }} as e
    join {{ ref('core__persons') }} as p using (person_id)
    join {{ ref('core__transitions') }} as t using (episode_id)
    join {{ ref('core__episode_diagnoses') }} as d using (episode_id)
)

, long as (
    -- one row per episode x dimension with a value (unpivot leaves null values out)
    select *
    from episodes
    unpivot (
        dimension_value for dimension in (all_episodes, principal_diagnosis_group, co_occurring)
    )
)

, cells as (
    select
        level_of_care
        , case dimension when 'all_episodes' then 'all' else dimension end as dimension
        , dimension_value
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as episodes
        , percentile_cont(0.5) within group (order by length_of_stay) filter (where not is_open)
            as median_los
        , count(*) filter (where reason_known) as completion_denominator
        , count(*) filter (where reason_known and completed) as completions
        , count(*) filter (where window_eligible) as window_denominator
        , count(*) filter (where window_eligible and stepped_down) as step_downs
        , count(*) filter (where window_eligible and continued) as continuations
    from long
    group by all
)

{%- set key = ['level_of_care', 'dimension', 'dimension_value'] %}
{%- set lines = [{
    'by': ['level_of_care', 'dimension'], 'where': "dimension <> 'all'",
    'total_by': ['level_of_care'], 'total': "dimension = 'all'",
}] %}

, row_suppression as (
    {{ suppress_rows('cells', key, ['persons'], lines) }}
)

, suppression as (
    {{ suppress_counts(
        'row_suppression', key
        , ['episodes', 'completion_denominator', 'completions', 'window_denominator', 'step_downs'
            , 'continuations']
        , lines, also_hide='suppressed'
    ) }}
)

, hidden as (
    select
        *
        , completions_suppressed or completion_denominator_suppressed as completion_hidden
        , step_downs_suppressed or window_denominator_suppressed as step_down_hidden
        , continuations_suppressed or window_denominator_suppressed as continuity_hidden
    from suppression
)

, overall as (
    select
        level_of_care
        , completion_denominator as all_completion_denominator
        , completions / nullif(completion_denominator, 0) as all_completion_rate
        , window_denominator as all_window_denominator
        , step_downs / nullif(window_denominator, 0) as all_step_down_rate
        , continuations / nullif(window_denominator, 0) as all_continuity_rate
        , completion_hidden as all_completion_hidden
        , step_down_hidden as all_step_down_hidden
        , continuity_hidden as all_continuity_hidden
    from hidden
    where dimension = 'all'
)

, powered as (
    select
        s.*
        , o.* except (level_of_care)
        , case when s.dimension <> 'all' and not s.completion_hidden and not o.all_completion_hidden
            then {{ min_detectable_difference(
                's.completion_denominator'
                , 'o.all_completion_denominator - s.completion_denominator'
                , 'o.all_completion_rate') }}
        end as completion_mdd
        , case when s.dimension <> 'all' and not s.step_down_hidden and not o.all_step_down_hidden
            then {{ min_detectable_difference(
                's.window_denominator'
                , 'o.all_window_denominator - s.window_denominator'
                , 'o.all_step_down_rate') }}
        end as step_down_mdd
        , case when s.dimension <> 'all' and not s.continuity_hidden
            and not o.all_continuity_hidden
            then {{ min_detectable_difference(
                's.window_denominator'
                , 'o.all_window_denominator - s.window_denominator'
                , 'o.all_continuity_rate') }}
        end as continuity_mdd
    from hidden as s
    left join overall as o using (level_of_care)
)

select
    level_of_care
    , {{ label('level_of_care') }}
    , dimension
    , {{ label('dimension') }}
    , dimension_value
    , {{ label('dimension_value', code_set_expr='dimension') }}
    , suppressed
    , {{ published('persons', 'persons', 'suppressed', flag=false) }}
    , {{ published('episodes', 'episodes', 'episodes_suppressed') }}
    , {{ published('median_los', 'median_los', 'suppressed', flag=false
        , not_applicable='median_los is null') }}
    {#- per rate: the rate, suppressed with its numerator or denominator, not applicable on a
        denominator of 0; its Wilson interval; its minimum detectable difference against the
        rest of the level, suppressed with the row, the subgroup's or the level's ('all') rate,
        not applicable on the 'all' rows, on an empty group and where the pooled rate is
        unknown, 0 or 1; and the underpowered flag, null with it #}
    {%- for name, numerator, denominator in [
        ('completion', 'completions', 'completion_denominator')
        , ('step_down', 'step_downs', 'window_denominator')
        , ('continuity', 'continuations', 'window_denominator')
    ] %}
    {%- if name != 'continuity' %}
    , {{ published(denominator, denominator, denominator ~ '_suppressed') }}
    {%- endif %}
    , {{ published(name ~ '_rate', 'round(' ~ numerator ~ ' / nullif(' ~ denominator ~ ', 0), 4)'
        , name ~ '_hidden', not_applicable=denominator ~ ' = 0') }}
    , case when not {{ name }}_hidden
        then round({{ wilson_low(numerator, denominator) }}, 4) end as {{ name }}_rate_ci_low
    , case when not {{ name }}_hidden
        then round({{ wilson_high(numerator, denominator) }}, 4) end as {{ name }}_rate_ci_high
    , {{ published(name ~ '_min_detectable_difference', 'round(' ~ name ~ '_mdd, 4)'
        , 'suppressed or (dimension <> \'all\' and (' ~ name ~ '_hidden or coalesce(all_'
            ~ name ~ '_hidden, false)))'
        , not_applicable=name ~ '_mdd is null') }}
    , {{ name }}_mdd > {{ detectable_difference() }} as {{ name }}_underpowered
    {%- endfor %}
from powered
