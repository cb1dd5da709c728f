-- Who is served and how outcomes differ, in long format: per episode-start year and level of
-- care, for each demographic dimension (all persons, OMB race/ethnicity, sex, age band, payer)
-- and value: persons, episodes, sessions per person, median length of stay, completion and
-- step-down rates with 95% Wilson score intervals, and each rate's ratio to the whole population.
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: the values of one
-- dimension of a year x level add up to the 'all' row, for persons (a row with its persons
-- suppressed is suppressed whole) and for each rate's numerator and denominator (completions,
-- step-downs: rate x denominator gives them back), each a count of its own.
-- Power: for each subgroup against the rest of its year x level, the minimum detectable
-- difference of each rate at 80% power and alpha 0.05 (sql/macros/power.sql) and a flag when it
-- exceeds the configured difference (dbt var power_detectable_difference_pp, default 10 points).
-- Grain: one row per year x level of care x dimension x value.
with episodes as (
    select
        year(start_month) as period
        , level_of_care
        , person_key
        , 'All persons' as all_persons
        , race_ethnicity
        , sex
        , age_band
        , payer
        , length_of_stay
        , is_open
        , sessions_attended
        , discharge_reason is not null as reason_known
        , discharge_reason = 'completed' as completed
        , not is_open and transition_window_complete as step_eligible
        , transition_direction = 'step_down' as stepped_down
    from {{ ref('marts__episodes') }}
)

, long as (
    -- one row per episode x dimension with a value (unpivot leaves null values out)
    select *
    from episodes
    unpivot (dimension_value for dimension in (all_persons, race_ethnicity, sex, age_band, payer))
)

, cells as (
    select
        period
        , level_of_care
        , case dimension when 'all_persons' then 'all' else dimension end as dimension
        , dimension_value
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as episodes
        , sum(sessions_attended) as sessions_attended
        , percentile_cont(0.5) within group (order by length_of_stay) filter (where not is_open)
            as median_los
        , count(*) filter (where reason_known) as completion_denominator
        , count(*) filter (where completed) as completions
        , count(*) filter (where step_eligible) as step_down_denominator
        , count(*) filter (where step_eligible and stepped_down) as step_downs
    from long
    group by all
)

, rates as (
    select
        *
        , completions / nullif(completion_denominator, 0) as completion_rate
        , step_downs / nullif(step_down_denominator, 0) as step_down_rate
    from cells
)

{%- set key = ['period', 'level_of_care', 'dimension', 'dimension_value'] %}
{%- set lines = [{
    'by': ['period', 'level_of_care', 'dimension'], 'where': "dimension <> 'all'",
    'total_by': ['period', 'level_of_care'], 'total': "dimension = 'all'",
}] %}

, row_suppression as (
    {{ suppress_rows('rates', key, ['persons'], lines) }}
)

, suppression as (
    {{ suppress_counts(
        'row_suppression', key
        , ['completion_denominator', 'completions', 'step_down_denominator', 'step_downs']
        , lines, also_hide='suppressed'
    ) }}
)

, hidden_rates as (
    select
        *
        , completions_suppressed or completion_denominator_suppressed as completion_hidden
        , step_downs_suppressed or step_down_denominator_suppressed as step_down_hidden
    from suppression
)

, overall as (
    -- a ratio and a published rate give the 'all' rate back: no ratio when that one is hidden
    select
        period
        , level_of_care
        , completion_rate as all_completion_rate
        , step_down_rate as all_step_down_rate
        , completion_hidden as all_completion_hidden
        , step_down_hidden as all_step_down_hidden
    from hidden_rates
    where dimension = 'all'
)

, overall_power as (
    -- the rest of a subgroup = the 'all' row minus the subgroup (sql/macros/power.sql)
    select
        period
        , level_of_care
        , completion_denominator as all_completion_denominator
        , step_down_denominator as all_step_down_denominator
    from hidden_rates
    where dimension = 'all'
)

