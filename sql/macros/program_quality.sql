-- program_quality_cells(): the two monthly KPI marts (marts.program_quality_monthly_overall and
-- marts.program_quality_monthly_by_program) computed together, as one relation in which program
-- 'All' marks a month x level's row over every program, built once as the table
-- intermediate.program_quality_cells. Each mart selects its rows from it: the programs of a month x
-- level add up to its overall row, so suppression is decided on the two at once and both get the
-- same cells suppressed.
--
-- The KPI time series quality teams watch: per calendar month, EHR program and level of care
-- (PHP, IOP, OP; program 'All' = every program of the level), the census, admissions,
-- discharges, scheduled sessions and no-show rate, median length of stay and completion rate of
-- the month's discharges, their 30-day step-down rate, the share of attended person-days that
-- are billed (marts.reconciliation_program_month) and the data-quality pass rate.
-- Episodes count only when the EHR knows them (attendance or census; claims-only episodes are
-- care elsewhere). no_show_rate = no-shows / all scheduled sessions (cancellations by either side
-- and excused absences stay in the denominator and are not no-shows). step_down_30d_rate counts
-- discharges whose next episode starts at a lower level within 30 days, over discharges at least
-- 30 days before the as-of date (the latest session date). data_quality_pass_rate: of the latest
-- recorded result of each staging/core Great Expectations check (audit.check_results), the share
-- passed among those passed or failed; the same value on every row. audit.check_results must
-- exist (DuckDB cannot skip a missing table): in a pipeline run the blocking staging checks
-- create it before this model runs.
-- Privacy: the small-cell rule of sql/macros/suppression.sql. Its lines here: the programs of a
-- month x level add up to its 'All' row, for the census and the persons (anyone scheduled,
-- admitted or discharged) of each row (either suppressed suppresses the row whole), and for each
-- episode count a row prints or a rate gives back (admissions, discharges, discharges with a
-- reason, completions, the step-down denominator and step-downs), each a count of its own.
-- Treatment intensity (IOP, PHP): the full episode-weeks starting in the month judged against
-- the ASAM minimum (core.episode_weeks) and the share that met it; the weeks judged and the weeks
-- meeting the minimum are counts of their own under the same rule and lines.
-- Grain: one row per month x program x level of care (program 'All' included), from the month
-- of a program's first activity at the level to the latest month with activity.
{% macro program_quality_cells() -%}
with as_of as (
    select max(session_date) as as_of_date from {{ ref('core__sessions') }}
)

, episodes as (
    select
        e.person_id
        , e.program
        , e.level_of_care
        , e.start_date
        , e.end_date
        , e.is_open
        , e.length_of_stay
        , e.discharge_reason
        , coalesce(t.days_to_next <= 30 and next_loc.rank::integer < t.from_rank, false)
            as stepped_down_30d
        , e.end_date + 30 <= a.as_of_date as window_30d_complete
    from {{ ref('core__episodes') }} as e
    cross join as_of as a
    join {{ ref('core__transitions') }} as t using (episode_id)
    left join {{ value_set('level_of_care') }} as next_loc on next_loc.level_of_care = t.next_level
    where e.source <> 'claims'
)

-- each row an event source: a person-month's sessions (summed in core.session_months), an
-- admission or a discharge
, events as (
    select
        month
        , program
        , level_of_care
        , person_id
        , 'session' as event
        , sessions_scheduled
        , sessions_attended
        , sessions_no_show
        , sessions_cancelled
        , null::bigint as length_of_stay
        , null::string as discharge_reason
        , null::boolean as stepped_down_30d
        , null::boolean as window_30d_complete
    from {{ ref('core__session_months') }}

    union all

    select
        date_trunc('month', start_date)::date
        , program
        , level_of_care
        , person_id
        , 'admission'
        , null
        , null
        , null
        , null
        , null
        , null
        , null
        , null
    from episodes

    union all

    select
        date_trunc('month', end_date)::date
        , program
        , level_of_care
        , person_id
        , 'discharge'
        , null
        , null
        , null
        , null
        , length_of_stay
        , discharge_reason
        , stepped_down_30d
        , window_30d_complete
    from episodes
    where not is_open
)

