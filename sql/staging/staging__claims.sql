-- Accepted claim lines of every claims layout, in the canonical contract.
-- Grain: one row per accepted delivered line, every version of every claim.
{{ config(materialized='view') }}
select 'claims_csv' as source_layout
    , claim_id, original_claim_id, claim_frequency_code, line_number, claim_type, member_id
    , payer, service_from_date, service_to_date, place_of_service, bill_type, revenue_code
    , procedure_code, modifiers, units, charge_amount, allowed_amount, paid_amount
    , diagnosis_codes, rendering_npi, billing_npi, received_date, adjudicated_date
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__claims_csv') }}
where _rule is null
