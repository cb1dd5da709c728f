-- Accepted roster rows of every roster layout (sql/macros/layouts.sql), in the canonical contract.
-- Grain: one row per accepted roster row (core.persons keeps the latest per client).
{{ config(materialized='view') }}
{{ union_accepted('roster') }}
