-- Relation names. A model file is `<layer>__<table>.sql` (as in the Tuva Project), in the folder
-- of its layer: the schema is the layer and the table the part after `__`, so
-- sql/core/core__episodes.sql builds core.episodes and sql/marts/marts__episodes.sql builds
-- marts.episodes. Seeds go to schema seeds; an explicit `schema` config is used as is.

{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name -%}
        {{ custom_schema_name | trim }}
    {%- elif node.resource_type == 'seed' -%}
        seeds
    {%- elif '__' in node.name -%}
        {{ node.name.split('__', 1)[0] }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}

{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif '__' in node.name -%}
        {{ node.name.split('__', 1)[1] }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
