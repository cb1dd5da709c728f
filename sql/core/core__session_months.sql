-- Scheduled sessions per person, month, program and level of care, by outcome: the sessions
-- marts.program_quality_monthly_* count (census, scheduled sessions, no-shows, cancellations),
-- summed once per person-month instead of read session by session in every build of the marts.
-- Grain: one row per person x calendar month x program x level of care with a scheduled session.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
select
    person_id
    , date_trunc('month', session_date)::date as month
    , program
    , level_of_care
    , count(*)::bigint as sessions_scheduled
    , count(*) filter (where attended)::bigint as sessions_attended
    , count(*) filter (where attendance_status = 'no_show')::bigint as sessions_no_show
    , count(*) filter (
        where attendance_status in ('cancelled_client', 'cancelled_program')
    )::bigint as sessions_cancelled
from {{ rows_of_changed_persons('core__sessions') }}
where {{ in_changed_persons() }}
group by all
