-- Claim lines from the payers' CSV extracts, typed.
-- Grain: one row per delivered line (accepted and rejected), every version of every claim
-- (originals, replacements, voids, duplicates); core.claim_lines resolves them.
-- `_rule` / `_detail` / `_raw_record` as in the attendance models.
with typed as (
    select
        r as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , nullif(trim(r.claim_id), '') as claim_id
        , nullif(trim(r.original_claim_id), '') as original_claim_id
        , trim(r.claim_frequency_code) as claim_frequency_code
        , case when regexp_full_match(trim(r.line_number), '-?[0-9]+') then try_cast(trim(r.line_number) as integer) end as line_number
        , lower(nullif(trim(r.claim_type), '')) as claim_type
        , nullif(trim(r.member_id), '') as member_id
        , nullif(trim(r.payer), '') as payer
        , try_strptime(trim(r.service_from_date), '%Y-%m-%d')::date as service_from_date
        , coalesce(
            try_strptime(nullif(trim(r.service_to_date), ''), '%Y-%m-%d')
            , try_strptime(trim(r.service_from_date), '%Y-%m-%d')
        )::date as service_to_date
        , nullif(trim(r.place_of_service), '') as place_of_service
        , nullif(trim(r.bill_type), '') as bill_type
        , lpad(nullif(trim(r.revenue_code), ''), 4, '0') as revenue_code
        , upper(nullif(trim(r.procedure_code), '')) as procedure_code
        , nullif(trim(r.modifiers), '') as modifiers
        , try_cast(trim(r.units) as decimal(12, 2)) as units
        , try_cast(trim(r.charge_amount) as decimal(14, 2)) as charge_amount
        , try_cast(trim(r.allowed_amount) as decimal(14, 2)) as allowed_amount
        , try_cast(trim(r.paid_amount) as decimal(14, 2)) as paid_amount
        , nullif(trim(r.diagnosis_codes), '') as diagnosis_codes
        , nullif(trim(r.rendering_npi), '') as rendering_npi
        , nullif(trim(r.billing_npi), '') as billing_npi
        , try_strptime(trim(r.received_date), '%Y-%m-%d')::date as received_date
        , try_strptime(nullif(trim(r.adjudicated_date), ''), '%Y-%m-%d')::date as adjudicated_date
    from {{ source('raw', 'claims_csv') }} as r
)

select
    * exclude (_raw)
    , case
        when member_id is null then 'missing_member_id'
        when service_from_date is null
            or (nullif(trim(_raw.service_to_date), '') is not null
                and try_strptime(trim(_raw.service_to_date), '%Y-%m-%d') is null)
            or received_date is null then 'invalid_date'
        when claim_frequency_code is null or claim_frequency_code not in ('1', '7', '8')
            then 'invalid_frequency_code'
        when claim_id is null or line_number is null then 'missing_claim_key'
        when service_to_date < service_from_date then 'invalid_date_range'
    end as _rule
    , case _rule
        when 'missing_member_id' then 'member_id is blank'
        when 'invalid_date' then 'service_from_date "' || coalesce(_raw.service_from_date, '') || '", service_to_date "'
            || coalesce(_raw.service_to_date, '') || '" or received_date "' || coalesce(_raw.received_date, '') || '" is not YYYY-MM-DD'
        when 'invalid_frequency_code' then 'claim_frequency_code ' || coalesce('"' || _raw.claim_frequency_code || '"', 'is blank') || ' is not 1, 7 or 8'
        when 'missing_claim_key' then 'claim_id or line_number is blank or not a number'
        when 'invalid_date_range' then 'service_to_date ' || _raw.service_to_date || ' is before service_from_date ' || _raw.service_from_date
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
