-- Where clients go after an episode ends: from-level x to-level counts, the share of the
-- from-level's discharges, and days to the next level (median, p75), overall and by program and
-- discharge month. to_level 'NONE' = no episode started within the transition window.
-- Only discharged episodes whose whole window has been observed (end + window <= as-of date)
-- count, so recent discharges do not read as "no follow-up" too early.
-- Grain: one row per from-level x to-level x breakdown value.
with discharges as (
    select
        level_of_care as from_level
        , coalesce(next_level_of_care, 'NONE') as to_level
        , transition_direction as direction
        , program
        , discharge_month
        , person_key
        , days_to_next_level
    from marts.episodes
    where not is_open and transition_window_complete
)

, counted as (
    select
        case
            when grouping(program) = 0 then 'program'
            when grouping(discharge_month) = 0 then 'discharge_month'
            else 'all'
        end as breakdown
        , from_level
        , to_level
        , any_value(direction) as direction
        , coalesce(program, 'All') as program
        , discharge_month
        , count(distinct person_key) as persons
        , count(*) as transitions
        , quantile_cont(days_to_next_level, 0.5) as median_days_to_next
        , quantile_cont(days_to_next_level, 0.75) as p75_days_to_next
    from discharges
    group by grouping sets (
        (from_level, to_level)
        , (from_level, to_level, program)
        , (from_level, to_level, discharge_month)
    )
)

select
    breakdown
    , from_level
    , to_level
    , direction
    , program
    , discharge_month
    , persons between 1 and 10 as suppressed
    , case when not suppressed then transitions end as transitions
    , case when not suppressed then sum(transitions) over (
        partition by breakdown, from_level, program, discharge_month) end as from_level_discharges
    , case when not suppressed then round(transitions / sum(transitions) over (
        partition by breakdown, from_level, program, discharge_month), 4) end as transition_rate
    , case when not suppressed then median_days_to_next end as median_days_to_next
    , case when not suppressed then p75_days_to_next end as p75_days_to_next
from counted
