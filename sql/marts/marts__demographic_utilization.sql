-- Who is served and how outcomes differ, in long format: per episode-start year and level of
-- care, for each demographic dimension (all persons, OMB race/ethnicity, sex, age band, payer)
-- and value: persons, episodes, sessions per person, median length of stay, completion and
-- step-down rates with 95% Wilson score intervals, and each rate's ratio to the whole population.
-- Privacy (CMS cell-size rule): a cell of 1-10 persons is suppressed, and in any group
-- (year x level x dimension) with a suppressed cell the smallest other cell is suppressed too.
-- Every unsuppressed cell holds 11+ persons, so the hidden cells then add up to at least 10 more
-- than their number: subtracting visible cells from the group total pins none of them.
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
    unpivot episodes
    on all_persons, race_ethnicity, sex, age_band, payer
    into name dimension value dimension_value
)

, cells as (
    select
        period
        , level_of_care
        , case dimension when 'all_persons' then 'all' else dimension end as dimension
        , dimension_value
        , count(distinct person_key) as persons
        , count(*) as episodes
        , sum(sessions_attended) as sessions_attended
        , quantile_cont(length_of_stay, 0.5) filter (where not is_open) as median_los
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

, primary_suppression as (
    select *, persons between 1 and 10 as primary_suppressed
    from rates
)

, complementary as (
    select
        *
        , count(*) filter (where primary_suppressed) over group_cells as suppressed_in_group
        , row_number() over (
            partition by period, level_of_care, dimension, primary_suppressed
            order by persons, dimension_value
        ) as size_order
    from primary_suppression
    window group_cells as (partition by period, level_of_care, dimension)
)

, suppression as (
    select
        *
        , primary_suppressed
            or (suppressed_in_group >= 1 and not primary_suppressed and size_order = 1
                and dimension <> 'all') as suppressed
    from complementary
)

, overall as (
    select period, level_of_care, completion_rate as all_completion_rate
        , step_down_rate as all_step_down_rate
    from rates
    where dimension = 'all'
)

select
    s.period
    , s.level_of_care
    , s.dimension
    , s.dimension_value
    , s.suppressed
    , case when not s.suppressed then s.persons end as persons
    , case when not s.suppressed then s.episodes end as episodes
    , case when not s.suppressed then round(s.sessions_attended / s.persons, 2) end
        as sessions_per_person
    , case when not s.suppressed then s.median_los end as median_los
    , case when not s.suppressed then s.completion_denominator end as completion_denominator
    , case when not s.suppressed then round(s.completion_rate, 4) end as completion_rate
    , case when not s.suppressed then round({{ wilson_low('s.completions', 's.completion_denominator') }}, 4) end
        as completion_rate_ci_low
    , case when not s.suppressed then round({{ wilson_high('s.completions', 's.completion_denominator') }}, 4) end
        as completion_rate_ci_high
    , case when not s.suppressed then round(s.completion_rate / nullif(o.all_completion_rate, 0), 3) end
        as completion_rate_ratio
    , case when not s.suppressed then s.step_down_denominator end as step_down_denominator
    , case when not s.suppressed then round(s.step_down_rate, 4) end as step_down_rate
    , case when not s.suppressed then round({{ wilson_low('s.step_downs', 's.step_down_denominator') }}, 4) end
        as step_down_rate_ci_low
    , case when not s.suppressed then round({{ wilson_high('s.step_downs', 's.step_down_denominator') }}, 4) end
        as step_down_rate_ci_high
    , case when not s.suppressed then round(s.step_down_rate / nullif(o.all_step_down_rate, 0), 3) end
        as step_down_rate_ratio
from suppression as s
left join overall as o using (period, level_of_care)
