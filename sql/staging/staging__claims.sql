-- Accepted claim lines of every claim-line layout (sql/macros/layouts.sql; 835 remittances are
-- staging.remittance_835), in the canonical contract.
-- Grain: one row per accepted delivered line, every version of every claim.
{{ config(materialized='view') }}
{{ union_accepted('claims') }}
