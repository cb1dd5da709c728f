-- count_distinct_persons(column): count(distinct <column>) of a person's key or id (person_key,
-- person_id), exact, and on DuckDB counted on the 64-bit hash() of it when no two persons share
-- one. The marts' families count distinct persons in grouping sets; over 64-character keys most of
-- that time goes to hashing and comparing strings (at size L, 14.4 -> 12.5 s over the marts that
-- count persons). Equal values hash equal, so counting hashes is exact unless two different
-- persons' values share a hash: intermediate.person_hash_collisions counts that once a run, over
-- every person, and with one shared hash (or no count yet, on Spark, whose hash() has 32 bits, and
-- in a dbt unit test) the values themselves are counted. Append a FILTER clause after the call.
-- Only for person_key and person_id, whose values all come from core.persons.
{% macro count_distinct_persons(column) -%}
    {%- if in_unit_test() -%}
        count(distinct {{ column }})
    {%- else -%}
        {%- set collisions = ref('intermediate__person_hash_collisions') -%}
        {{- adapter.dispatch('count_distinct_persons', 'iop')(column, collisions) -}}
    {%- endif -%}
{%- endmacro %}

{% macro default__count_distinct_persons(column, collisions) -%}
    {%- set hashed = false -%}
    {%- if execute and adapter.get_relation(
        database=collisions.database, schema=collisions.schema, identifier=collisions.identifier
    ) is not none -%}
        {%- set hashed = run_query(
            "select count(*) = 1 and bool_and(shared_key_hashes = 0 and shared_id_hashes = 0) from "
            ~ collisions
        ).columns[0].values()[0] -%}
    {%- endif -%}
    count(distinct {{ 'hash(' ~ column ~ ')' if hashed else column }})
{%- endmacro %}

{% macro spark__count_distinct_persons(column, collisions) -%}
    count(distinct {{ column }})
{%- endmacro %}
