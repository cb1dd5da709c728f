-- Row accounting per landed file: rows read = rows accepted + rows quarantined, exactly; a file
-- superseded by a corrected re-export under the same name accounts all its rows as superseded.
-- Grain: one row per landed file content (rejected whole files included, with zero rows staged).
with staged as (
    -- accepted = no broken rule, in the staging model of every layout (sql/macros/layouts.sql)
    select _file_sha256 as file_sha256, count(*) as rows_accepted
    from (
        {%- for name in iop_layout_names() %}
        {% if not loop.first %}union all {% endif -%}
        select _file_sha256 from {{ ref('staging__' ~ name) }} where _rule is null
        {%- endfor %}
    )
    group by 1
)

, quarantined as (
    select file_sha256, count(*) as rows_quarantined
    from {{ ref('audit__quarantine') }}
    group by 1
)

select
    f.file_sha256
    , f.feed
    , f.layout
    , f.source_file
    , f.status
    , f.error
    , coalesce(f.rows_read, 0) as rows_read
    , coalesce(s.rows_accepted, 0) as rows_accepted
    , coalesce(q.rows_quarantined, 0) as rows_quarantined
    , case when f.status in ('superseded', 'removed', 'excluded') then coalesce(f.rows_read, 0) else 0 end as rows_superseded
    , coalesce(f.rows_read, 0) = coalesce(s.rows_accepted, 0) + coalesce(q.rows_quarantined, 0)
        + case when f.status in ('superseded', 'removed', 'excluded') then coalesce(f.rows_read, 0) else 0 end as reconciled
from {{ source('raw', 'registry') }} as f
left join staged as s on s.file_sha256 = f.file_sha256
left join quarantined as q on q.file_sha256 = f.file_sha256
where f.status <> 'ignored'
