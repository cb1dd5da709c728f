-- Vendor B attendance export, typed and mapped to canonical codes.
-- Grain: one row per delivered row (accepted and rejected); `_rule` / `_detail` / `_raw_record`
-- as in attendance_vendor_a. Dates are ISO, times 24-hour, levels are ASAM numbers.
with codes as (
    select field, upper(source_value) as source_value, canonical_value
    from {{ value_set('source_code_map') }}
    where layout = 'attendance_vendor_b'
)

, typed as (
    select
        r as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , nullif(trim(r.client_id), '') as client_id
        , nullif(trim(r.program_code), '') as program
        , loc.canonical_value as level_of_care
        , try_strptime(trim(r.service_date), '%Y-%m-%d')::date as session_date
        , try_strptime(trim(r.start_time), '%H:%M')::time as start_time
        , svc.canonical_value as service_type
        , case when regexp_full_match(trim(r.duration_min), '-?[0-9]+') then try_cast(trim(r.duration_min) as integer) end as minutes
        , status.canonical_value as attendance_status
        , nullif(trim(r.staff_id), '') as clinician_id
    from {{ source('raw', 'attendance_vendor_b') }} as r
    left join codes as loc
        on loc.field = 'asam_level' and loc.source_value = upper(trim(r.asam_level))
    left join codes as svc
        on svc.field = 'service_code' and svc.source_value = upper(trim(r.service_code))
    left join codes as status
        on status.field = 'attendance_code' and status.source_value = upper(trim(r.attendance_code))
)

select
    * exclude (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when session_date is null then 'invalid_date'
        when level_of_care is null then 'unknown_level_of_care'
        when attendance_status is null then 'unknown_status'
        when minutes is null or minutes <= 0 then 'invalid_minutes'
    end as _rule
    , case _rule
        when 'missing_client_id' then 'client_id is blank'
        when 'invalid_date' then 'service_date ' || coalesce('"' || _raw.service_date || '"', 'is blank') || ' is not YYYY-MM-DD'
        when 'unknown_level_of_care' then 'asam_level ' || coalesce('"' || _raw.asam_level || '"', 'is blank') || ' is not one of 2.5, 2.1, 1'
        when 'unknown_status' then 'attendance_code ' || coalesce('"' || _raw.attendance_code || '"', 'is blank') || ' is not one of A, NS, CC, CP, EX'
        when 'invalid_minutes' then 'duration_min ' || coalesce('"' || _raw.duration_min || '"', 'is blank') || ' is not a whole number above 0'
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
