-- Which feeds the marts rest on: each feed with whether it ever delivered a file and what of it is
-- read now. A partial deployment (a payer with no attendance feed, a provider without claims)
-- builds every table from the feeds that exist; the checks of a feed that never delivered a file
-- are not_applicable (iop/validation.py), and this table says which marts' inputs are absent.
-- Grain: one row per feed (attendance, roster, census, claims).
with feeds as (
    select feed from (values ('attendance'), ('roster'), ('census'), ('claims')) as f (feed)
)

, files as (
    select
        r.feed
        , count(*) filter (where r.status <> 'ignored') as files_delivered
        , count(*) filter (where r.status = 'ingested') as files_read
        , count(*) filter (where r.status = 'rejected') as files_rejected
        , count(*) filter (where r.status = 'ignored') as files_ignored
        , min(r.landed_at) filter (where r.status = 'ingested') as first_landed_at
        , max(r.landed_at) filter (where r.status = 'ingested') as last_landed_at
    from {{ source('raw', 'registry') }} as r
    group by 1
)

, accepted as (
    select feed, sum(rows_accepted) as rows_accepted
    from {{ ref('audit__row_accounting') }}
    where status = 'ingested'
    group by 1
)

select
    f.feed
    , coalesce(x.files_delivered, 0) > 0 as delivered
    , coalesce(x.files_delivered, 0) as files_delivered
    , coalesce(x.files_read, 0) as files_read
    , coalesce(x.files_rejected, 0) as files_rejected
    , coalesce(x.files_ignored, 0) as files_ignored
    , coalesce(a.rows_accepted, 0)::bigint as rows_accepted
    , x.first_landed_at
    , x.last_landed_at
from feeds as f
left join files as x using (feed)
left join accepted as a using (feed)
order by f.feed
