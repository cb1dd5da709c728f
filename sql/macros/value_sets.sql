-- A value set: the shipped seed (sql/seeds/<name>.csv) plus the rows a site adds in
-- $IOP_DATA_DIR/seeds/<name>.csv, which the registry exposes as source raw.site_<name> (empty
-- when the site has no such file). Both are all text, so codes keep their leading zeros.
{% macro value_set(name) -%}
    (
        select * from {{ ref(name) }}
        union all by name
        select * from {{ source('raw', 'site_' ~ name) }}
    )
{%- endmacro %}
