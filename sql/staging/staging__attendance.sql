-- Accepted attendance rows of every attendance layout (sql/macros/layouts.sql), in the canonical
-- contract. Grain: one row per accepted delivered row (re-exports of a session are deduplicated
-- in core).
{{ config(materialized='view') }}
{{ union_accepted('attendance') }}
