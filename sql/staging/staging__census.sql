-- Accepted census rows of every vendor that sends one, in the canonical contract.
-- Grain: one row per accepted row of every snapshot (core.census keeps the latest per admission).
{{ config(materialized='view') }}
select 'census_vendor_a' as source_layout
    , client_id, program, level_of_care, admit_date, discharge_date, discharge_reason
    , discharge_reason_text
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__census_vendor_a') }}
where _rule is null
