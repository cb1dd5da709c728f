-- Engine differences of the cost, treatment-intensity, program-quality and reconciliation marts,
-- chosen by dbt's adapter.dispatch as in sql/macros/engines.sql: `default__` is DuckDB's SQL,
-- unchanged; `spark__` is Spark SQL giving the same values. (These marts also use sha256_hex(),
-- written once for marts.episodes and core.)


-- A select-list item: one row per month from date `first_month` to date `last_month` (firsts of
-- months; none when `last_month` is earlier or either is null), named `name`.
{% macro unnest_months(first_month, last_month, name) -%}
    {{ return(adapter.dispatch('unnest_months', 'iop')(first_month, last_month, name)) }}
{%- endmacro %}

{% macro default__unnest_months(first_month, last_month, name) -%}
    unnest(generate_series({{ first_month }}, {{ last_month }}, interval 1 month))::date
        as {{ name }}
{%- endmacro %}

{% macro spark__unnest_months(first_month, last_month, name) -%}
    {#- sequence() fails on a descending range with a positive step: no list (no row) instead -#}
    explode(case when {{ last_month }} >= {{ first_month }}
        then sequence({{ first_month }}, {{ last_month }}, interval 1 month) end) as {{ name }}
{%- endmacro %}


-- `value` (a double) rounded to `digits` decimals as DuckDB rounds a double: its exact binary
-- value to the nearest, halves away from zero (67.925 is 67.92499999999999716: 67.92). Spark's
-- round() rounds the shortest decimal that prints the double (67.925: 67.93), and the product
-- p = value x 10^digits is itself rounded (6792.5). So on Spark: p, and its rounding error e
-- (Dekker's exact product: value split into two halves of 26 bits, each times 10^digits exact);
-- p rounds to its nearest integer unless p is a half, which then goes the way e points (away from
-- zero when e = 0). Spark's round(p, 0) is exact when p is not a half (it cannot print as one).
-- A decimal `value`: DuckDB's `/` of a decimal is a double already; cast the decimal to double
-- before dividing, so that Spark divides the same doubles.
{% macro round_double(value, digits) -%}
    {{ return(adapter.dispatch('round_double', 'iop')(value, digits)) }}
{%- endmacro %}

{% macro default__round_double(value, digits) -%}
    round({{ value }}, {{ digits }})
{%- endmacro %}

{% macro spark__round_double(value, digits) -%}
    {%- set scale = 10 ** digits -%}
    {%- set x = 'cast(' ~ value ~ ' as double)' -%}
    {%- set p = '(' ~ x ~ ' * ' ~ scale ~ ')' -%}
    {%- set high = '(' ~ x ~ ' * 134217729 - (' ~ x ~ ' * 134217729 - ' ~ x ~ '))' -%}
    {%- set e = '((' ~ high ~ ' * ' ~ scale ~ ' - ' ~ p ~ ') + (' ~ x ~ ' - ' ~ high ~ ') * '
        ~ scale ~ ')' -%}
    (case
        when {{ p }} - floor({{ p }}) <> 0.5 then round({{ p }}, 0)
        when {{ e }} > 0 or ({{ e }} = 0 and {{ p }} > 0) then ceil({{ p }})
        else floor({{ p }})
    end / {{ scale }})
{%- endmacro %}


-- The continuous quantile (linear interpolation) of `value` at `fraction`, over the rows for which
-- `where` holds (all rows when none), computed as DuckDB computes quantile_cont, so that both
-- engines give the same double: with the values sorted, n of them, at position
-- pos = (n - 1) x fraction, lo + (hi - lo) x (pos - floor(pos)) where lo and hi are the values at
-- floor(pos) and ceil(pos). Spark's percentile_cont weighs the two the other way round
-- ((ceil(pos) - pos) x lo + (pos - floor(pos)) x hi), which may differ in the last bit, and the
-- midpoint of two cents amounts is exactly where rounding to cents turns. A decimal `value` with
-- `scale` decimals (money): DuckDB interpolates its unscaled integers and truncates the result
-- toward zero to that scale (the median of 10.01 and 10.02 is 10.01).
{% macro continuous_quantile(value, fraction, where=none, scale=none) -%}
    {{ return(adapter.dispatch('continuous_quantile', 'iop')(value, fraction, where, scale)) }}
{%- endmacro %}

{% macro default__continuous_quantile(value, fraction, where, scale) -%}
    percentile_cont({{ fraction }}) within group (order by {{ value }})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro spark__continuous_quantile(value, fraction, where, scale) -%}
    {%- set units = value if scale is none else 'cast(round((' ~ value ~ ') * ' ~ 10 ** scale
        ~ ') as bigint)' -%}
    {%- set pos = '(size(_q) - 1) * cast(' ~ fraction ~ ' as double)' -%}
    {%- set lo = '_q[cast(floor(' ~ pos ~ ') as int)]' -%}
    {%- set hi = '_q[cast(ceil(' ~ pos ~ ') as int)]' -%}
    {%- set interpolated = lo ~ ' + (' ~ hi ~ ' - ' ~ lo ~ ') * (' ~ pos ~ ' - floor(' ~ pos
        ~ '))' -%}
    transform(
        array(array_sort(
            collect_list({{ units }}){% if where %} filter (where {{ where }}){% endif %}))
        , _q -> case when size(_q) > 0 then
            {%- if scale is none %} {{ interpolated }}
            {%- else %} cast({{ interpolated }} as bigint) / {{ 10 ** scale }}
            {%- endif %} end
    )[0]
{%- endmacro %}
