-- The days each EHR client's classified final claim lines cover, by billing NPI and level of care,
-- with whether the client attended an EHR session that day (at any level): the billing side of
-- marts.reconciliation_person_day and the evidence core.own_billing_npis judges NPIs on.
-- Grain: one row per EHR client x billing NPI x level of care x service day a line covers.
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
with ehr_persons as (
    select person_id
    from {{ ref('core__persons') }}
    where person_source = 'ehr' and {{ in_changed_persons() }}
)

, claim_days as (
    -- every day each classified final line covers
    select
        c.person_id
        , coalesce(c.billing_npi, '') as billing_npi
        , c.level_of_care
        , {{ unnest_days('c.service_from_date', 'c.service_to_date', 'service_date') }}
    from {{ rows_of_changed_persons('core__claim_lines') }} as c
    join ehr_persons as p using (person_id)
    where c.level_of_care is not null
)

, attended_any_level as (
    select s.person_id, s.session_date as service_date, {{ mode_lowest("s.program") }} as program
    from {{ rows_of_changed_persons('core__sessions') }} as s
    join ehr_persons as p using (person_id)
    where s.attended
    group by all
)

, claim_day_counts as (
    -- counted before the join (attended_any_level has one row per person and day: the join adds
    -- columns, not rows), so the aggregate does not carry the join's columns. At size L (11M
    -- days) DuckDB's memory outside its buffer pool peaks at 0.5 GiB instead of 1.0, and nothing
    -- spills (0.4 GiB did): at a 2.5 GB limit the old form ran out of memory in some full builds.
    select person_id, billing_npi, level_of_care, service_date, count(*)::bigint as claim_lines
    from claim_days
    group by all
)

select
    d.person_id
    , d.billing_npi
    , d.level_of_care
    , d.service_date
    , d.claim_lines
    , a.person_id is not null as attended
    , a.program as attended_program
from claim_day_counts as d
left join attended_any_level as a using (person_id, service_date)
