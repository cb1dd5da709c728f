-- A value set: the shipped seed (sql/seeds/<name>.csv) plus the rows a site adds in
-- $IOP_DATA_DIR/seeds/<name>.csv, which the registry exposes as source raw.site_<name> (empty
-- when the site has no such file). Both are all text, so codes keep their leading zeros; the
-- site's file may order the columns otherwise (they are matched by name).
{% macro value_set(name) -%}
    (
        {{ union_all_by_name(ref(name), source('raw', 'site_' ~ name)) }}
    )
{%- endmacro %}