, power as (
    select
        s.period
        , s.level_of_care
        , s.dimension
        , s.dimension_value
        , case when s.dimension <> 'all' and not s.completion_hidden
            and not o.all_completion_hidden
            then {{ min_detectable_difference(
                's.completion_denominator'
                , 'p.all_completion_denominator - s.completion_denominator'
                , 'o.all_completion_rate') }}
        end as completion_mdd
        , case when s.dimension <> 'all' and not s.step_down_hidden
            and not o.all_step_down_hidden
            then {{ min_detectable_difference(
                's.step_down_denominator'
                , 'p.all_step_down_denominator - s.step_down_denominator'
                , 'o.all_step_down_rate') }}
        end as step_down_mdd
    from hidden_rates as s
    left join overall as o using (period, level_of_care)
    left join overall_power as p using (period, level_of_care)
)

select
    s.period
    , s.level_of_care
    , {{ label('s.level_of_care', 'level_of_care', fixed={'All': 'All levels of care'}
        , alias='level_of_care_label') }}
    , s.dimension
    , {{ label('s.dimension', 'dimension', alias='dimension_label') }}
    , s.dimension_value
    , {{ label('s.dimension_value', code_set_expr='s.dimension', alias='dimension_value_label') }}
    , s.suppressed
    , case when not s.suppressed then s.persons end as persons
    , case when not s.suppressed then s.episodes end as episodes
    , case when not s.suppressed then round(s.sessions_attended / s.persons, 2) end
        as sessions_per_person
    , {{ published('median_los', 's.median_los', 's.suppressed', flag=false
        , not_applicable='s.median_los is null') }}
    , {{ published('completion_denominator', 's.completion_denominator'
        , 's.completion_denominator_suppressed') }}
    , {{ published('completion_rate', 'round(s.completion_rate, 4)', 's.completion_hidden'
        , not_applicable='s.completion_rate is null') }}
    , case when not s.completion_hidden
        then round({{ wilson_low('s.completions', 's.completion_denominator') }}, 4) end
        as completion_rate_ci_low
    , case when not s.completion_hidden
        then round({{ wilson_high('s.completions', 's.completion_denominator') }}, 4) end
        as completion_rate_ci_high
    , {{ published('completion_rate_ratio'
        , 'round(s.completion_rate / nullif(o.all_completion_rate, 0), 3)'
        , 's.completion_hidden or o.all_completion_hidden'
        , not_applicable='s.completion_rate is null or coalesce(o.all_completion_rate, 0) = 0') }}
    , {{ published('step_down_denominator', 's.step_down_denominator'
        , 's.step_down_denominator_suppressed') }}
    , {{ published('step_down_rate', 'round(s.step_down_rate, 4)', 's.step_down_hidden'
        , not_applicable='s.step_down_rate is null') }}
    , case when not s.step_down_hidden
        then round({{ wilson_low('s.step_downs', 's.step_down_denominator') }}, 4) end
        as step_down_rate_ci_low
    , case when not s.step_down_hidden
        then round({{ wilson_high('s.step_downs', 's.step_down_denominator') }}, 4) end
        as step_down_rate_ci_high
    , {{ published('step_down_rate_ratio'
        , 'round(s.step_down_rate / nullif(o.all_step_down_rate, 0), 3)'
        , 's.step_down_hidden or o.all_step_down_hidden'
        , not_applicable='s.step_down_rate is null or coalesce(o.all_step_down_rate, 0) = 0') }}
    {#- suppressed with the row, the subgroup's or the level's ('all') rate; not applicable on
        the 'all' rows, on an empty group and where the pooled rate is unknown, 0 or 1 #}
    {%- for name in ['completion', 'step_down'] %}
    , {{ published(name ~ '_min_detectable_difference', 'round(w.' ~ name ~ '_mdd, 4)'
        , 's.suppressed or (s.dimension <> \'all\' and (s.' ~ name ~ '_hidden or coalesce(o.all_'
            ~ name ~ '_hidden, false)))'
        , not_applicable='w.' ~ name ~ '_mdd is null') }}
    , w.{{ name }}_mdd > {{ detectable_difference() }} as {{ name }}_underpowered
    {%- endfor %}
from hidden_rates as s
left join overall as o using (period, level_of_care)
left join power as w using (period, level_of_care, dimension, dimension_value)
