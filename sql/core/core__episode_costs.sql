-- What each episode cost: the allowed and paid amounts of the final claim lines that make it
-- (lines of the person at the episode's level of care whose first service date falls within the
-- episode). Paid: the 835 remittance's net paid amount where a remittance matches the line
-- (core.claim_lines.remitted_paid_amount), the claim's paid amount otherwise; allowed: the
-- claim's allowed amount (the 835 lines as ingested carry no allowed amount). paid_amount_source
-- names where the episode's paid amounts came from. An amount is null when any line of the
-- episode lacks it (a partial sum is not the episode's cost). Episodes with no claim line
-- (EHR-only) have no cost (null, not 0); episodes with no EHR attendance (claims-only) have no
-- attended hours (null, not 0).
-- Grain: one row per episode (every episode of core.episodes).
-- Refreshed by change scope (sql/macros/incremental.sql): the rows of core.changed_persons are
-- deleted and computed again.
{%- do scoped_incremental_config(changed_person_rows()) %}
with lines as (
    select
        e.episode_id
        , l.allowed_amount
        , case
            when l.remittance_status is not null then l.remitted_paid_amount
            else l.paid_amount
        end as paid_amount
        , l.remittance_status is not null as remitted
    from (select * from {{ ref('core__episodes') }} where {{ in_changed_persons() }}) as e
    join {{ rows_of_changed_persons('core__claim_lines') }} as l
        on l.person_id = e.person_id
        and l.level_of_care = e.level_of_care
        and l.service_from_date between e.start_date and e.end_date
)

, per_episode as (
    select
        episode_id
        , count(*) as claim_lines
        , count(*) filter (where remitted) as remitted_lines
        , case when count(allowed_amount) = count(*) then sum(allowed_amount) end
            as allowed_amount
        , case when count(paid_amount) = count(*) then sum(paid_amount) end as paid_amount
    from lines
    group by episode_id
)

select
    e.episode_id
    , e.person_id
    , e.level_of_care
    , e.source
    , e.length_of_stay
    , coalesce(c.claim_lines, 0) as claim_lines
    , coalesce(c.remitted_lines, 0) as remitted_lines
    , case
        when c.claim_lines is null then null
        when c.remitted_lines = c.claim_lines then 'remittance_835'
        when c.remitted_lines = 0 then 'claim'
        else 'mixed'
    end as paid_amount_source
    , c.allowed_amount::decimal(18, 2) as allowed_amount
    , c.paid_amount::decimal(18, 2) as paid_amount
    , case when e.source <> 'claims' then round(e.minutes_attended / 60, 2) end as attended_hours
    , case
        when e.source = 'claims' then 'claims_only'
        when c.claim_lines is null then 'ehr_only'
        else 'ehr_and_claims'
    end as cost_coverage
from (select * from {{ ref('core__episodes') }} where {{ in_changed_persons() }}) as e
left join per_episode as c using (episode_id)
