-- Attendance against billing, by person-day: for each EHR client and day, whether a session was
-- attended at a level of care (core.sessions) and whether the provider's own final claim lines
-- (core.billed_days: core.claim_lines classified to a level, by the day they cover) cover that day
-- at that level; status attended_and_billed, attended_not_billed, billed_not_attended, or
-- attended_no_member_id for clients without a payer member id, who cannot be billed. Totals by
-- month x program x level of care are marts.reconciliation_program_month.
-- Own billing NPIs are inferred (core.own_billing_npis); lines of other NPIs (a client's therapist
-- elsewhere, a residential stay) are neither billing nor billing errors of the program.
-- Only EHR clients (core.persons.person_source = 'ehr') are reconciled; clients without a roster
-- row have no person key and are left out, as in marts.episodes.
-- Grain: one row per EHR client x service day x level of care that was attended or billed.
-- Refreshed by change scope (sql/macros/incremental.sql, mart_scoped()): every row is a person's,
-- so a refresh deletes the rows of core.changed_persons and appends them computed again; it is
-- rebuilt whole when an own NPI's verdict or program changed (core.own_billing_npis). A refresh by
-- scope reads the changed persons' sessions from core.sessions_of_changed_persons.
{%- do mart_scoped_config(
    "select " ~ pseudonymize("person_id") ~ " as person_key from {{ ref('core__changed_persons') }}"
    , rebuild_when={'model': 'core__own_billing_npis', 'where': 'classification_changed'}
) %}
with ehr_persons as (
    select person_id, person_key, member_id is not null as billable
    from {{ ref('core__persons') }}
    where person_source = 'ehr' and {{ in_mart_scope() }}
)

, attended_days as (
    select
        s.person_id
        , s.session_date as service_date
        , s.level_of_care
        , min(s.program) as program
        , count(*) as sessions_attended
    from {{ rows_of_changed_persons_in_marts('core__sessions') }} as s
    join ehr_persons as p using (person_id)
    where s.attended
    group by all
)

, billed_days as (
    select
        d.person_id
        , d.service_date
        , d.level_of_care
        , sum(d.claim_lines) as claim_lines
        , min(o.npi_program) as npi_program
    from {{ ref('core__billed_days') }} as d
    join ehr_persons as p using (person_id)
    join {{ ref('core__own_billing_npis') }} as o using (billing_npi)
    where o.is_own
    group by all
)

, episode_programs as (
    -- the program of the EHR episode a billed day falls in (for days without attendance)
    select b.person_id, b.service_date, b.level_of_care, min(e.program) as program
    from billed_days as b
    join {{ ref('core__episodes') }} as e
        on e.person_id = b.person_id
        and e.level_of_care = b.level_of_care
        and b.service_date between e.start_date and e.end_date
        and e.source <> 'claims'
    group by all
)

, person_days as (
    select
        coalesce(a.person_id, b.person_id) as person_id
        , coalesce(a.service_date, b.service_date) as service_date
        , coalesce(a.level_of_care, b.level_of_care) as level_of_care
        , coalesce(a.program, ep.program, b.npi_program, 'unknown') as program
        , a.person_id is not null as attended
        , b.person_id is not null as billed
        , coalesce(a.sessions_attended, 0) as sessions_attended
        , coalesce(b.claim_lines, 0) as claim_lines
    from attended_days as a
    full join billed_days as b using (person_id, service_date, level_of_care)
    left join episode_programs as ep using (person_id, service_date, level_of_care)
)

, classified as (
    select
        d.person_id
        , d.service_date
        , d.level_of_care
        , d.program
        , d.attended
        , d.billed
        , d.sessions_attended
        , d.claim_lines
        , p.person_key
        , p.billable
        , date_trunc('month', d.service_date)::date as month
        , case
            when d.attended and d.billed then 'attended_and_billed'
            when d.billed then 'billed_not_attended'
            when p.billable then 'attended_not_billed'
            else 'attended_no_member_id'
        end as status
    from person_days as d
    join ehr_persons as p using (person_id)
)

select
    month
    , program
    , level_of_care
    , {{ label('level_of_care') }}
    , person_key
    , service_date
    , attended
    , billed
    , billable
    , status
    , {{ label('status', 'reconciliation_status') }}
    , sessions_attended::bigint as sessions_attended
    , claim_lines::bigint as claim_lines
from classified
