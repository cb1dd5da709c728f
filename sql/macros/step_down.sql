-- step_down_breakdowns(): the three step-down marts (marts.step_down_transitions_overall,
-- _by_program, _by_discharge_month) computed together, as one relation with a `breakdown` column
-- ('all', 'program', 'discharge_month') naming each row's grouping, built once as the table
-- intermediate.step_down_breakdowns from the unsuppressed counts of step_down_cells()
-- (intermediate.step_down_cells). Each mart selects its own breakdown from it: the small-cell
-- rule's lines cross the three (a from->to pair's program rows, and its month rows, add up to its
-- overall row), so suppression is decided on all of them at once and every mart gets the same cells
-- suppressed.
--
-- Where clients go after an episode ends: from-level x to-level counts, the share of the
-- from-level's discharges, and days to the next level (median, p75), overall and by program and
-- discharge month. to_level 'NONE' = no episode started within the transition window.
-- Only discharged episodes whose whole window has been observed (end + window <= as-of date)
-- count, so recent discharges do not read as "no follow-up" too early.
-- Privacy: the small-cell rule of sql/macros/suppression.sql, on persons (a row with its
-- persons suppressed is suppressed whole: transitions, the rate's numerator, with it). Each
-- from-level is a table with margins, by program and by month: a group's to-level rows add up
-- to its from_level_discharges, one from->to pair's rows across programs (months) add up to its
-- overall row, and the groups' from_level_discharges add up to the 'all' group's. The group total
-- is a count too ('*' rows below, not published as rows): printed beside the group's rows, it is
-- suppressed once they all are, and when it is suppressed so are from_level_discharges and
-- transition_rate (transitions / rate would give it back) on every row of the group.
{% macro step_down_cells() -%}
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
        -- '*': the group total, over every to-level
        , case when grouping(to_level) = 0 then to_level else '*' end as to_level
        , any_value(direction) as direction
        , coalesce(program, 'All') as program
        , discharge_month
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as transitions
        , percentile_cont(0.5) within group (order by days_to_next_level)
            as median_days_to_next
        , percentile_cont(0.75) within group (order by days_to_next_level)
            as p75_days_to_next
    from discharges
    group by grouping sets (
        (from_level, to_level)
        , (from_level, to_level, program)
        , (from_level, to_level, discharge_month)
        , (from_level)
        , (from_level, program)
        , (from_level, discharge_month)
    )
)

select
    *
    , case breakdown
        when 'program' then program
        when 'discharge_month' then discharge_month::string
        else 'All'
    end as breakdown_value
from counted
{%- endmacro %}


-- The suppression of the cells (intermediate.step_down_cells, a table: the planner then knows how
-- few they are; over the grouping sets' estimate of millions of rows, the recursive suppression's
-- window operators took 0.8 s at size L for a few thousand cells), and the published values.
{% macro step_down_breakdowns() -%}
with cells as (
{%- if in_unit_test() %}
    {#- a unit test gives the episodes: the cells are computed from them #}
    select * from ({{ step_down_cells() }}) as c
{%- else %}
    select * from {{ ref('intermediate__step_down_cells') }}
{%- endif %}
)

, suppression as (
    {{ suppress_rows(
        'cells', ['breakdown', 'from_level', 'breakdown_value', 'to_level'], ['persons']
        , lines=[
            {'by': ['breakdown', 'from_level', 'breakdown_value'], 'where': "to_level <> '*'",
             'total': "to_level = '*'", 'total_follows': true},
            {'by': ['breakdown', 'from_level', 'to_level'], 'where': "breakdown <> 'all'",
             'total_by': ['from_level', 'to_level'], 'total': "breakdown = 'all'"},
        ]
    ) }}
)

, group_totals as (
    select
        breakdown
        , from_level
        , breakdown_value
        , transitions as group_discharges
        , suppressed as group_total_suppressed
    from suppression
    where to_level = '*'
)

select
    s.breakdown
    , s.from_level
    , s.to_level
    , s.direction
    , s.program
    , s.discharge_month
    , s.suppressed
    , case when not s.suppressed then s.transitions end as transitions
    , {{ published('from_level_discharges', 'g.group_discharges'
        , 's.suppressed or g.group_total_suppressed') }}
    , {{ published('transition_rate', 'round(s.transitions / g.group_discharges, 4)'
        , 's.suppressed or g.group_total_suppressed') }}
    , {{ published('median_days_to_next', 's.median_days_to_next', 's.suppressed', flag=false
        , not_applicable="s.to_level = 'NONE'") }}
    , {{ published('p75_days_to_next', 's.p75_days_to_next', 's.suppressed', flag=false
        , not_applicable="s.to_level = 'NONE'") }}
from suppression as s
join group_totals as g using (breakdown, from_level, breakdown_value)
where s.to_level <> '*'
{%- endmacro %}
