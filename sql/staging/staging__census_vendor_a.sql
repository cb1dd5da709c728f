-- Vendor A census snapshots (admissions and discharges), typed.
-- Grain: one row per delivered row of every snapshot; `_rule` / `_detail` / `_raw_record` as in
-- the attendance models. A blank discharge date means the client is still admitted.
with codes as (
    select field, upper(source_value) as source_value, canonical_value
    from {{ value_set('source_code_map') }}
    where layout = 'census_vendor_a'
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
        , try_strptime(trim(r.admit_date), '%m/%d/%Y')::date as admit_date
        , nullif(trim(r.discharge_date), '') as discharge_date_text
        , try_strptime(discharge_date_text, '%m/%d/%Y')::date as discharge_date
        , nullif(trim(r.discharge_reason), '') as discharge_reason_text
        , reason.canonical_value as discharge_reason
    from {{ source('raw', 'census_vendor_a') }} as r
    left join codes as loc
        on loc.field = 'level_of_care' and loc.source_value = upper(trim(r.level_of_care))
    left join codes as reason
        on reason.field = 'discharge_reason' and reason.source_value = upper(trim(r.discharge_reason))
)

select
    * exclude (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when admit_date is null then 'invalid_date'
        when discharge_date_text is not null and discharge_date is null then 'invalid_date'
        when level_of_care is null then 'unknown_level_of_care'
        when discharge_date < admit_date then 'invalid_date_range'
    end as _rule
    , case _rule
        when 'missing_client_id' then 'MRN is blank'
        when 'invalid_date' then 'Admit Date ' || coalesce('"' || _raw.admit_date || '"', 'blank')
            || ' or Discharge Date ' || coalesce('"' || _raw.discharge_date || '"', 'blank') || ' is not MM/DD/YYYY'
        when 'unknown_level_of_care' then 'Level of Care ' || coalesce('"' || _raw.level_of_care || '"', 'is blank') || ' is not one of PHP, IOP, OP'
        when 'invalid_date_range' then 'Discharge Date ' || _raw.discharge_date || ' is before Admit Date ' || _raw.admit_date
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
