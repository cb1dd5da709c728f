-- Attendance against billing, by person-day: for each EHR client and day, whether a session was
-- attended at a level of care (core.sessions) and whether the provider's own final claim lines
-- (core.claim_lines, classified to a level) cover that day at that level; status
-- attended_and_billed, attended_not_billed, billed_not_attended, or attended_no_member_id for
-- clients without a payer member id, who cannot be billed. Totals by month x program x level of
-- care are marts.reconciliation_program_month.
-- Own billing NPIs: the data has no provider master, so a billing NPI is the provider's own when
-- more than half of the distinct person-days its classified lines cover for EHR clients are days
-- on which that client attended an EHR session (at any level). Lines of other NPIs (a client's
-- therapist elsewhere, a residential stay) are neither billing nor billing errors of the program.
-- Only EHR clients (core.persons.person_source = 'ehr') are reconciled; clients without a roster
-- row have no person key and are left out, as in marts.episodes.
-- Grain: one row per EHR client x service day x level of care that was attended or billed.
with ehr_persons as (
    select person_id, person_key, member_id is not null as billable
    from {{ ref('core__persons') }}
    where person_source = 'ehr'
)

, attended_sessions as (
    select s.person_id, s.session_date as service_date, s.level_of_care, s.program
    from {{ ref('core__sessions') }} as s
    join ehr_persons as p using (person_id)
    where s.attended
)

, attended_days as (
    select
        person_id
        , service_date
        , level_of_care
        , min(program) as program
        , count(*) as sessions_attended
    from attended_sessions
    group by all
)

, claim_days as (
    -- every day each classified final line of an EHR client covers
    select
        c.person_id
        , coalesce(c.billing_npi, '') as billing_npi
        , c.level_of_care
        , unnest(generate_series(c.service_from_date, c.service_to_date, interval 1 day))::date
            as service_date
    from {{ ref('core__claim_lines') }} as c
    join ehr_persons as p using (person_id)
    where c.level_of_care is not null
)

, npi_person_days as (
    select distinct billing_npi, person_id, service_date
    from claim_days
)

, attended_any_level as (
    select person_id, service_date, mode(program) as program
    from attended_sessions
    group by all
)

, own_npis as (
    select
        n.billing_npi
        , count(*) as person_days
        , count(a.person_id) as attended_person_days
        , mode(a.program) as npi_program
    from npi_person_days as n
    left join attended_any_level as a using (person_id, service_date)
    group by n.billing_npi
    having count(a.person_id) * 2 > count(*)
)

, billed_days as (
    select
        d.person_id
        , d.service_date
        , d.level_of_care
        , count(*) as claim_lines
        , min(o.npi_program) as npi_program
    from claim_days as d
    join own_npis as o using (billing_npi)
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
