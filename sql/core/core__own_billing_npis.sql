-- The provider's own billing NPIs. The data has no provider master, so a billing NPI is the
-- provider's own when more than half of the distinct person-days its classified lines cover for EHR
-- clients (core.billed_days) are days on which that client attended an EHR session (at any level).
-- Lines of other NPIs (a client's therapist elsewhere, a residential stay) are neither billing nor
-- billing errors of the program. classification_changed says whether this build changed the
-- verdict or program of an NPI the previous core build had: marts.reconciliation_person_day,
-- refreshed by change scope, is rebuilt whole when one did (the rows an NPI new to the table
-- touches are all of changed persons, and so are the rows of an NPI that is gone).
-- Grain: one row per billing NPI on a classified line of an EHR client.
{%- set previous = previous_state('core', 'own_billing_npis') %}
with npi_person_days as (
    select
        billing_npi
        , person_id
        , service_date
        , bool_or(attended) as attended
        , any_value(attended_program) as attended_program
    from {{ ref('core__billed_days') }}
    group by all
)

, npis as (
    select
        billing_npi
        , count(*) as person_days
        , count(*) filter (where attended) as attended_person_days
        , {{ mode_lowest("attended_program") }} filter (where attended) as npi_program
    from npi_person_days
    group by billing_npi
)

, classified as (
    select
        billing_npi
        , person_days
        , attended_person_days
        , attended_person_days * 2 > person_days as is_own
        , case when attended_person_days * 2 > person_days then npi_program end as npi_program
    from npis
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
