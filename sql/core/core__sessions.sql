-- Scheduled sessions from every EHR, deduplicated: when a re-export repeats a session (same
-- client, program, level, date, start time and service), the most recently landed row wins.
-- Grain: one row per scheduled session.
-- Refreshed by merge (sql/macros/incremental.sql, latest_landed_config): the rows of the files a
-- run adds replace the sessions they beat; the clients of a dropped file are computed again.
{%- set session_key = ['source_layout', 'client_id', 'program', 'level_of_care', 'session_date'
    , 'start_time', 'service_type'] %}
{%- do latest_landed_config('staging__attendance', 'client', session_key) %}
{%- if not in_unit_test() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
{%- endif %}
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
    , _landed_at as landed_at
    , _row_number as source_row
from {{ latest_landed_candidates('staging__attendance', 'client') }} as winner
where {{ latest_landed_not_held(session_key) }}
qualify row_number() over (
    partition by {{ session_key | join(', ') }}
    order by _landed_at desc, _source_file desc, _row_number desc
) = 1
