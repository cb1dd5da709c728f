-- Incremental refresh of the core layer (README, "What a refresh recomputes").
--
-- A run recomputes the core rows of what its files changed, and nothing else:
-- * core.file_changes: the files added and dropped (superseded, removed, excluded) since the core
--   layer last applied its inputs (core.applied_files, written at the end of each core step);
-- * core.change_scope: the clients, members and claim ids those files carry (core.file_keys),
--   closed over claim chains (a replacement or a void links claims, possibly of other members) and
--   roster links (a roster row links a member to a client), plus the persons those keys had;
-- * core.changed_persons: those persons and the ones the keys have now;
-- * every person-level core table deletes the rows of the changed clients, members or persons and
--   inserts them again, computed from the already refreshed tables upstream.
-- A full refresh (`dbt build --full-refresh`, iop/build_state.py decides when) rebuilds every table
-- from staging; so does the first build. Rows that depend on the whole data set (the as-of date of
-- core.episodes and core.transitions) are computed in views, never stored.
-- An engine that cannot delete a table's rows (Spark: dbt-spark has no delete+insert without
-- Delta) rebuilds every table on every run, as a full refresh does (engine_refreshes_by_scope()).


-- Whether the engine refreshes the core layer by change scope: DuckDB deletes the scope's rows
-- and appends them again. On Spark every run builds each core table (and each mart refreshed by
-- scope) whole, as a table, and no model reads what a previous build left. The one place that
-- decides it.
{% macro engine_refreshes_by_scope() -%}
    {{- return(engine_supports_delete()) -}}
{%- endmacro %}


-- The relation a model (schema, table) held before this run, or none: how the change scope reads
-- the state the previous run left (core.applied_files, core.persons) before this run replaces it.
-- Deliberately not a ref(): a ref would order this run's build of that table first. None in a dbt
-- unit test (no previous run), and on an engine that builds every table whole (as on a first
-- build).
{% macro previous_state(schema, table) -%}
    {%- if not execute or in_unit_test() or not engine_refreshes_by_scope() -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(adapter.get_relation(database=this.database, schema=schema, identifier=table)) -}}
{%- endmacro %}


-- Whether this run refreshes the core layer by change scope: the engine does, not a full refresh,
-- and a previous core step finished (core.applied_files exists). Otherwise every core table is
-- rebuilt whole.
{% macro core_incremental() -%}
    {{- return(execute and engine_refreshes_by_scope() and not flags.FULL_REFRESH
        and previous_state('core', 'applied_files') is not none) -}}
{%- endmacro %}


-- Whether this model's build is by change scope: an incremental table that exists, in a run that
-- refreshes by scope.
{% macro scoped() -%}
    {{- return(is_incremental() and core_incremental()) -}}
{%- endmacro %}


