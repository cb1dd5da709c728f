-- Claim lines at the final adjudicated version of each claim, classified to a level of care.
-- Voids and replacements are resolved before anything is counted (sql/macros/claim_versions.sql,
-- docs/x12.md "Claim versions"): versions chain under the same claim id (837 CLM01, later received
-- = later version) and through original_claim_id (837 REF*F8: the payer's claim number, found in
-- the 835s' CLP07, or a claim id); the final version is the latest of those no other version
-- replaces; a chain whose final version is a void has no lines; a replacement that links to
-- nothing is kept and flagged (version_flag). Lines delivered more than once (same claim id,
-- line number and version) count once. Classification: procedure code first, then
-- revenue code (sql/seeds/level_of_care_codes.csv). Remittances (835 SVC lines) are applied where
-- they match a line (CLP01 = the claim id, or CLP07 = the payer's claim control number; same
-- procedure code, or, for a line without one, an SVC carrying the same revenue code and no
-- procedure (SVC01-1 NU: a revenue-code-only 837I line); service date within the line's dates):
-- remitted_paid_amount is their net paid amount and remittance_status says paid, denied (CLP02
-- 4), reversed (a CLP02 22 reversal netting the payment to zero or less) or adjudicated (matched,
-- nothing paid); null = no remittance yet.
-- Grain: one row per line of a final claim version.
-- Refreshed by change scope (sql/macros/incremental.sql): the lines of the claim ids in
-- core.change_scope (every claim chain the changed files touch, and every claim of a member whose
-- person may have changed) are deleted and computed again.
{%- do scoped_incremental_config(scope_rows('claim_id', 'claim')) %}
-- On a refresh by scope, the versions of the claims in scope are selected first (and
-- materialized): left to itself the planner joins every version to the lines before it applies
-- the scope (at L: 4.3 s, not 1.5 s). A full build reads them as they come.
with versions as {% if scoped() %}{{ cte_materialized() }}{% endif %} (
{%- if in_unit_test() %}
    {#- a unit test gives staging rows: the versions are resolved from them, as audit.claim_versions does #}
    {{ claim_versions(ref('staging__claims'), ref('staging__remittance_835')) | indent(4) }}
{%- else %}
    select * from {{ ref('audit__claim_versions') }}
    where {{ in_change_scope('claim_id', 'claim') }}
{%- endif %}
)

-- the lines of final, not voided versions; a line delivered twice counts once (latest landed)
, lines as (
    select l.*, v.root_claim_id, v.version_flag
    from {{ ref('staging__claims') }} as l
    join versions as v
        on v.claim_id = l.claim_id
        and v.received_date = l.received_date
        and v.claim_frequency_code = l.claim_frequency_code
    where v.is_final and v.claim_frequency_code <> '8'
        and {{ in_change_scope('l.claim_id', 'claim') }}
    qualify row_number() over (
        partition by l.claim_id, l.line_number
        order by l._landed_at desc, l._source_file desc, l._row_number desc
    ) = 1
)

, remittances as (
    select
        r.claim_id
        , r.payer_claim_control_number
        -- the code a line is matched on: its procedure, else (SVC01-1 NU) its revenue code
        , coalesce(r.procedure_code, 'NU:' || r.revenue_code) as match_code
        , r.service_date
        , r.paid_amount
        , r.claim_status
    from {{ ref('staging__remittance_835') }} as r
    where r._rule is null
)

, remitted as (
    select
        l.claim_id
        , l.line_number
        , sum(r.paid_amount) as remitted_paid_amount
        , bool_or(r.claim_status = '22') as has_reversal
        , bool_and(r.claim_status = '4') as all_denied
    from lines as l
    -- two equi-joins rather than one join on `a or b`, which DuckDB runs as a nested loop
    join (
        select claim_id as matched_id, * from remittances
        union all
        select payer_claim_control_number, * from remittances
        where payer_claim_control_number is not null
            and payer_claim_control_number is distinct from claim_id
    ) as r
        on r.matched_id = l.claim_id
        -- one equi-join key for both kinds of line: an `or` of two conditions is a nested loop
        and r.match_code = coalesce(l.procedure_code, 'NU:' || l.revenue_code)
        and r.service_date between l.service_from_date and l.service_to_date
    group by all
)

, members as (
    select member_id, min(person_id) as person_id
    from {{ ref('core__persons') }}
    where member_id is not null
    group by member_id
)

select
    m.person_id
    , l.claim_id
    , l.root_claim_id
    , l.version_flag
    , l.line_number
    , l.claim_type
    , l.claim_frequency_code
    , l.member_id
    , l.payer
    , l.service_from_date
    , l.service_to_date
    , l.place_of_service
    , l.bill_type
    , l.revenue_code
    , l.procedure_code
    , l.modifiers
    , l.units
    , l.charge_amount
    , l.allowed_amount
    , l.paid_amount
    , l.diagnosis_codes
    , l.rendering_npi
    , l.billing_npi
    , l.received_date
    , l.adjudicated_date
    , coalesce(by_procedure.level_of_care, by_revenue.level_of_care) as level_of_care
    , rm.remitted_paid_amount
    , case
        when rm.claim_id is null then null
        when rm.all_denied then 'denied'
        when rm.has_reversal and rm.remitted_paid_amount <= 0 then 'reversed'
        when rm.remitted_paid_amount > 0 then 'paid'
        else 'adjudicated'
    end as remittance_status
    , l._source_file as source_file
from lines as l
left join members as m on m.member_id = l.member_id
left join remitted as rm on rm.claim_id = l.claim_id and rm.line_number = l.line_number
left join {{ value_set('level_of_care_codes') }} as by_procedure
    on by_procedure.code_system = 'hcpcs' and by_procedure.code = l.procedure_code
left join {{ value_set('level_of_care_codes') }} as by_revenue
    on by_revenue.code_system = 'revenue' and by_revenue.code = l.revenue_code
