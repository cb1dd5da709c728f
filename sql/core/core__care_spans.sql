-- Dated spans of care per person and level of care, from every source: a day with an attended
-- session, the dates a final claim line classified to a level covers, and a census admission
-- (admit to discharge; an open admission covers its admit day).
-- Grain: one row per distinct (person, level, source, program, start, end) span.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
select distinct
    person_id
    , level_of_care
    , 'attendance' as source
    , program
    , session_date as span_start
    , session_date as span_end
    , null::string as discharge_reason
    , false as census_open
from {{ rows_of_changed_persons('core__sessions') }}
where attended and {{ in_changed_persons() }}

union all

select distinct
    person_id
    , level_of_care
    , 'claims' as source
    , null::string as program
    , service_from_date as span_start
    , service_to_date as span_end
    , null::string as discharge_reason
    , false as census_open
from {{ rows_of_changed_persons('core__claim_lines') }}
where level_of_care is not null and {{ in_changed_persons() }}

union all

select
    person_id
    , level_of_care
    , 'census' as source
    , program
    , admit_date as span_start
    , coalesce(discharge_date, admit_date) as span_end
    , discharge_reason
    , is_open as census_open
from {{ ref('core__census') }}
where {{ in_changed_persons() }}
