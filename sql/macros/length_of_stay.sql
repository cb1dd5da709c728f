-- length_of_stay_breakdowns(): the five length-of-stay marts (marts.length_of_stay_by_level,
-- _by_program, _by_discharge_month, _by_discharge_reason, _by_payer) computed together, as one
-- relation with a `breakdown` column naming each row's grouping, built once as the table
-- intermediate.length_of_stay_breakdowns. Each mart selects its own breakdown from it: the
-- small-cell rule's lines cross the five (each breakdown of a level adds up to the level's row), so
-- suppression is decided on all of them at once and every mart gets the same cells suppressed.
--
-- Length of stay of completed (discharged) episodes: n, median, p25, p75, p90 and mean days,
-- sessions attended, attendance rate and completion / dropout / transfer rates, by level of care
-- and by program, discharge month, discharge reason and payer. Open episodes are counted in
-- `open_episodes` and kept out of every stay statistic. Rates use episodes with a recorded
-- discharge reason as denominator.
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: the rows of each
-- breakdown of a level add up to the level's row, and the discharge-reason rows other than
-- not_recorded to its episodes_with_reason, for persons (a row with its persons suppressed is
-- suppressed whole); and the rows of each breakdown but discharge_reason (whose counts are its
-- episodes or 0) add up to the level's row for episodes_with_reason and each rate's numerator
-- (rate x episodes_with_reason gives it back), each a count of its own. A level's completions
-- (dropouts, transfers) are the episodes of its 'completed' ('dropped_out', 'transferred') row,
-- so when that row is suppressed the numerator is suppressed in every row of the level.
-- Open-episode counts of 1-10 are suppressed as well.
{% macro length_of_stay_breakdowns() -%}
with closed as (
    select
        level_of_care
        , program
        , discharge_month
        , coalesce(discharge_reason, 'not_recorded') as discharge_reason
        , payer
        , person_key
        , length_of_stay
        , sessions_attended
        , sessions_scheduled
        , discharge_reason is not null as reason_known
    from {{ ref('marts__episodes') }}
    where not is_open
)

, open_counts as (
    select level_of_care, count(*) as open_episodes
    from {{ ref('marts__episodes') }}
    where is_open
    group by level_of_care
)

, aggregated as (
    select
        case
            when grouping(program) = 0 then 'program'
            when grouping(discharge_month) = 0 then 'discharge_month'
            when grouping(discharge_reason) = 0 then 'discharge_reason'
            when grouping(payer) = 0 then 'payer'
            else 'level_of_care'
        end as breakdown
        , level_of_care
        , coalesce(program, 'All') as program
        , discharge_month
        , coalesce(discharge_reason, 'All') as discharge_reason
        , coalesce(payer, 'All') as payer
        , {{ count_distinct_persons('person_key') }} as persons
        , count(*) as episodes
        , percentile_cont(0.5) within group (order by length_of_stay) as median_los
        , percentile_cont(0.25) within group (order by length_of_stay) as p25_los
        , percentile_cont(0.75) within group (order by length_of_stay) as p75_los
        , percentile_cont(0.9) within group (order by length_of_stay) as p90_los
        , round(avg(length_of_stay), 2) as mean_los
        , round(avg(sessions_attended), 2) as mean_sessions_attended
        , round(sum(sessions_attended) / nullif(sum(sessions_scheduled), 0), 4) as attendance_rate
        , count(*) filter (where reason_known) as episodes_with_reason
        , count(*) filter (where discharge_reason = 'completed') as completed_n
        , count(*) filter (where discharge_reason = 'dropped_out') as dropped_out_n
        , count(*) filter (where discharge_reason = 'transferred') as transferred_n
        , round(count(*) filter (where discharge_reason = 'completed')
            / nullif(episodes_with_reason, 0), 4) as completion_rate
        , round(count(*) filter (where discharge_reason = 'dropped_out')
            / nullif(episodes_with_reason, 0), 4) as dropout_rate
        , round(count(*) filter (where discharge_reason = 'transferred')
            / nullif(episodes_with_reason, 0), 4) as transfer_rate
    from closed
    group by grouping sets (
        (level_of_care)
        , (level_of_care, program)
        , (level_of_care, discharge_month)
        , (level_of_care, discharge_reason)
        , (level_of_care, payer)
    )
)

, cells as (
    select
        *
        , case breakdown
            when 'program' then program
            when 'discharge_month' then discharge_month::string
            when 'discharge_reason' then discharge_reason
            when 'payer' then payer
            else 'All'
        end as breakdown_value
    from aggregated
)

