-- Display labels for coded mart columns: `{{ label('teds_los') }}` is the expression
-- `<label of teds_los> as teds_los_label`, so a mart selects each coded column followed by its
-- label. Labels come from the value sets (sql/seeds): a code set is a seed, its code column and
-- its label column (renamed inside the lookup, so that the mart's column, named like the seed's,
-- binds to the mart's row). Codes sharing a label (TEDS-D SERVICES_D 6 is both PHP and IOP) pick
-- the alphabetically first, so the lookup is one value per code. A code outside the value set (a
-- roll-up 'All', 'not_recorded') gets the label the model gives it. tests/test_analyst_marts.py
-- checks that every coded column (meta.values or meta.labels in the yml docs) has its label
-- column beside it and that no label is null where the code is not.
{% macro _label_sets() -%}
    {{ return({
        'level_of_care': ('level_of_care', 'level_of_care', 'description'),
        'discharge_reason': ('discharge_reason', 'discharge_reason', 'label'),
        'teds_reason': ('discharge_reason', 'teds_reason', 'teds_reason_label'),
        'teds_services_d': ('level_of_care', 'teds_services_d', 'teds_services_d_label'),
        'teds_los': ('teds_los_bins', 'teds_los', 'label'),
    }) }}
{%- endmacro %}

-- label(column, code_set=column, fixed=none, alias=column ~ '_label', code_set_expr=none)
--   column:   the code column or expression (qualify it when the name is ambiguous; then give
--             the alias).
--   code_set: a key of _label_sets() or a code_set of seeds.code_labels; or, for a column whose
--             code set depends on the row (demographic_utilization.dimension_value), a SQL
--             expression naming it, passed as code_set_expr.
--   fixed:    labels of codes outside the value set, e.g. {'All': 'All programs'} for a roll-up
--             row or {'not_recorded': 'Not recorded'}.
{% macro label(column, code_set=none, fixed=none, alias=none, code_set_expr=none) -%}
    {%- set code_set = code_set or column -%}
    {%- set alias = alias or column ~ '_label' -%}
    {%- set sets = _label_sets() -%}
    {%- if code_set_expr is not none -%}
    {%- set lookup -%}
        (select min(_l._t) from (select code_set as _s, code as _c, label as _t
            from {{ ref('code_labels') }}) as _l
         where _l._s = {{ code_set_expr }} and _l._c = {{ column }}::string)
    {%- endset -%}
    {%- elif code_set in sets -%}
    {%- set seed, code, text = sets[code_set] -%}
    {%- set lookup -%}
        (select min(_l._t) from (select {{ code }} as _c, {{ text }} as _t
            from {{ ref(seed) }}) as _l
         where _l._c = {{ column }}::string)
    {%- endset -%}
    {%- else -%}
    {%- set lookup -%}
        (select min(_l._t) from (select code_set as _s, code as _c, label as _t
            from {{ ref('code_labels') }}) as _l
         where _l._s = '{{ code_set }}' and _l._c = {{ column }}::string)
    {%- endset -%}
    {%- endif -%}
    {%- if fixed -%}
    case {{ column }}::string
        {%- for code, text in fixed.items() %} when '{{ code }}' then '{{ text }}'{% endfor %}
        else {{ lookup }} end as {{ alias }}
    {%- else -%}
    {{ lookup }} as {{ alias }}
    {%- endif -%}
{%- endmacro %}
