-- Vendor A attendance export, typed and mapped to canonical codes.
-- Grain: one row per delivered row (accepted and rejected). `_rule` names the first hard rule a
-- rejected row breaks (null = accepted); `_detail` says why; `_raw_record` keeps the row as
-- delivered for rejected rows only. Dates are MM/DD/YYYY, times HH:MM AM/PM.
with codes as (
    select field, upper(source_value) as source_value, canonical_value
    from {{ value_set('source_code_map') }}
    where layout = 'attendance_vendor_a'
)

, typed as (
    select
        r as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , nullif(trim(r.mrn), '') as client_id
        , nullif(trim(r.program), '') as program
        , loc.canonical_value as level_of_care
        , try_strptime(trim(r.session_date), '%m/%d/%Y')::date as session_date
        , try_strptime(trim(r.start_time), '%I:%M %p')::time as start_time
        , svc.canonical_value as service_type
        , case when regexp_full_match(trim(r.minutes), '-?[0-9]+') then try_cast(trim(r.minutes) as integer) end as minutes
        , status.canonical_value as attendance_status
        , nullif(trim(r.clinician_id), '') as clinician_id
    from {{ source('raw', 'attendance_vendor_a') }} as r
    left join codes as loc
        on loc.field = 'level_of_care' and loc.source_value = upper(trim(r.level_of_care))
    left join codes as svc
        on svc.field = 'service_type' and svc.source_value = upper(trim(r.service_type))
    left join codes as status
        on status.field = 'attendance' and status.source_value = upper(trim(r.attendance))
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
        when 'missing_client_id' then 'MRN is blank'
        when 'invalid_date' then 'Session Date ' || coalesce('"' || _raw.session_date || '"', 'is blank') || ' is not MM/DD/YYYY'
        when 'unknown_level_of_care' then 'Level of Care ' || coalesce('"' || _raw.level_of_care || '"', 'is blank') || ' is not one of PHP, IOP, OP'
        when 'unknown_status' then 'Attendance ' || coalesce('"' || _raw.attendance || '"', 'is blank') || ' is not a known status'
        when 'invalid_minutes' then 'Minutes ' || coalesce('"' || _raw.minutes || '"', 'is blank') || ' is not a whole number above 0'
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
