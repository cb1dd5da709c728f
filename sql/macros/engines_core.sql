-- Engine differences of the core layer (sql/core, audit.claim_versions and their macros), chosen
-- by dbt's adapter.dispatch as in sql/macros/engines.sql: `default__` is DuckDB's SQL, unchanged;
-- `spark__` is Spark SQL giving the same values.


-- A landed file's id in core.file_keys. DuckDB: the first 128 bits of its SHA-256 (hex) as an
-- integer (16 bytes instead of a 64-character string on tens of millions of rows). Spark has no
-- 128-bit integer: the first 64 bits, as a (signed) bigint. Bookkeeping only: a file_id is compared
-- with file_id() of a SHA-256 on the same engine, never across engines (a hex string shorter than
-- 16 digits, as in the unit tests, is the same number on both).
{% macro file_id(sha256) -%}
    {{ return(adapter.dispatch('file_id', 'iop')(sha256)) }}
{%- endmacro %}

{% macro default__file_id(sha256) -%}
    ('0x' || left({{ sha256 }}, 32))::uhugeint
{%- endmacro %}

{% macro spark__file_id(sha256) -%}
    cast(conv(left({{ sha256 }}, 16), 16, -10) as bigint)
{%- endmacro %}


-- The keyword that asks DuckDB to compute a CTE once (`name as materialized (...)`); Spark has no
-- such hint.
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'iop')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}
    materialized
{%- endmacro %}

{% macro spark__cte_materialized() -%}
{%- endmacro %}