-- Config of a core table refreshed by scope: the rows of the scope are deleted, then the model's
-- rows for the scope appended. `delete_where` is the SQL condition (on the table's own columns) of
-- the rows to recompute; a run that is not by scope empties the table first. On an engine that does
-- not refresh by scope: a table, built whole.
{% macro scoped_incremental_config(delete_where) -%}
    {%- do append_after_hook_config("{% if is_incremental() %}delete from {{ this }}"
        ~ "{% if core_incremental() %} where " ~ delete_where ~ "{% endif %}{% endif %}") -%}
{%- endmacro %}


-- Config of an incremental table that appends its rows after `pre_hook` (which deletes what the
-- run recomputes); on an engine that deletes no rows (Spark), a table built whole.
{% macro append_after_hook_config(pre_hook) -%}
    {%- if not engine_supports_delete() -%}
        {%- do config(materialized='table') -%}
    {%- else -%}
        {%- do config(materialized='incremental', incremental_strategy='append', pre_hook=[pre_hook]) -%}
    {%- endif -%}
{%- endmacro %}


-- A dbt unit test of a model builds it whole from its given rows: no change scope.
{% macro in_unit_test() -%}
    {{- return(model is defined and model.resource_type == 'unit_test') -}}
{%- endmacro %}


-- The delete condition (a hook's text, rendered when the hook runs) of the rows whose `column` is
-- a key of `kind` in the change scope, and of the rows of the changed persons.
{% macro scope_rows(column, kind) -%}
    {{- return(column ~ " in (select key_value from {{ ref('core__change_scope') }} where key_kind = '"
        ~ kind ~ "')") -}}
{%- endmacro %}

{% macro changed_person_rows() -%}
    {{- return("person_id in (select person_id from {{ ref('core__changed_persons') }})") -}}
{%- endmacro %}


-- SQL condition: `column` is one of the keys of `kind` (client, member, claim, person) in the
-- change scope; `true` on a full build.
{% macro in_change_scope(column, kind) -%}
    {%- if in_unit_test() -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set scope = ref('core__change_scope') -%}  {#- a dependency on every build, full or not -#}
    {%- if scoped() -%}
        {{ column }} in (select key_value from {{ scope }} where key_kind = '{{ kind }}')
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


-- SQL condition: the person is one whose inputs changed; `true` on a full build.
{% macro in_changed_persons(column='person_id') -%}
    {{- changed_person_condition(column, not in_unit_test() and scoped()) -}}
{%- endmacro %}


-- `column` in core.changed_persons (or the persons of model `persons_model`) when `by_scope`, else
-- `true` (and `true` in a unit test, which builds a model whole from its given rows).
{% macro changed_person_condition(column, by_scope, persons_model='core__changed_persons') -%}
    {%- if in_unit_test() -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set persons = ref(persons_model) -%}  {#- a dependency on every build -#}
    {%- if by_scope -%}
        {{ column }} in (select person_id from {{ persons }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}



-- Marts refreshed by change scope (marts.reconciliation_person_day): a mart whose every row is
-- one person's deletes the rows of core.changed_persons and appends them computed again. That is
-- sound only when the marts saw every earlier core step: the marts step sets the var
-- marts_by_scope only when the run's previous run built staging, core and marts whole
-- (assets/dbt.py, iop/build_state.py); otherwise, and when a row of the model's config
-- `rebuild_when` ({'model': <a model it refs>, 'where': <condition>}) meets the condition, the
-- mart is computed whole.
{% macro mart_scoped() -%}
    {%- if not (is_incremental() and core_incremental() and var('marts_by_scope', false)) -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set rebuild_when = config.get('rebuild_when') -%}
    {%- if rebuild_when -%}
        {%- set query -%}
            select count(*) > 0 from {{ ref(rebuild_when['model']) }} where {{ rebuild_when['where'] }}
        {%- endset -%}
        {{- return(not run_query(query).columns[0].values()[0]) -}}
    {%- endif -%}
    {{- return(true) -}}
{%- endmacro %}


-- Config of a mart refreshed by change scope: `person_keys` is the hook's query of the person keys
-- whose rows a refresh deletes and computes again; `rebuild_when` see mart_scoped(). On an engine
-- that does not refresh by scope: a table, built whole.
-- The hook first notes what the build changes in audit.mart_changes (the person keys; a null key:
-- the whole mart), which the publication reads to copy only those rows (iop/publish.py) and
-- empties once it has published them.
{% macro mart_scoped_config(person_keys, rebuild_when) -%}
    {%- if not engine_refreshes_by_scope() -%}
        {%- do config(materialized='table', rebuild_when=rebuild_when) -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set changes = "audit.mart_changes" -%}  {#- made by on-run-start: create_mart_changes() -#}
    {%- do config(
        materialized='incremental'
        , incremental_strategy='append'
        , rebuild_when=rebuild_when
        , pre_hook=[
            "{% if is_incremental() and mart_scoped() %}insert into " ~ changes
                ~ " select '{{ this.identifier }}', person_key from (" ~ person_keys ~ ")"
                ~ "{% else %}insert into " ~ changes ~ " values ('{{ this.identifier }}', null)"
                ~ "{% endif %}"
            , "{% if is_incremental() %}delete from {{ this }}"
                ~ "{% if mart_scoped() %} where person_key in (" ~ person_keys ~ "){% endif %}"
                ~ "{% endif %}"
        ]
    ) -%}
{%- endmacro %}


-- The table of mart changes a publication has not copied yet (mart_scoped_config), made before
-- any model runs (on-run-start), so that marts built in parallel do not race to make it.
{% macro create_mart_changes() -%}
    {%- if execute and engine_refreshes_by_scope() -%}
        create schema if not exists audit;
        create table if not exists audit.mart_changes (mart varchar, person_key varchar)
    {%- endif -%}
{%- endmacro %}


-- SQL condition: the person is one whose inputs changed, on a mart build by scope; else `true`.
{% macro in_mart_scope(column='person_id') -%}
    {{- changed_person_condition(column, not in_unit_test() and mart_scoped()) -}}
{%- endmacro %}


-- SQL condition: the person is one whose per-episode mart rows are computed again
-- (intermediate.episode_scope), on a mart build by scope; else `true`.
{% macro in_episode_scope(column='person_id') -%}
    {{- changed_person_condition(
        column, not in_unit_test() and mart_scoped(), 'intermediate__episode_scope') -}}
{%- endmacro %}


-- The person keys (a hook's query) of a per-episode mart's rows of intermediate.episode_scope.
{% macro episode_scope_keys() -%}
    {{- return("select person_key from {{ ref('intermediate__episode_scope') }}") -}}
{%- endmacro %}


-- SQL condition on a staging table: the row's file is one core.file_keys has not indexed yet
-- (on an incremental build a constant list, which DuckDB prunes the table's row groups with).
{% macro pending_core_files() -%}
    {%- if in_unit_test() -%}
        true
    {%- elif scoped() -%}
        {%- set query -%}
            select file_sha256 from {{ ref('core__file_changes') }}
            where change = 'added'
                and {{ file_id('file_sha256') }} not in (select file_id from {{ this }})
            order by 1
        {%- endset -%}
        {{ file_list_condition(query) }}
    {%- else -%}
        {%- do ref('core__file_changes') -%}
        true
    {%- endif -%}
{%- endmacro %}


-- Tables whose rows win by landing (core.sessions, core.census): for each natural key the row of
-- the latest landed file wins (then the larger file name, then the later row); the table keeps the
-- winner's landed_at, source_file and source_row. A run by scope merges instead of recomputing
-- whole clients: the rows of the files it adds compete only with the row the table holds for
-- their key. The hook deletes the held rows a new row beats (and every row of the clients of a
-- dropped file, which are computed again from all their staged rows); the model inserts the best
-- new row of each key the table no longer holds. `source_model`: the staging model; `kind`: the
-- core.file_keys kind of its files' clients; `key`: the natural key's columns.
{% macro latest_landed_config(source_model, kind, key) -%}
    {%- do append_after_hook_config("{% if is_incremental() %}{{ latest_landed_delete('"
        ~ source_model ~ "', '" ~ kind ~ "', " ~ tojson(key) ~ ") }}{% endif %}") -%}
{%- endmacro %}


{% macro latest_landed_delete(source_model, kind, key) -%}
    delete from {{ this }}
    {%- if core_incremental() %}
    where client_id in ({{ dropped_file_clients(kind) }})
        or rowid in (
            select held.rowid
            from {{ this }} as held
            join ({{ latest_landed_new_rows(source_model, kind) }}) as new
                on {{ same_key('held', 'new', key) }}
            where (new._landed_at, new._source_file, new._row_number)
                > (held.landed_at, held.source_file, held.source_row)
        )
    {%- endif %}
{%- endmacro %}


-- The rows a latest-landed table's winners are chosen from: on a run by scope, the rows of the
-- added files and every row of the clients of dropped files; else every staged row.
{% macro latest_landed_candidates(source_model, kind) -%}
    {%- if not in_unit_test() and scoped() -%}
    (
        {{ latest_landed_new_rows(source_model, kind) }}
        union all
        select * from {{ ref(source_model) }}
        where client_id in ({{ dropped_file_clients(kind) }})
    )
    {%- else -%}
    {{ ref(source_model) }}
    {%- endif -%}
{%- endmacro %}


-- SQL condition on a latest-landed table's winners (alias `winner`): on a run by scope, the table
-- no longer holds a row of the key (the hook deleted the row the winner beats; a held row that
-- beats it stays); else `true`.
{% macro latest_landed_not_held(key) -%}
    {%- if not in_unit_test() and scoped() -%}
    not exists (select 1 from {{ this }} as held where {{ same_key('held', 'winner', key) }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}


-- The staged rows of the files this run adds, but those of the clients of dropped files.
{% macro latest_landed_new_rows(source_model, kind) -%}
    select * from {{ ref(source_model) }}
    where {{ added_files_condition() }}
        and client_id not in ({{ dropped_file_clients(kind) }})
{%- endmacro %}


-- The clients (core.file_keys kind `kind`) of the files this run drops (superseded, removed,
-- excluded).
{% macro dropped_file_clients(kind) -%}
    select k.key_value as client_id
    from {{ ref('core__file_keys') }} as k
    join {{ ref('core__file_changes') }} as c on k.file_id = {{ file_id('c.file_sha256') }}
    where c.change <> 'added' and k.key_kind = '{{ kind }}'
{%- endmacro %}


-- SQL condition on a staging table: the row's file is one this run adds (core.file_changes), as a
-- constant list, which DuckDB prunes the table's row groups with; `true` in a unit test (its given
-- rows are the new ones).
{% macro added_files_condition() -%}
    {%- if in_unit_test() -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set query -%}
        select file_sha256 from {{ ref('core__file_changes') }} where change = 'added' order by 1
    {%- endset -%}
    {{- file_list_condition(query) -}}
{%- endmacro %}


-- SQL condition: `_file_sha256` is one of the files `query` returns, written out as a constant
-- list (no file: false). Run when the model runs.
{% macro file_list_condition(query) -%}
    {%- set files = run_query(query).columns[0].values() | list if execute else [] -%}
    _file_sha256 in ({{ "'" ~ files | join("', '") ~ "'" if files else 'null' }})
{%- endmacro %}


-- SQL condition: rows `left` and `right` have the same natural key (columns `key`; null equals null).
{% macro same_key(left, right, key) -%}
    {%- for column in key %}{{ ' and ' if not loop.first }}{{ left }}.{{ column }} is not distinct from {{ right }}.{{ column }}{% endfor -%}
{%- endmacro %}


-- The keys (core.file_keys) of the files this run adds or drops (core.file_changes).
{% macro changed_file_keys() -%}
    select distinct k.key_kind, k.key_value
    from {{ ref('core__file_keys') }} as k
    join {{ ref('core__file_changes') }} as c on k.file_id = {{ file_id('c.file_sha256') }}
{%- endmacro %}


-- Every client x member link of the staged roster rows.
{% macro roster_links() -%}
    select distinct client_id, member_id
    from {{ ref('staging__roster') }}
    where member_id is not null
{%- endmacro %}


-- The relation a model refreshed by change scope reads core.claim_lines or core.sessions (`model`)
-- from. On a refresh by scope: core.<table>_of_changed_persons, the rows of the changed persons
-- copied once a run, so the large table is scanned once instead of once per model that reads it
-- (at size L, 30M claim lines: ~2 s a scan). Otherwise the whole table: a build that is not by
-- scope, a dbt unit test, and a dbt invocation that does not build the copy (a selection without
-- it would read the copy of an earlier run's persons). Every model that reads it keeps its own
-- filter on core.changed_persons.
{% macro rows_of_changed_persons(model) -%}
    {%- set whole = ref(model) -%}
    {%- if in_unit_test() -%}
        {{- return(whole) -}}
    {%- endif -%}
    {%- set copy = ref(model ~ '_of_changed_persons') -%}
    {%- set copy_id = 'model.' ~ project_name ~ '.' ~ model ~ '_of_changed_persons' -%}
    {%- if scoped() and copy_id in selected_resources -%}
        {{- return(copy) -}}
    {%- endif -%}
    {{- return(whole) -}}
{%- endmacro %}


-- The same for a mart refreshed by change scope (mart_scoped()), in the marts step's own dbt
-- invocation: the copy when the run's core step built it (the marts step's var
-- core_copies_of_this_run, assets/dbt.py: the step recorded whole in this run), so that it holds
-- the rows of the core.changed_persons the mart's scope reads; otherwise the whole table.
{% macro rows_of_changed_persons_in_marts(model) -%}
    {%- set whole = ref(model) -%}
    {%- set copy = ref(model ~ '_of_changed_persons') -%}  {#- a dependency on every build -#}
    {%- if not in_unit_test() and var('core_copies_of_this_run', false) and mart_scoped() -%}
        {{- return(copy) -}}
    {%- endif -%}
    {{- return(whole) -}}
{%- endmacro %}


-- Condition of the copies core.<table>_of_changed_persons: the rows of core.changed_persons on a
-- run by change scope (and in a dbt unit test, of the persons it gives), none otherwise (no model
-- reads the copy then).
{% macro of_changed_persons_this_run(column='person_id') -%}
    {%- set persons = ref('core__changed_persons') -%}  {#- a dependency on every build -#}
    {%- if in_unit_test() or core_incremental() -%}
        {{ column }} in (select person_id from {{ persons }})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}
