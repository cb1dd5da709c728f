-- Every landed file content with its status and its exact row accounting: the registry (what was
-- delivered and how ingest judged it) joined to audit.row_accounting (what staging made of it).
-- Every file under landing/ that is not read (lock, hidden, excluded, misplaced) is a row
-- too, with status ignored and the reason: nothing in landing/ goes unmentioned.
-- Grain: one row per landed file content (SHA-256), rejected, superseded, removed and excluded
-- files included, plus one row per ignored file (path).
select
    r.file_sha256
    , r.feed
    , r.layout
    , r.source_file
    , r.file_bytes
    , r.rows_read
    , a.rows_accepted
    , a.rows_quarantined
    , a.rows_superseded
    , r.status
    , r.error
    , r.warnings
    , r.raw_path
    , r.landed_at
    , r.ingested_at
from {{ source('raw', 'registry') }} as r
left join {{ ref('audit__row_accounting') }} as a
    on a.file_sha256 = r.file_sha256 and r.status <> 'ignored'
order by r.source_file, r.status