-- persons: each breakdown adds up to the level's row; the discharge-reason rows but not_recorded
-- add up to its episodes_with_reason, a count of the step after (so no total row here)
{%- set key = ['breakdown', 'level_of_care', 'breakdown_value'] %}
{%- set lines = [
    {'by': ['breakdown', 'level_of_care'], 'where': "breakdown <> 'level_of_care'",
     'total_by': ['level_of_care'], 'total': "breakdown = 'level_of_care'"},
    {'by': ['breakdown', 'level_of_care'],
     'where': "breakdown = 'discharge_reason' and breakdown_value <> 'not_recorded'"},
] %}

, row_suppression as (
    {{ suppress_rows('cells', key, ['persons'], lines) }}
)

, reason_rows as (
    -- whether the row of each counted reason is suppressed, for every row of its level
    select
        level_of_care
        , coalesce(bool_or(suppressed) filter (where discharge_reason = 'completed'), false)
            as completed_row_suppressed
        , coalesce(bool_or(suppressed) filter (where discharge_reason = 'dropped_out'), false)
            as dropped_out_row_suppressed
        , coalesce(bool_or(suppressed) filter (where discharge_reason = 'transferred'), false)
            as transferred_row_suppressed
    from row_suppression
    where breakdown = 'discharge_reason'
    group by level_of_care
)

, with_reason_rows as (
    select
        r.*
        , o.completed_row_suppressed
        , o.dropped_out_row_suppressed
        , o.transferred_row_suppressed
    from row_suppression as r
    left join reason_rows as o using (level_of_care)
)

-- episodes_with_reason and the numerators: each breakdown but discharge_reason adds up to the
-- level's row (a discharge-reason row's counts are its episodes or 0: they follow its row)
, suppression as (
    {{ suppress_counts(
        'with_reason_rows', key
        , ['episodes_with_reason', 'completed_n', 'dropped_out_n', 'transferred_n']
        , lines=[{'by': ['breakdown', 'level_of_care'],
                  'where': "breakdown not in ('level_of_care', 'discharge_reason')",
                  'total_by': ['level_of_care'], 'total': "breakdown = 'level_of_care'"}]
        , also_hide={
            'episodes_with_reason': 'suppressed',
            'completed_n': 'suppressed or completed_row_suppressed',
            'dropped_out_n': 'suppressed or dropped_out_row_suppressed',
            'transferred_n': 'suppressed or transferred_row_suppressed',
        }
    ) }}
)

select
    a.breakdown
    , a.level_of_care
    , a.program
    , a.discharge_month
    , a.discharge_reason
    , a.payer
    , a.suppressed
    , {{ published('persons', 'a.persons', 'a.suppressed', flag=false) }}
    , {{ published('episodes', 'a.episodes', 'a.suppressed', flag=false) }}
    , {{ published('open_episodes', 'coalesce(o.open_episodes, 0)'
        , small('coalesce(o.open_episodes, 0)')) }}
    , {{ published('median_los', 'a.median_los', 'a.suppressed', flag=false) }}
    , {{ published('p25_los', 'a.p25_los', 'a.suppressed', flag=false) }}
    , {{ published('p75_los', 'a.p75_los', 'a.suppressed', flag=false) }}
    , {{ published('p90_los', 'a.p90_los', 'a.suppressed', flag=false) }}
    , {{ published('mean_los', 'a.mean_los', 'a.suppressed', flag=false) }}
    , {{ published('mean_sessions_attended', 'a.mean_sessions_attended', 'a.suppressed'
        , flag=false) }}
    , {{ published('attendance_rate', 'a.attendance_rate', 'a.suppressed', flag=false
        , not_applicable='a.attendance_rate is null') }}
    , {{ published('episodes_with_reason', 'a.episodes_with_reason'
        , 'a.episodes_with_reason_suppressed') }}
    , {{ published('completion_rate', 'a.completion_rate'
        , 'a.completed_n_suppressed or a.episodes_with_reason_suppressed'
        , not_applicable='a.episodes_with_reason = 0') }}
    , {{ published('dropout_rate', 'a.dropout_rate'
        , 'a.dropped_out_n_suppressed or a.episodes_with_reason_suppressed'
        , not_applicable='a.episodes_with_reason = 0') }}
    , {{ published('transfer_rate', 'a.transfer_rate'
        , 'a.transferred_n_suppressed or a.episodes_with_reason_suppressed'
        , not_applicable='a.episodes_with_reason = 0') }}
from suppression as a
left join open_counts as o using (level_of_care)
{%- endmacro %}
