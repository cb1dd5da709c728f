-- Every delivery as an event: each time a path under landing/ held a new content (or the same
-- content re-sent), with what became of it. raw.registry has one row per content, so two identical
-- files (two empty exports, a re-sent file) are one landed file but two deliveries here, each with
-- the content's status; a file in a folder that is no feed is a rejected delivery naming the
-- closest feed.
-- Grain: one row per delivery (path, content hash, modification time).
with deliveries as (
    select
        d.*
        , first_value(d.source_file) over (
            partition by d.file_sha256 order by d.seen_at, d.source_file, d.delivery_id
        ) as first_source_file
        , row_number() over (
            partition by d.file_sha256 order by d.seen_at, d.source_file, d.delivery_id
        ) as delivery_of_content
    from {{ source('raw', 'deliveries') }} as d
)

select
    d.delivery_id
    , d.source_file
    , d.folder
    , d.feed
    , d.file_sha256
    , d.file_bytes
    , d.modified_at
    , d.seen_at
    , case
        when d.error is not null then 'rejected'
        else coalesce(r.status, 'pending')
    end as status
    , coalesce(d.error, r.error) as error
    , r.layout
    , r.source_file as registered_as
    , case when d.delivery_of_content > 1 then d.first_source_file end as duplicate_of
from deliveries as d
left join (
    -- ignored files have no content read: not the status of a delivery's content
    select * from {{ source('raw', 'registry') }} where status <> 'ignored'
) as r using (file_sha256)
order by d.seen_at, d.source_file
