-- Claim versions, resolved (the rule and its sources: docs/x12.md, "Claim versions"). Used by
-- core.claim_lines (which keeps the lines of each chain's final version) and audit.claim_versions
-- (which shows every version, how it was linked and why it could not be): both call this macro so
-- that the rule is written once and core.claim_lines reads only staging.
--
-- A version is the lines of one claim id sent with one received date (837 BHT04) and one frequency
-- code; copies of a line in several files are the same version. Versions link into chains:
-- * under the same claim id (a provider resubmits a corrected 837 under the same CLM01), a later
--   version (received date, then landing time, then frequency 1 < 7 < 8) follows the earlier one;
-- * the first version of a claim id with frequency 7 or 8 names the claim it replaces or voids in
--   original_claim_id (837 REF*F8: the payer's claim control number): looked up among the payer
--   numbers the 835s carry (CLP07, whose claim is CLP01), else among claim ids (a payer's CSV
--   extract, where the claim id is the payer's number).
-- A chain's final version is the last version of a claim id no other claim id links to, the latest
-- received of those (then 8 > 7 > 1, then the highest claim id). A 7/8 that links to nothing is kept
-- (a chain of its own, rooted at the id it names) and flagged unresolved_version with the reason;
-- so are claim ids whose links run in a cycle (no chain start reaches them).
-- Set-based: one aggregate, window functions and a recursive join over claim ids.
{% macro claim_versions(claims, remittances) -%}
with delivered as (
    select
        claim_id
        , received_date
        , claim_frequency_code
        , max(original_claim_id) as original_claim_id
        , min(member_id) as member_id
        , min(billing_npi) as billing_npi
        , max(_landed_at) as landed_at
        , min(_source_file) as source_file
    from {{ claims }}
    group by claim_id, received_date, claim_frequency_code
)

, ordered as (
    select
        *
        , row_number() over same_claim as version_number
        , count(*) over (partition by claim_id) as versions_of_claim
        , first_value(member_id) over same_claim as first_member_id
        , first_value(coalesce(billing_npi, '')) over same_claim as first_billing_npi
    from delivered
    window same_claim as (
        partition by claim_id
        order by received_date, landed_at
            , case claim_frequency_code when '8' then 3 when '7' then 2 else 1 end
            , source_file
    )
)

-- CLP07 -> CLP01: a payer claim control number and the provider's claim id it was assigned to;
-- only the numbers a delivered version names as its original are looked up (on a refresh by
-- scope, a few claims' against every 835 line: 5.5M at L, grouped whole before)
, payer_numbers as (
    select payer_claim_control_number, min(claim_id) as claim_id
    from {{ remittances }}
    where _rule is null and payer_claim_control_number is not null
        and payer_claim_control_number in (select original_claim_id from delivered)
    group by payer_claim_control_number
)

, claim_ids as (
    select distinct claim_id from delivered
)

-- the first version of a claim id that replaces (7) or voids (8): what its original_claim_id names
, heads as (
    select
        o.claim_id
        , o.original_claim_id
        , p.claim_id as remitted_claim_id
        , case
            when arrived.claim_id is not null and arrived.claim_id <> o.claim_id
                then arrived.claim_id
            when direct.claim_id is not null and direct.claim_id <> o.claim_id
                then direct.claim_id
        end as parent_claim_id
        , case
            when arrived.claim_id is not null and arrived.claim_id <> o.claim_id
                then 'payer_claim_number'
            when direct.claim_id is not null and direct.claim_id <> o.claim_id
                then 'claim_id'
        end as linked_by
    from ordered as o
    left join payer_numbers as p on p.payer_claim_control_number = o.original_claim_id
    left join claim_ids as arrived on arrived.claim_id = p.claim_id
    left join claim_ids as direct on direct.claim_id = o.original_claim_id
    where o.version_number = 1 and o.claim_frequency_code in ('7', '8')
)

, edges as (
    select claim_id, parent_claim_id from heads where parent_claim_id is not null
)

-- claim ids another claim id links to (replaced or voided by it)
, parents as (
    select distinct parent_claim_id as claim_id from edges
)

, chains as (
    with recursive walk (claim_id, root_claim_id, depth) as (
        select c.claim_id, coalesce(h.remitted_claim_id, h.original_claim_id, c.claim_id), 0
        from claim_ids as c
        left join heads as h on h.claim_id = c.claim_id
        where h.parent_claim_id is null
        union all
        select e.claim_id, w.root_claim_id, w.depth + 1
        from edges as e
        join walk as w on e.parent_claim_id = w.claim_id
        where w.depth < 20
    )
    select claim_id, any_value(root_claim_id) as root_claim_id from walk group by claim_id
)

, placed as (
    select
        o.claim_id
        , o.received_date
        , o.claim_frequency_code
        , o.original_claim_id
        , o.version_number
        , coalesce(ch.root_claim_id, o.claim_id) as root_claim_id
        , case
            when o.version_number > 1 then 'same_claim_id'
            when o.claim_frequency_code = '1' then 'original'
            else h.linked_by
        end as linked_by
        , case
            when o.version_number = 1 and o.claim_frequency_code in ('7', '8') and h.linked_by is null
                then case
                    when o.original_claim_id is null
                        then 'frequency ' || o.claim_frequency_code || ' without original_claim_id'
                            || ' (REF*F8) and no earlier version under claim id ' || o.claim_id
                    when h.remitted_claim_id = o.claim_id or o.original_claim_id = o.claim_id
                        then 'original_claim_id ' || o.original_claim_id || ' is claim id '
                            || o.claim_id || ' itself, but no earlier version of it arrived'
                    when h.remitted_claim_id is not null
                        then 'original claim id ' || h.remitted_claim_id || ' (835 CLP07 '
                            || o.original_claim_id || ') never arrived'
                    else 'original_claim_id ' || o.original_claim_id || ' matches no payer claim'
                        || ' control number of an 835 (CLP07) and no claim id'
                end
            when ch.claim_id is null
                then 'claim id ' || o.claim_id || ' links back to itself through original_claim_id'
                    || ' (a cycle of replacements); kept as a chain of its own'
            when o.version_number > 1
                and (o.member_id is distinct from o.first_member_id
                    or coalesce(o.billing_npi, '') <> o.first_billing_npi)
                then 'claim id ' || o.claim_id || ' sent again for another member or billing'
                    || ' provider; taken as a later version of it'
        end as unresolved_reason
        , o.version_number = o.versions_of_claim
            and (ch.claim_id is null or replaced.claim_id is null) as is_candidate
        , o.landed_at
        , o.source_file
    from ordered as o
    left join heads as h on h.claim_id = o.claim_id
    left join chains as ch on ch.claim_id = o.claim_id
    left join parents as replaced on replaced.claim_id = o.claim_id
)

, finals as (
    select claim_id, received_date, claim_frequency_code
    from placed
    where is_candidate
    qualify row_number() over (
        partition by root_claim_id
        order by received_date desc
            , case claim_frequency_code when '8' then 3 when '7' then 2 else 1 end desc
            , claim_id desc
    ) = 1
)

select
    p.claim_id
    , p.received_date
    , p.claim_frequency_code
    , p.original_claim_id
    , p.version_number
    , p.root_claim_id
    , p.linked_by
    , f.claim_id is not null as is_final
    , case when p.unresolved_reason is not null then 'unresolved_version' end as version_flag
    , p.unresolved_reason
    , p.source_file
    , p.landed_at
from placed as p
left join finals as f
    on f.claim_id = p.claim_id
    and f.received_date = p.received_date
    and f.claim_frequency_code = p.claim_frequency_code
{%- endmacro %}
