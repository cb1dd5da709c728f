-- Scheduled sessions from every EHR, deduplicated: when a re-export repeats a session (same
-- client, program, level, date, start time and service), the most recently landed row wins.
-- Grain: one row per scheduled session.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of the attendance clients
-- (kind client) in core.change_scope are deleted and computed again.
{%- do scoped_incremental_config(scope_rows('client_id', 'client')) %}
select
    'client:' || client_id as person_id
    , source_layout
    , client_id
    , program
    , level_of_care
    , session_date
    , start_time
    , service_type
    , minutes
    , attendance_status
    , attendance_status = 'attended' as attended
    , clinician_id
    , _source_file as source_file
from {{ ref('staging__attendance') }}
where {{ in_change_scope('client_id', 'client') }}
qualify row_number() over (
    partition by source_layout, client_id, program, level_of_care, session_date, start_time, service_type
    order by _landed_at desc, _source_file desc, _row_number desc
) = 1
