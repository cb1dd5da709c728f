-- 835 remittance lines (from X12 files), typed: what the payer paid, denied or reversed.
-- Grain: one row per delivered SVC line (accepted and rejected); `_rule` / `_detail` /
-- `_raw_record` as in the attendance models. claim_status 22 is a reversal (amounts negative),
-- 4 a denial.
with typed as (
    select
        r as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , nullif(trim(r.claim_id), '') as claim_id
        , nullif(trim(r.claim_status), '') as claim_status
        , nullif(trim(r.payer_claim_control_number), '') as payer_claim_control_number
        , try_cast(trim(r.line_number) as integer) as line_number
        , nullif(trim(r.member_id), '') as member_id
        , nullif(trim(r.payer), '') as payer
        , upper(nullif(trim(r.procedure_code), '')) as procedure_code
        , nullif(trim(r.modifiers), '') as modifiers
        , lpad(nullif(trim(r.revenue_code), ''), 4, '0') as revenue_code
        , try_cast(trim(r.units) as decimal(12, 2)) as units
        , try_cast(trim(r.charge_amount) as decimal(14, 2)) as charge_amount
        , try_cast(trim(r.paid_amount) as decimal(14, 2)) as paid_amount
        , try_cast(trim(r.adjustment_amount) as decimal(14, 2)) as adjustment_amount
        , nullif(trim(r.adjustment_codes), '') as adjustment_codes
        , try_strptime(trim(r.service_date), '%Y-%m-%d')::date as service_date
        , nullif(trim(r.line_control_number), '') as line_control_number
        , try_strptime(nullif(trim(r.payment_date), ''), '%Y-%m-%d')::date as payment_date
    from {{ source('raw', 'remittance_835') }} as r
)

select
    * exclude (_raw)
    , case
        when claim_id is null or line_number is null then 'missing_claim_key'
        when service_date is null then 'invalid_date'
    end as _rule
    , case _rule
        when 'missing_claim_key' then 'CLP01 claim id or line number is missing'
        when 'invalid_date' then 'service date ' || coalesce('"' || _raw.service_date || '"', 'is missing') || ' is not a valid date'
    end as _detail
    , case when _rule is not null then to_json(_raw) end as _raw_record
from typed
