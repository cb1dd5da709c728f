-- The KPI time series quality teams watch: per calendar month and level of care (PHP, IOP, OP),
-- each EHR program of the level: the census, admissions, discharges, scheduled sessions and no-show
-- rate, median length of stay and completion rate of the month's discharges, their 30-day step-down
-- rate, the share of attended person-days that are billed and the data-quality pass rate, and
-- treatment intensity. The two program_quality_monthly_* marts are computed together, once, in
-- intermediate.program_quality_cells (program_quality_cells(), sql/macros/program_quality.sql),
-- which applies the small-cell rule of sql/macros/suppression.sql on the two at once; this mart
-- selects its rows from it.
-- Grain: one row per calendar month x level of care x EHR program, from the program's first
-- month of activity at the level to the latest month with activity.
select
    month
    , program
    , level_of_care
    , level_of_care_label
    , month_complete
    , step_down_window_complete
    , suppressed
    , census
    , admissions
    , admissions_suppressed
    , discharges
    , discharges_suppressed
    , sessions_scheduled
    , sessions_attended
    , sessions_no_show
    , sessions_cancelled
    , no_show_rate
    , no_show_rate_not_applicable
    , median_los
    , median_los_suppressed
    , median_los_not_applicable
    , discharges_with_reason
    , discharges_with_reason_suppressed
    , completion_rate
    , completion_rate_suppressed
    , completion_rate_not_applicable
    , step_down_30d_denominator
    , step_down_30d_denominator_suppressed
    , step_down_30d_rate
    , step_down_30d_rate_suppressed
    , step_down_30d_rate_not_applicable
    , billable_attended_days
    , claims_reconciliation_rate
    , claims_reconciliation_rate_not_applicable
    , data_quality_checks
    , data_quality_pass_rate
    , intensity_weeks_judged
    , intensity_share_meeting_minimum
from {{ ref('intermediate__program_quality_cells') }}
where program <> 'All'
