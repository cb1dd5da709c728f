-- Statistics several marts share.

-- 95% Wilson score interval for a proportion of `successes` in `n` trials (null when n = 0).
{% macro wilson_low(successes, n) -%}
    case when {{ n }} > 0 then
        (({{ successes }} / {{ n }}) + power(1.96, 2) / (2 * {{ n }})
            - 1.96 * sqrt(({{ successes }} / {{ n }}) * (1 - {{ successes }} / {{ n }}) / {{ n }}
                + power(1.96, 2) / (4 * power({{ n }}, 2))))
        / (1 + power(1.96, 2) / {{ n }})
    end
{%- endmacro %}

{% macro wilson_high(successes, n) -%}
    case when {{ n }} > 0 then
        (({{ successes }} / {{ n }}) + power(1.96, 2) / (2 * {{ n }})
            + 1.96 * sqrt(({{ successes }} / {{ n }}) * (1 - {{ successes }} / {{ n }}) / {{ n }}
                + power(1.96, 2) / (4 * power({{ n }}, 2))))
        / (1 + power(1.96, 2) / {{ n }})
    end
{%- endmacro %}
