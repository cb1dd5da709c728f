-- Vendor A attendance export (daily files), typed and mapped to canonical codes: MM/DD/YYYY
-- dates, HH:MM AM/PM times (layout in sql/macros/layouts.sql, rules in sql/macros/staging.sql).
-- Grain: one row per delivered row (accepted and rejected; `_rule` null = accepted).
{{ stage_attendance('attendance_vendor_a') }}
