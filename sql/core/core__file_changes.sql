-- The landed files this run's core refresh must apply: ingested files the core layer has not
-- applied yet ('added') and files it applied that are no longer ingested ('dropped': superseded by a
-- corrected re-export, removed from landing, or excluded). Compared with core.applied_files as the
-- previous core step left it (sql/macros/incremental.sql); a core step that did not finish leaves
-- core.applied_files as it was, so the next run applies its changes again. Empty when the run is
-- not by scope (a full refresh, or no core step finished before: every table is rebuilt).
-- Grain: one row per changed file content (SHA-256).
{%- set applied = previous_state('core', 'applied_files') %}
{%- if not core_incremental() %}
-- depends_on: {{ source('raw', 'registry') }}
select null::string as file_sha256, null::string as layout, null::string as change where false
{%- else %}
with current_files as (
    select file_sha256, layout
    from {{ source('raw', 'registry') }}
    where status = 'ingested' and layout is not null
)

, applied as (
{%- if applied is not none %}
    select file_sha256, layout from {{ applied }}
{%- else %}
    {#- a dbt unit test: nothing applied before #}
    select null::string as file_sha256, null::string as layout where false
{%- endif %}
)

select file_sha256, layout, 'added' as change
from current_files
where file_sha256 not in (select file_sha256 from applied)

union all

select file_sha256, layout, 'dropped' as change
from applied
where file_sha256 not in (select file_sha256 from current_files)
{%- endif %}
