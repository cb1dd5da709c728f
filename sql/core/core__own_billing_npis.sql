-- The provider's own billing NPIs. The data has no provider master, so a billing NPI is the
-- provider's own when more than half of the distinct person-days its classified lines cover for EHR
-- clients (core.billed_days) are days on which that client attended an EHR session (at any level).
-- Lines of other NPIs (a client's therapist elsewhere, a residential stay) are neither billing nor
-- billing errors of the program. classification_changed says whether this build changed the
-- verdict or program of an NPI the previous core build had: marts.reconciliation_person_day,
-- refreshed by change scope, is rebuilt whole when one did (the rows an NPI new to the table
-- touches are all of changed persons, and so are the rows of an NPI that is gone).
-- Rebuilt whole each core build, adding up core.npi_person_day_counts (the person-days counted
-- per NPI and person) rather than every billed day.
-- Grain: one row per billing NPI on a classified line of an EHR client.
-- depends_on: {{ ref('core__billed_days') }}
{%- set previous = previous_state('core', 'own_billing_npis') %}
with counts as (
{%- if in_unit_test() %}
    {#- a unit test gives the billed days: the counts are computed from them #}
    select * from ({{ npi_person_day_counts(ref('core__billed_days')) }}) as c
{%- else %}
    select * from {{ ref('core__npi_person_day_counts') }}
{%- endif %}
)

, npis as (
    select
        billing_npi
        , sum(person_days) as person_days
        , coalesce(sum(person_days) filter (where attended), 0) as attended_person_days
    from counts
    group by billing_npi
)

, attended_programs as (
    -- the most frequent program of an NPI's attended person-days, the lowest on a tie
    select
        billing_npi
        , attended_program
        , row_number() over (
            partition by billing_npi order by sum(person_days) desc, attended_program
        ) as program_rank
    from counts
    where attended and attended_program is not null
    group by billing_npi, attended_program
)

, classified as (
    select
        n.billing_npi
        , n.person_days
        , n.attended_person_days
        , n.attended_person_days * 2 > n.person_days as is_own
        , case when n.attended_person_days * 2 > n.person_days then a.attended_program end
            as npi_program
    from npis as n
    left join attended_programs as a
        on a.billing_npi = n.billing_npi
        and a.program_rank = 1
)

select
    c.billing_npi
    , c.person_days::bigint as person_days
    , c.attended_person_days::bigint as attended_person_days
    , c.is_own
    , c.npi_program
{%- if previous is not none and not in_unit_test() %}
    -- an NPI new to the table has only new rows (of changed persons): it changes no other row
    , case
        when p.billing_npi is null then false
        else c.is_own is distinct from p.is_own or c.npi_program is distinct from p.npi_program
    end as classification_changed
from classified as c
left join {{ previous }} as p using (billing_npi)
{%- else %}
    , false as classification_changed
from classified as c
{%- endif %}
