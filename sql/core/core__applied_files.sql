-- The ingested files the core layer reflects: written last in the core step, after every core
-- table is refreshed (the refs below order it), and read by the next run's core.file_changes. A
-- core step that fails keeps the previous list, so nothing a failed run began is lost.
-- Grain: one row per ingested file content (SHA-256).
{%- if not in_unit_test() %}
-- depends_on: {{ ref('core__persons') }}, {{ ref('core__sessions') }}, {{ ref('core__census') }}
-- depends_on: {{ ref('core__claim_lines') }}, {{ ref('audit__claim_versions') }}
-- depends_on: {{ ref('core__care_spans') }}, {{ ref('core__person_episodes') }}
-- depends_on: {{ ref('core__person_transitions') }}, {{ ref('core__episode_costs') }}
-- depends_on: {{ ref('core__episode_weeks') }}, {{ ref('core__episode_diagnoses') }}
-- depends_on: {{ ref('core__file_keys') }}
{%- endif %}
select file_sha256, layout
from {{ source('raw', 'registry') }}
where status = 'ingested' and layout is not null
