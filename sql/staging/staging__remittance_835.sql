-- 835 remittance lines (from X12 files), typed: what the payer paid, denied or reversed.
-- Grain: one row per delivered SVC line (accepted and rejected).
{{ stage_remittance('remittance_835') }}
