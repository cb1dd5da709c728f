-- Engine differences, in one place. The models are written in the SQL DuckDB and Spark SQL share
-- (Spark 4 reads `::` casts, `* except (...)`, `qualify`, `group by all`, `filter (where ...)`,
-- `median`, `percentile_cont ... within group`); what differs goes through a macro here, chosen
-- by dbt's adapter.dispatch: `default__` is DuckDB's SQL (the default engine), `spark__` is Spark
-- SQL (used for Databricks too: dbt-databricks dispatches to spark__ macros).

-- Whether the engine deletes rows from a table (DuckDB does; dbt-spark's tables without Delta do
-- not): where it does not, the incremental staging, core and mart tables are built whole every
-- run (sql/macros/staging.sql, incremental.sql).
{% macro engine_supports_delete() -%}
    {{- return(adapter.dispatch('engine_supports_delete', 'iop')()) -}}
{%- endmacro %}

{% macro default__engine_supports_delete() -%}
    {{- return(true) -}}
{%- endmacro %}

{% macro spark__engine_supports_delete() -%}
    {{- return(false) -}}
{%- endmacro %}

-- true when the whole of `value` matches the regular expression `pattern` (a SQL expression)
{% macro regex_full_match(value, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'iop')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(value, pattern) -%}
    regexp_full_match({{ value }}, {{ pattern }})
{%- endmacro %}

-- (\z, not $: Java's $ also matches before a final line break, RE2's does not)
{% macro spark__regex_full_match(value, pattern) -%}
    regexp_like({{ value }}, concat('^(?:', {{ pattern }}, ')\\z'))
{%- endmacro %}

-- true when `value` contains a match of the regular expression `pattern` (a SQL expression)
{% macro regex_contains(value, pattern) -%}
    {{ return(adapter.dispatch('regex_contains', 'iop')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_contains(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regex_contains(value, pattern) -%}
    regexp_like({{ value }}, {{ pattern }})
{%- endmacro %}

-- The keyed pseudonym (HMAC-SHA256 with IOP_PSEUDONYM_KEY) of a person id: a SQL function each
-- engine's session registers from the key (iop/pseudonym.py on DuckDB, in an in-memory catalog
-- every connection sees; iop/spark.py on Spark), so the key never appears in SQL or logs.
{% macro pseudonymize(value) -%}
    {{ return(adapter.dispatch('pseudonymize', 'iop')(value)) }}
{%- endmacro %}

{% macro default__pseudonymize(value) -%}
    iop_keys.pseudonymize({{ value }})
{%- endmacro %}

{% macro spark__pseudonymize(value) -%}
    pseudonymize({{ value }})
{%- endmacro %}

-- The most frequent value of `value`, the lowest of those equally frequent (plain `mode` picks
-- any of them: results would change between runs and engines).
{% macro mode_lowest(value) -%}
    {{ return(adapter.dispatch('mode_lowest', 'iop')(value)) }}
{%- endmacro %}

{% macro default__mode_lowest(value) -%}
    mode({{ value }} order by {{ value }})
{%- endmacro %}

{% macro spark__mode_lowest(value) -%}
    mode({{ value }}, true)
{%- endmacro %}

-- Placed as the last clause (a where) of a query that a CTE defines and later parts read more than
-- once: on Spark it keeps the CTE from being copied into each place that reads it (Spark inlines
-- every deterministic CTE; a non-deterministic condition, always true, keeps it one relation).
-- Stacked suppressions (sql/macros/suppression.sql) would otherwise copy their input 2^n times
-- and exhaust the driver's memory while planning. DuckDB materializes such CTEs by itself.
{% macro computed_once() -%}
    {{ return(adapter.dispatch('computed_once', 'iop')()) }}
{%- endmacro %}

{% macro default__computed_once() -%}
{%- endmacro %}

{% macro spark__computed_once() -%}
    where rand() >= 0
{%- endmacro %}
