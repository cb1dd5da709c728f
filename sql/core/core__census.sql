-- Admissions and discharges from census snapshots: for each admission (client, program, level,
-- admit date) the row from the latest snapshot wins, so a later discharge fills in an open one.
-- Grain: one row per admission.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of the census clients in
-- core.change_scope are deleted and computed again.
{%- do scoped_incremental_config(scope_rows('client_id', 'census_client')) %}
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
from {{ ref('staging__census') }}
where {{ in_change_scope('client_id', 'census_client') }}
qualify row_number() over (
    partition by source_layout, client_id, program, level_of_care, admit_date
    order by _landed_at desc, _source_file desc, _row_number desc
) = 1
