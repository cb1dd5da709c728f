-- Data-quality check history for BI: every recorded result of the Great Expectations suites
-- (audit.check_results), de-identified: which table and check (columns named so that no name
-- reads as a person's: checked_table, expectation), its tier, severity and status,
-- and how many rows it looked at and found unexpected. The observed value and the failing sample
-- rows of a failed check are left out: they can hold the data the check refused (ids, dates).
-- Grain: one row per expectation per check run.
select
    run_id
    , checked_at
    , table_name as checked_table
    , check_name as expectation
    , expectation_type
    , tier
    , {{ label('tier', 'check_tier') }}
    , severity
    , {{ label('severity', 'check_severity') }}
    , status
    , {{ label('status', 'check_status') }}
    , element_count
    , unexpected_count
    , unexpected_percent
    , threshold_percent
from {{ source('audit', 'check_results') }}
