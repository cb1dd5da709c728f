-- Every claim version and how it was linked to its chain: the ledger behind core.claim_lines's
-- version resolution (sql/macros/claim_versions.sql; the rule: docs/x12.md, "Claim versions").
-- A replacement or void that could not be linked to its original is kept and flagged
-- version_flag = 'unresolved_version' with the reason; the core.claim_lines suite counts them
-- (a warning in audit.check_results).
-- Grain: one row per claim version (claim id, received date, frequency code).
{{ claim_versions(ref('staging__claims'), ref('staging__remittance_835')) }}
