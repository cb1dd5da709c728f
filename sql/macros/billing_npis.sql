-- npi_person_day_counts(billed_days, condition): the distinct days each billing NPI's lines cover
-- per EHR client (two levels of care on one day are one person-day), by whether the client
-- attended an EHR session that day (at any level) and the program attended: what
-- core.own_billing_npis judges NPIs on (core.npi_person_day_counts; computed in
-- core.own_billing_npis itself in a dbt unit test). `condition`: which rows of `billed_days`.
{% macro npi_person_day_counts(billed_days, condition='true') -%}
with npi_person_days as (
    select
        billing_npi
        , person_id
        , service_date
        , bool_or(attended) as attended
        , any_value(attended_program) as attended_program
    from {{ billed_days }}
    where {{ condition }}
    group by all
)

select
    billing_npi
    , person_id
    , attended
    , attended_program
    , count(*)::bigint as person_days
from npi_person_days
group by all
{%- endmacro %}
