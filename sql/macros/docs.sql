-- dbt's persist_docs on DuckDB, unless the invocation sets the var `comments_after_build`: the
-- pipeline's builds do, and write the comments after the build, only where they differ
-- (iop/comments.py), instead of rendering them after every model of every run. A hand-run dbt
-- (`dbt build --profiles-dir .`) persists them as dbt does.
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- if not var('comments_after_build', false) -%}
        {{- default__persist_docs(relation, model, for_relation, for_columns) -}}
    {%- endif -%}
{%- endmacro %}