, aggregated as (
    select
        month
        , coalesce(program, 'All') as program
        , level_of_care
        , {{ count_distinct_persons('person_id') }} as persons
        , {{ count_distinct_persons('person_id') }} filter (where event = 'session' and sessions_attended > 0)
            as census
        , count(*) filter (where event = 'admission') as admissions
        , count(*) filter (where event = 'discharge') as discharges
        , coalesce(sum(sessions_scheduled), 0)::bigint as sessions_scheduled
        , coalesce(sum(sessions_attended), 0)::bigint as sessions_attended
        , coalesce(sum(sessions_no_show), 0)::bigint as sessions_no_show
        , coalesce(sum(sessions_cancelled), 0)::bigint as sessions_cancelled
        , {{ continuous_quantile('length_of_stay', 0.5, where="event = 'discharge'") }}
            as median_los
        , count(*) filter (where event = 'discharge' and discharge_reason is not null)
            as discharges_with_reason
        , count(*) filter (where event = 'discharge' and discharge_reason = 'completed')
            as completions
        , count(*) filter (where event = 'discharge' and window_30d_complete)
            as step_down_30d_denominator
        , count(*) filter (where event = 'discharge' and window_30d_complete and stepped_down_30d)
            as step_downs_30d
    from events
    group by grouping sets ((month, program, level_of_care), (month, level_of_care))
)

, first_months as (
    select program, level_of_care, min(month) as first_month
    from aggregated
    group by all
)

, last_month as (
    select max(month) as last_month from aggregated
)

, spine as (
    -- every month from a program's first activity at a level to the latest month with activity
    select
        f.program
        , f.level_of_care
        , {{ unnest_months('f.first_month', 'l.last_month', 'month') }}
    from first_months as f
    cross join last_month as l
)

, reconciliation as (
    select
        month
        , program
        , level_of_care
        , sum(attended_and_billed_days + attended_not_billed_days)::bigint as billable_attended_days
        , sum(attended_and_billed_days)::bigint as attended_and_billed_days
    from (
        -- its rows are month x program x level; a level's programs add up to program 'All'
        select
            month
            , program
            , level_of_care
            , attended_and_billed_days
            , attended_not_billed_days
        from {{ ref('marts__reconciliation_program_month') }}
        union all
        select
            month
            , 'All' as program
            , level_of_care
            , attended_and_billed_days
            , attended_not_billed_days
        from {{ ref('marts__reconciliation_program_month') }}
    )
    group by month, program, level_of_care
)

, latest_checks as (
    select table_name, check_name, max_by(status, checked_at) as status
    from {{ source('audit', 'check_results') }}
    where table_name like 'staging.%' or table_name like 'core.%'
    group by all
)

, data_quality as (
    select
        count(*) filter (where status in ('passed', 'failed')) as checks
        , count(*) filter (where status = 'passed') as passed
    from latest_checks
)

, cells as (
    select
        s.month
        , s.program
        , s.level_of_care
        , coalesce(a.persons, 0) as persons
        , coalesce(a.census, 0) as census
        , coalesce(a.admissions, 0) as admissions
        , coalesce(a.discharges, 0) as discharges
        , coalesce(a.sessions_scheduled, 0) as sessions_scheduled
        , coalesce(a.sessions_attended, 0) as sessions_attended
        , coalesce(a.sessions_no_show, 0) as sessions_no_show
        , coalesce(a.sessions_cancelled, 0) as sessions_cancelled
        , a.median_los
        , coalesce(a.discharges_with_reason, 0) as discharges_with_reason
        , coalesce(a.completions, 0) as completions
        , coalesce(a.step_down_30d_denominator, 0) as step_down_30d_denominator
        , coalesce(a.step_downs_30d, 0) as step_downs_30d
        , coalesce(r.billable_attended_days, 0) as billable_attended_days
        , coalesce(r.attended_and_billed_days, 0) as attended_and_billed_days
    from spine as s
    left join aggregated as a using (month, program, level_of_care)
    left join reconciliation as r using (month, program, level_of_care)
    {{ computed_once() }}
)

{%- set key = ['month', 'level_of_care', 'program'] %}
{%- set lines = [{
    'by': ['month', 'level_of_care'], 'where': "program <> 'All'", 'total': "program = 'All'"
}] %}

, row_suppression as (
    {{ suppress_rows('cells', key, ['census', 'persons'], lines) }}
)

