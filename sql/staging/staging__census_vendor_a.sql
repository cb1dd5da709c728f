-- Vendor A census snapshots (admissions and discharges), typed: MM/DD/YYYY dates, a blank
-- discharge date while the client is still admitted (layout in sql/macros/layouts.sql).
-- Grain: one row per delivered row of every snapshot (accepted and rejected).
{{ stage_census('census_vendor_a') }}
