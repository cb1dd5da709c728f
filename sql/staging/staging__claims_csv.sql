-- Claim lines from the payers' CSV extracts (and X12 837 files, converted at ingest), typed.
-- Grain: one row per delivered line (accepted and rejected), every version of every claim
-- (originals, replacements, voids, duplicates); core.claim_lines resolves them.
{{ stage_claims('claims_csv') }}
