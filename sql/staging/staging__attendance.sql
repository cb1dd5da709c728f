-- Accepted attendance rows of every vendor layout, in the canonical contract.
-- Grain: one row per accepted delivered row (re-exports of a session are deduplicated in core).
{{ config(materialized='view') }}
select 'attendance_vendor_a' as source_layout
    , client_id, program, level_of_care, session_date, start_time, service_type, minutes
    , attendance_status, clinician_id
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__attendance_vendor_a') }}
where _rule is null

union all

select 'attendance_vendor_b' as source_layout
    , client_id, program, level_of_care, session_date, start_time, service_type, minutes
    , attendance_status, clinician_id
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__attendance_vendor_b') }}
where _rule is null
