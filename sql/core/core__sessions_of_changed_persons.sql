-- The sessions of this run's changed persons (core.changed_persons), with the columns the models
-- refreshed by change scope read from core.sessions (care_spans, billed_days, person_episodes,
-- episode_weeks, session_months, and marts.reconciliation_person_day): they read this copy instead
-- of scanning the whole table each (rows_of_changed_persons(), rows_of_changed_persons_in_marts(),
-- sql/macros/incremental.sql). Empty when the run is not by scope. A
-- model that reads another column of core.sessions by scope needs it added here.
-- Grain: one row per session (as core.sessions) of a changed person.
{{ config(materialized='table') }}
select
    person_id
    , level_of_care
    , program
    , session_date
    , attended
    , attendance_status
    , minutes
from {{ ref('core__sessions') }}
where {{ of_changed_persons_this_run() }}
