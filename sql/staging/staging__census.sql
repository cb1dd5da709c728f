-- Accepted census rows of every census layout (sql/macros/layouts.sql), in the canonical contract.
-- Grain: one row per accepted row of every snapshot (core.census keeps the latest per admission).
{{ config(materialized='view') }}
{{ union_accepted('census') }}
