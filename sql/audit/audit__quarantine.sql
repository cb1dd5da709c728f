-- Every delivered row that broke a hard rule, with the rule, a readable detail and the row as
-- delivered. Nothing is dropped silently: rows read = accepted + quarantined, per file.
-- Grain: one row per rejected row.
select 'attendance' as feed, 'attendance_vendor_a' as layout
    , _source_file as source_file, _file_sha256 as file_sha256, _row_number as row_number
    , _rule as rule, _detail as detail, _raw_record as raw_record
from {{ ref('staging__attendance_vendor_a') }}
where _rule is not null

union all

select 'attendance', 'attendance_vendor_b', _source_file, _file_sha256, _row_number
    , _rule, _detail, _raw_record
from {{ ref('staging__attendance_vendor_b') }}
where _rule is not null

union all

select 'census', 'census_vendor_a', _source_file, _file_sha256, _row_number
    , _rule, _detail, _raw_record
from {{ ref('staging__census_vendor_a') }}
where _rule is not null

union all

select 'roster', 'roster_standard', _source_file, _file_sha256, _row_number
    , _rule, _detail, _raw_record
from {{ ref('staging__roster_standard') }}
where _rule is not null

union all

select 'claims', 'claims_csv', _source_file, _file_sha256, _row_number
    , _rule, _detail, _raw_record
from {{ ref('staging__claims_csv') }}
where _rule is not null

union all

select 'claims', 'remittance_835', _source_file, _file_sha256, _row_number
    , _rule, _detail, _raw_record
from {{ ref('staging__remittance_835') }}
where _rule is not null
