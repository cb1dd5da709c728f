-- Small-cell suppression (CMS cell-size rule: no published cell may show 1-10 persons; zero may
-- be shown; no hidden value may be derivable from totals, percentages or other cells).

-- A count of 1-10 persons or episodes: never published.
{% macro small(n) -%}
    coalesce({{ n }} between 1 and 10, false)
{%- endmacro %}
