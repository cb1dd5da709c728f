-- EHR client roster (the crosswalk from EHR client id to payer member id), typed.
-- Grain: one row per delivered row; `_rule` / `_detail` / `_raw_record` as in the attendance
-- models. Names, birth date and ZIP are identifying and never leave core.persons.
with typed as (
    select
        r as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , nullif(trim(r.client_id), '') as client_id
        , nullif(trim(r.first_name), '') as first_name
        , nullif(trim(r.last_name), '') as last_name
        , nullif(trim(r.member_id), '') as member_id
        , nullif(trim(r.payer), '') as payer
        , try_strptime(trim(r.birth_date), '%Y-%m-%d')::date as birth_date
        , coalesce(nullif(upper(trim(r.sex)), ''), 'U') as sex
        , nullif(trim(r.race), '') as race
        , nullif(trim(r.ethnicity), '') as ethnicity
        , nullif(trim(r.zip), '') as zip
    from {{ source('raw', 'roster_standard') }} as r
)

select
    * exclude (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when birth_date is null then 'invalid_date'
    end as _rule
    , case _rule
        when 'missing_client_id' then 'client_id is blank'
        when 'invalid_date' then 'birth_date is not YYYY-MM-DD'
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
