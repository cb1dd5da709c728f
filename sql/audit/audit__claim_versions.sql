-- Every claim version and how it was linked to its chain: the ledger behind core.claim_lines's
-- version resolution (sql/macros/claim_versions.sql; the rule: docs/x12.md, "Claim versions").
-- A replacement or void that could not be linked to its original is kept and flagged
-- version_flag = 'unresolved_version' with the reason; the core.claim_lines suite counts them
-- (a warning in audit.check_results).
-- Grain: one row per claim version (claim id, received date, frequency code).
-- Built in the core step and refreshed by change scope (sql/macros/incremental.sql): the versions
-- of the claim ids in core.change_scope (every claim chain the changed files touch) are resolved
-- again.
{%- do scoped_incremental_config(scope_rows('claim_id', 'claim')) %}
{%- set claims -%}
    (select * from {{ ref('staging__claims') }} where {{ in_change_scope('claim_id', 'claim') }})
{%- endset %}
{{ claim_versions(claims, ref('staging__remittance_835')) }}
