-- Claim lines at the final adjudicated version of each claim, classified to a level of care.
-- Voids and replacements are resolved before anything is counted: a claim's versions form a
-- chain through original_claim_id; the final version is one that no other version replaces (the
-- latest received of those, then frequency 1 < 7 < 8, then claim id, should there be several);
-- a chain whose final version is a void has no lines. Lines delivered more than
-- once (same claim id and line number) count once. Classification: procedure code first, then
-- revenue code (sql/seeds/level_of_care_codes.csv). Remittances (835 SVC lines) are applied where
-- they match a line (CLP01 = the claim id, or CLP07 = the payer's claim control number; same
-- procedure code; service date within the line's dates): remitted_paid_amount is their net paid
-- amount and remittance_status says paid, denied (CLP02 4), reversed (a CLP02 22 reversal netting
-- the payment to zero or less) or adjudicated (matched, nothing paid); null = no remittance yet.
-- Grain: one row per line of a final claim version.
with lines as (
    select *
    from {{ ref('staging__claims') }}
    qualify row_number() over (
        partition by claim_id, line_number
        order by _landed_at desc, _source_file desc, _row_number desc
    ) = 1
)

, claims as (
    select
        claim_id
        , any_value(original_claim_id) as original_claim_id
        , any_value(claim_frequency_code) as claim_frequency_code
        , max(received_date) as received_date
    from lines
    group by claim_id
)

, chains as (
    with recursive walk (claim_id, root_claim_id, depth) as (
        -- chain starts: originals, and versions whose referenced claim never arrived
        select c.claim_id, coalesce(c.original_claim_id, c.claim_id), 0
        from claims as c
        where c.original_claim_id is null
            or c.original_claim_id not in (select claim_id from claims)
        union all
        select c.claim_id, w.root_claim_id, w.depth + 1
        from claims as c
        join walk as w on c.original_claim_id = w.claim_id
        where w.depth < 20
    )
    select claim_id, root_claim_id from walk
)

, final_versions as (
    select c.claim_id, c.claim_frequency_code, ch.root_claim_id
    from claims as c
    join chains as ch on ch.claim_id = c.claim_id
    where c.claim_id not in (
        select original_claim_id from claims where original_claim_id is not null
    )
    qualify row_number() over (
        partition by ch.root_claim_id
        order by c.received_date desc
            , case c.claim_frequency_code when '8' then 3 when '7' then 2 else 1 end desc
            , c.claim_id desc
    ) = 1
)

, remittances as (
    select
        r.claim_id
        , r.payer_claim_control_number
        , r.procedure_code
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
    join remittances as r
        on (r.claim_id = l.claim_id or r.payer_claim_control_number = l.claim_id)
        and r.procedure_code = l.procedure_code
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
    , f.root_claim_id
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
join final_versions as f on f.claim_id = l.claim_id and f.claim_frequency_code <> '8'
left join members as m on m.member_id = l.member_id
left join remitted as rm on rm.claim_id = l.claim_id and rm.line_number = l.line_number
left join {{ value_set('level_of_care_codes') }} as by_procedure
    on by_procedure.code_system = 'hcpcs' and by_procedure.code = l.procedure_code
left join {{ value_set('level_of_care_codes') }} as by_revenue
    on by_revenue.code_system = 'revenue' and by_revenue.code = l.revenue_code
