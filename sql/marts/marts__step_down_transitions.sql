-- Where clients go after an episode ends: from-level x to-level counts, the share of the
-- from-level's discharges, and days to the next level (median, p75), overall and by program and
-- discharge month. to_level 'NONE' = no episode started within the transition window.
-- Only discharged episodes whose whole window has been observed (end + window <= as-of date)
-- count, so recent discharges do not read as "no follow-up" too early.
-- Privacy: a cell of 1-10 persons is suppressed; then, so that no suppressed count can be
-- recomputed from a total, any line of cells that adds up to a published total (the to-levels of
-- one from-level group; one from->to pair across programs or months) holding a suppressed cell
-- gets its smallest other cell suppressed too (two alternating passes).
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
    from {{ ref('marts__episodes') }}
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

, pass_0 as (
    select
        *
        , coalesce(program, '') || coalesce(discharge_month::varchar, '') as breakdown_value
        , persons between 1 and 10 as suppressed
    from counted
)

-- within a from-level group (its to-levels add up to from_level_discharges)
, pass_1 as (
    select * replace (
        suppressed or (
            count(*) filter (where suppressed) over (partition by breakdown, from_level, breakdown_value) >= 1
            -- a line already hiding a cell of 11+ persons cannot be solved: leave it
            and count(*) filter (where suppressed and persons >= 11)
                over (partition by breakdown, from_level, breakdown_value) = 0
            and not suppressed
            and row_number() over (
                partition by breakdown, from_level, breakdown_value, suppressed
                order by persons, to_level) = 1
        ) as suppressed
    )
    from pass_0
)

-- across programs or months for one from->to pair (they add up to the 'all' row)
, pass_2 as (
    select * replace (
        suppressed or (
            breakdown <> 'all'
            and count(*) filter (where suppressed) over (partition by breakdown, from_level, to_level) >= 1
            and count(*) filter (where suppressed and persons >= 11)
                over (partition by breakdown, from_level, to_level) = 0
            and not suppressed
            and row_number() over (
                partition by breakdown, from_level, to_level, suppressed
                order by persons, breakdown_value) = 1
        ) as suppressed
    )
    from pass_1
)

, pass_3 as (
    select * replace (
        suppressed or (
            count(*) filter (where suppressed) over (partition by breakdown, from_level, breakdown_value) >= 1
            -- a line already hiding a cell of 11+ persons cannot be solved: leave it
            and count(*) filter (where suppressed and persons >= 11)
                over (partition by breakdown, from_level, breakdown_value) = 0
            and not suppressed
            and row_number() over (
                partition by breakdown, from_level, breakdown_value, suppressed
                order by persons, to_level) = 1
        ) as suppressed
    )
    from pass_2
)

, suppression as (
    select * replace (
        suppressed or (
            breakdown <> 'all'
            and count(*) filter (where suppressed) over (partition by breakdown, from_level, to_level) >= 1
            and count(*) filter (where suppressed and persons >= 11)
                over (partition by breakdown, from_level, to_level) = 0
            and not suppressed
            and row_number() over (
                partition by breakdown, from_level, to_level, suppressed
                order by persons, breakdown_value) = 1
        ) as suppressed
    )
    from pass_3
)

, totals as (
    select
        *
        , sum(transitions) over (partition by breakdown, from_level, breakdown_value)::bigint
            as group_discharges
    from suppression
)

select
    breakdown
    , from_level
    , to_level
    , direction
    , program
    , discharge_month
    , suppressed
    , case when not suppressed then transitions end as transitions
    , case when not suppressed then group_discharges end as from_level_discharges
    , case when not suppressed then round(transitions / group_discharges, 4) end as transition_rate
    , case when not suppressed then median_days_to_next end as median_days_to_next
    , case when not suppressed then p75_days_to_next end as p75_days_to_next
from totals
