-- Accepted roster rows, in the canonical contract.
-- Grain: one row per accepted roster row (core.persons keeps the latest per client).
{{ config(materialized='view') }}
select 'roster_standard' as source_layout
    , client_id, first_name, last_name, member_id, payer, birth_date, sex, race, ethnicity, zip
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__roster_standard') }}
where _rule is null
