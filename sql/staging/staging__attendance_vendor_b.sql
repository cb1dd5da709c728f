-- Vendor B attendance export (weekly files), typed and mapped to canonical codes: ISO dates,
-- 24-hour times, ASAM levels (layout in sql/macros/layouts.sql, rules in sql/macros/staging.sql).
-- Grain: one row per delivered row (accepted and rejected; `_rule` null = accepted).
{{ stage_attendance('attendance_vendor_b') }}
