-- Admissions and discharges from census snapshots: for each admission (client, program, level,
-- admit date) the row from the latest snapshot wins, so a later discharge fills in an open one.
-- Grain: one row per admission.
-- Refreshed by merge (sql/macros/incremental.sql, latest_landed_config): the rows of the snapshots
-- a run adds replace the admissions they beat; the clients of a dropped file are computed again.
{%- set admission_key = ['source_layout', 'client_id', 'program', 'level_of_care', 'admit_date'] %}
{%- do latest_landed_config('staging__census', 'census_client', admission_key) %}
{%- if not in_unit_test() %}
-- depends_on: {{ ref('core__file_keys') }}, {{ ref('core__file_changes') }}
-- after core.change_scope, which compares the added snapshots with core.census as the last run left it
-- depends_on: {{ ref('core__change_scope') }}
{%- endif %}
select
    'client:' || client_id as person_id
    , source_layout
    , client_id
    , program
    , level_of_care
    , admit_date
    , discharge_date
    , discharge_reason
    , discharge_date is null as is_open
    , _source_file as source_file
    , _landed_at as landed_at
    , _row_number as source_row
from {{ latest_landed_candidates('staging__census', 'census_client') }} as winner
where {{ latest_landed_not_held(admission_key) }}
qualify row_number() over (
    partition by {{ admission_key | join(', ') }}
    order by _landed_at desc, _source_file desc, _row_number desc
) = 1
