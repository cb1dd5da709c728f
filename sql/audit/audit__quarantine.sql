-- Every delivered row that broke a hard rule, with the rule, a readable detail and the row as
-- delivered, from the staging model of every layout in sql/macros/layouts.sql. Nothing is dropped
-- silently: rows read = accepted + quarantined, per file.
-- Grain: one row per rejected row.
{%- for name in iop_layout_names() %}
{% if not loop.first %}
union all

{% endif -%}
select '{{ iop_layout(name).feed }}' as feed, '{{ name }}' as layout
    , _source_file as source_file, _file_sha256 as file_sha256, _row_number as row_number
    , _rule as rule, _detail as detail, _raw_record as raw_record
from {{ ref('staging__' ~ name) }}
where _rule is not null
{%- endfor %}