, suppression as (
    {{ suppress_counts(
        'row_suppression', key
        , ['admissions', 'discharges', 'discharges_with_reason', 'completions'
            , 'step_down_30d_denominator', 'step_downs_30d']
        , lines, also_hide='suppressed'
    ) }}
)

{%- set intensity_counts = ['intensity_weeks_judged', 'intensity_weeks_meeting_minimum'] %}

, intensity as (
    select
        date_trunc('month', week_start)::date as month
        , coalesce(program, 'All') as program
        , level_of_care
        , count(*) filter (where meets_minimum is not null) as intensity_weeks_judged
        , count(*) filter (where meets_minimum) as intensity_weeks_meeting_minimum
    from {{ ref('core__episode_weeks') }}
    where full_week
    group by grouping sets ((month, program, level_of_care), (month, level_of_care))
)

, intensity_cells as (
    select
        s.*
        , coalesce(i.intensity_weeks_judged, 0) as intensity_weeks_judged
        , coalesce(i.intensity_weeks_meeting_minimum, 0) as intensity_weeks_meeting_minimum
    from suppression as s
    left join intensity as i using (month, program, level_of_care)
    {{ computed_once() }}
)

, intensity_suppression as (
    {{ suppress_counts('intensity_cells', key, intensity_counts, lines, also_hide='suppressed') }}
)

select
    s.month
    , s.program
    , s.level_of_care
    , {{ label('s.level_of_care', 'level_of_care', alias='level_of_care_label') }}
    , last_day(s.month) <= a.as_of_date as month_complete
    , last_day(s.month) + 30 <= a.as_of_date as step_down_window_complete
    , s.suppressed
    , case when not s.suppressed then s.census end as census
    , {{ published('admissions', 's.admissions', 's.admissions_suppressed') }}
    , {{ published('discharges', 's.discharges', 's.discharges_suppressed') }}
    , case when not s.suppressed then s.sessions_scheduled end as sessions_scheduled
    , case when not s.suppressed then s.sessions_attended end as sessions_attended
    , case when not s.suppressed then s.sessions_no_show end as sessions_no_show
    , case when not s.suppressed then s.sessions_cancelled end as sessions_cancelled
    , {{ published('no_show_rate'
        , round_double('s.sessions_no_show / nullif(s.sessions_scheduled, 0)', 4), 's.suppressed'
        , flag=false, not_applicable='s.sessions_scheduled = 0') }}
    , {{ published('median_los', 's.median_los', 's.discharges_suppressed'
        , not_applicable='s.median_los is null') }}
    , {{ published('discharges_with_reason', 's.discharges_with_reason'
        , 's.discharges_with_reason_suppressed') }}
    , {{ published('completion_rate'
        , round_double('s.completions / nullif(s.discharges_with_reason, 0)', 4)
        , 's.completions_suppressed or s.discharges_with_reason_suppressed'
        , not_applicable='s.discharges_with_reason = 0') }}
    , {{ published('step_down_30d_denominator', 's.step_down_30d_denominator'
        , 's.step_down_30d_denominator_suppressed') }}
    , {{ published('step_down_30d_rate'
        , round_double('s.step_downs_30d / nullif(s.step_down_30d_denominator, 0)', 4)
        , 's.step_downs_30d_suppressed or s.step_down_30d_denominator_suppressed'
        , not_applicable='s.step_down_30d_denominator = 0') }}
    , case when not s.suppressed then s.billable_attended_days end as billable_attended_days
    , {{ published('claims_reconciliation_rate'
        , round_double('s.attended_and_billed_days / nullif(s.billable_attended_days, 0)', 4)
        , 's.suppressed', flag=false, not_applicable='s.billable_attended_days = 0') }}
    , q.checks as data_quality_checks
    , {{ round_double('q.passed / nullif(q.checks, 0)', 4) }} as data_quality_pass_rate
    , case when not s.intensity_weeks_judged_suppressed then s.intensity_weeks_judged end
        as intensity_weeks_judged
    , case when not (s.intensity_weeks_meeting_minimum_suppressed
        or s.intensity_weeks_judged_suppressed)
        then {{ round_double(
            's.intensity_weeks_meeting_minimum / nullif(s.intensity_weeks_judged, 0)', 4) }}
    end as intensity_share_meeting_minimum
from intensity_suppression as s
cross join as_of as a
cross join data_quality as q
{%- endmacro %}