-- Days from date `start` to date `end` (negative when `end` is earlier).
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'iop')(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    date_diff('day', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}


-- Integer division of two non-negative integers (the quotient rounded down).
{% macro int_div(dividend, divisor) -%}
    {{ return(adapter.dispatch('int_div', 'iop')(dividend, divisor)) }}
{%- endmacro %}

{% macro default__int_div(dividend, divisor) -%}
    ({{ dividend }} // {{ divisor }})
{%- endmacro %}

{% macro spark__int_div(dividend, divisor) -%}
    ({{ dividend }} div {{ divisor }})
{%- endmacro %}


-- Completed years of age on date `on_date` of someone born on `birth_date`.
{% macro age_years(on_date, birth_date) -%}
    {{ return(adapter.dispatch('age_years', 'iop')(on_date, birth_date)) }}
{%- endmacro %}

{% macro default__age_years(on_date, birth_date) -%}
    date_part('year', age({{ on_date }}, {{ birth_date }}))
{%- endmacro %}

{% macro spark__age_years(on_date, birth_date) -%}
    (year({{ on_date }}) - year({{ birth_date }})
        - case
            when month({{ on_date }}) * 100 + day({{ on_date }})
                < month({{ birth_date }}) * 100 + day({{ birth_date }}) then 1
            else 0
        end)
{%- endmacro %}


-- SHA-256 of a string, as 64 lowercase hex digits.
{% macro sha256_hex(value) -%}
    {{ return(adapter.dispatch('sha256_hex', 'iop')(value)) }}
{%- endmacro %}

{% macro default__sha256_hex(value) -%}
    sha256({{ value }})
{%- endmacro %}

{% macro spark__sha256_hex(value) -%}
    sha2({{ value }}, 256)
{%- endmacro %}


-- The `arg` of the row with the greatest `val`, among the rows where neither is null (DuckDB's
-- arg_max; Spark's max_by alone would return a null `arg` of that row). A FILTER clause may
-- follow.
{% macro arg_max(arg, val) -%}
    {{ return(adapter.dispatch('arg_max', 'iop')(arg, val)) }}
{%- endmacro %}

{% macro default__arg_max(arg, val) -%}
    arg_max({{ arg }}, {{ val }})
{%- endmacro %}

{% macro spark__arg_max(arg, val) -%}
    max_by({{ arg }}, case when {{ arg }} is not null then {{ val }} end)
{%- endmacro %}


-- The distinct non-null values of `value` among the rows where `condition` holds, sorted, joined
-- by the string `separator` (a SQL literal); null when there is none.
{% macro sorted_distinct_agg(value, separator, condition=none) -%}
    {{ return(adapter.dispatch('sorted_distinct_agg', 'iop')(value, separator, condition)) }}
{%- endmacro %}

{% macro default__sorted_distinct_agg(value, separator, condition) -%}
    string_agg(distinct {{ value }}, {{ separator }} order by {{ value }})
    {%- if condition %} filter (where {{ condition }}){% endif %}
{%- endmacro %}

{% macro spark__sorted_distinct_agg(value, separator, condition) -%}
    {#- not listagg(distinct ...) within group (...) filter (...): Spark 4 fails on it -#}
    {%- set values -%}
        array_sort(collect_set({{ value }})
            {%- if condition %} filter (where {{ condition }}){% endif %})
    {%- endset -%}
    case when size({{ values }}) > 0 then array_join({{ values }}, {{ separator }}) end
{%- endmacro %}


-- The list of the parts of string `value` between occurrences of the one character `separator`
-- (a plain string, not SQL: '|').
{% macro split_list(value, separator) -%}
    {{ return(adapter.dispatch('split_list', 'iop')(value, separator)) }}
{%- endmacro %}

{% macro default__split_list(value, separator) -%}
    string_split({{ value }}, '{{ separator }}')
{%- endmacro %}

{% macro spark__split_list(value, separator) -%}
    {#- Spark's split takes a regular expression: a character class matches the character as is -#}
    split({{ value }}, '[{{ separator }}]', -1)
{%- endmacro %}


-- A select-list item: one row per element of the list `values`, named `name`.
{% macro unnest_list(values, name) -%}
    {{ return(adapter.dispatch('unnest_list', 'iop')(values, name)) }}
{%- endmacro %}

{% macro default__unnest_list(values, name) -%}
    unnest({{ values }}) as {{ name }}
{%- endmacro %}

{% macro spark__unnest_list(values, name) -%}
    explode({{ values }}) as {{ name }}
{%- endmacro %}


-- Select-list items: one row per element of the list `values`, its value named `name` and its
-- position in the list (1 = first) named `position_name`.
{% macro unnest_with_position(values, name, position_name) -%}
    {{ return(adapter.dispatch('unnest_with_position', 'iop')(values, name, position_name)) }}
{%- endmacro %}

{% macro default__unnest_with_position(values, name, position_name) -%}
    unnest({{ values }}) as {{ name }}
    , unnest(range(1, len({{ values }}) + 1)) as {{ position_name }}
{%- endmacro %}

{% macro spark__unnest_with_position(values, name, position_name) -%}
    inline(transform({{ values }}
        , (v, i) -> named_struct('{{ name }}', v, '{{ position_name }}', i + 1)))
{%- endmacro %}


-- Select-list items: one row per entry of `rows` (a list of lists of SQL expressions, one per
-- column), its columns named `names`. DuckDB: parallel unnests of literal lists.
{% macro unnest_rows(names, rows) -%}
    {{ return(adapter.dispatch('unnest_rows', 'iop')(names, rows)) }}
{%- endmacro %}

{% macro default__unnest_rows(names, rows) -%}
    {%- for name in names %}
    {%- set column = loop.index0 %}
    {{- ', ' if not loop.first }}unnest([
        {%- for row in rows %}{{ ', ' if not loop.first }}{{ row[column] }}{% endfor %}]) as {{ name }}
    {%- endfor %}
{%- endmacro %}

{% macro spark__unnest_rows(names, rows) -%}
    inline(array(
    {%- for row in rows %}{{ ', ' if not loop.first }}named_struct(
        {%- for name in names -%}
            {{ ', ' if not loop.first }}'{{ name }}', {{ row[loop.index0] }}
        {%- endfor %})
    {%- endfor %}))
{%- endmacro %}


-- A select-list item: one row per day from date `first_day` to date `last_day` (none when
-- `last_day` is earlier or either is null), named `name`.
{% macro unnest_days(first_day, last_day, name) -%}
    {{ return(adapter.dispatch('unnest_days', 'iop')(first_day, last_day, name)) }}
{%- endmacro %}

{% macro default__unnest_days(first_day, last_day, name) -%}
    unnest(generate_series({{ first_day }}, {{ last_day }}, interval 1 day))::date as {{ name }}
{%- endmacro %}

{% macro spark__unnest_days(first_day, last_day, name) -%}
    {#- sequence() fails on a descending range with a positive step: no list (no row) instead -#}
    explode(case when {{ last_day }} >= {{ first_day }}
        then sequence({{ first_day }}, {{ last_day }}, interval 1 day) end) as {{ name }}
{%- endmacro %}


-- A select-list item: one row per integer (type integer) from `start` to `stop` - 1 (none when
-- `stop` <= `start`), named `name`.
{% macro unnest_range(start, stop, name) -%}
    {{ return(adapter.dispatch('unnest_range', 'iop')(start, stop, name)) }}
{%- endmacro %}

{% macro default__unnest_range(start, stop, name) -%}
    unnest(range({{ start }}, {{ stop }}))::integer as {{ name }}
{%- endmacro %}

{% macro spark__unnest_range(start, stop, name) -%}
    explode(case when {{ stop }} > {{ start }}
        then sequence(cast({{ start }} as integer), cast({{ stop }} - 1 as integer)) end)
        as {{ name }}
{%- endmacro %}
