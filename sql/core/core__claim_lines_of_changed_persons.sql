-- The claim lines classified to a level of care of this run's changed persons (core.changed_persons),
-- with the columns the models refreshed by change scope read from core.claim_lines (care_spans,
-- billed_days, episode_costs, episode_diagnoses): they read this copy instead of scanning the whole
-- table each (rows_of_changed_persons(), sql/macros/incremental.sql). Every one of them reads
-- only classified lines (level_of_care not null). Empty when the run is not by scope. A model
-- that reads another column of core.claim_lines by scope needs it added here.
-- Grain: one row per final claim line (as core.claim_lines) of a changed person.
{{ config(materialized='table') }}
select
    person_id
    , level_of_care
    , service_from_date
    , service_to_date
    , billing_npi
    , claim_id
    , line_number
    , diagnosis_codes
    , allowed_amount
    , paid_amount
    , remittance_status
    , remitted_paid_amount
from {{ ref('core__claim_lines') }}
where level_of_care is not null and {{ of_changed_persons_this_run() }}
