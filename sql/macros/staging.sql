-- Staging of a source layout, one macro per contract: a layout's staging model
-- (sql/staging/staging__<layout>.sql) is one call, e.g. {{ stage_attendance('attendance_vendor_b') }},
-- and reads its column names, labels and date formats from sql/macros/layouts.sql.
--
-- Every staging model has the same shape: the lineage columns, the contract's typed columns, then
-- `_rule` (the first hard rule the row breaks, null = accepted; rules in the order of
-- docs/input_layouts.md), `_detail` (why, naming the columns as the layout delivers them) and
-- `_raw_record` (the row as delivered, for rejected rows only). Codes come from
-- sql/seeds/source_code_map.csv (plus the site's additions) under the layout's name and the
-- delivered column's normalized name.


-- The canonical columns of each contract, in the order staging.<contract> carries them (835
-- remittances have no union: staging.remittance_835 is their contract).
{% macro contract_columns(contract) -%}
    {%- set columns = {
        'attendance': [
            'client_id', 'program', 'level_of_care', 'session_date', 'start_time', 'service_type'
            , 'minutes', 'attendance_status', 'clinician_id'
        ]
        , 'census': [
            'client_id', 'program', 'level_of_care', 'admit_date', 'discharge_date', 'discharge_reason'
            , 'discharge_reason_text'
        ]
        , 'roster': [
            'client_id', 'member_id', 'payer', 'birth_date', 'sex', 'race', 'ethnicity'
        ]
        , 'claims': [
            'claim_id', 'original_claim_id', 'claim_frequency_code', 'line_number', 'claim_type'
            , 'member_id', 'payer', 'service_from_date', 'service_to_date', 'place_of_service'
            , 'bill_type', 'revenue_code', 'procedure_code', 'modifiers', 'units', 'charge_amount'
            , 'allowed_amount', 'paid_amount', 'diagnosis_codes', 'rendering_npi', 'billing_npi'
            , 'received_date', 'adjudicated_date'
        ]
        , 'remittance': [
            'claim_id', 'claim_status', 'payer_claim_control_number', 'line_number', 'member_id'
            , 'payer', 'procedure_code', 'modifiers', 'revenue_code', 'units', 'charge_amount'
            , 'paid_amount', 'adjustment_amount', 'adjustment_codes', 'service_date'
            , 'line_control_number', 'payment_date'
        ]
    } -%}
    {{- return(columns[contract]) -}}
{%- endmacro %}


-- Columns a layout of the contract may deliver that staging drops (minimum necessary: no mart
-- needs them; raw/ keeps them as delivered, and a quarantined row's _raw_record).
{% macro dropped_columns(contract) -%}
    {{- return({'roster': ['first_name', 'last_name', 'zip']}.get(contract, [])) -}}
{%- endmacro %}


-- staging.<contract>: the accepted rows of every layout of the contract, tagged with the layout.
{% macro union_accepted(contract) -%}
{%- set names = iop_layout_names(contract) -%}
{%- if not names -%}
    {{ exceptions.raise_compiler_error("no layout in sql/macros/layouts.sql has contract " ~ contract) }}
{%- endif -%}
{%- for name in names %}
{% if not loop.first %}
union all

{% endif -%}
select '{{ name }}' as source_layout
    , {{ contract_columns(contract) | join('\n    , ') }}
    , _source_file, _file_sha256, _row_number, _landed_at
from {{ ref('staging__' ~ name) }}
where _rule is null
{%- endfor %}
{%- endmacro %}


-- The layout a staging model stages, checked against the macro's contract and the model's name
-- (a copied model still naming the layout it was copied from would stage that layout twice).
{% macro staging_layout(name, contract, required) -%}
    {%- do staging_incremental_config() -%}
    {%- set layout = iop_layout(name) -%}
    {%- if layout.contract != contract -%}
        {{ exceptions.raise_compiler_error(
            "layout " ~ name ~ " has contract " ~ layout.contract ~ "; stage it with stage_"
            ~ layout.contract ~ "()") }}
    {%- endif -%}
    {%- if model is defined and model.resource_type == 'model' and model.name != 'staging__' ~ name -%}
        {{ exceptions.raise_compiler_error(
            "model " ~ model.name ~ " stages layout " ~ name ~ ": a layout's staging model is "
            ~ "staging__" ~ name) }}
    {%- endif -%}
    {%- set known = contract_columns(contract) + dropped_columns(contract) -%}
    {%- for canonical in layout.column if canonical not in known -%}
        {{ exceptions.raise_compiler_error(
            "layout " ~ name ~ " maps " ~ layout.label[canonical] ~ " to " ~ canonical
            ~ ", which is not a column of the " ~ contract ~ " contract: " ~ known | join(', ')) }}
    {%- endfor -%}
    {%- for canonical in required if canonical not in layout.column -%}
        {{ exceptions.raise_compiler_error(
            "layout " ~ name ~ " maps no delivered column to " ~ canonical
            ~ " (sql/macros/layouts.sql), which the " ~ contract ~ " rules need") }}
    {%- endfor -%}
    {{- return(layout) -}}
{%- endmacro %}


-- raw.<layout>. The raw views are written together with raw.registry (their file lists are its
-- ingested entries) by the registry asset, so dbt's lineage names that source; declaring one dbt
-- source per layout would make adding a layout touch sources.yml as well. In a dbt unit test of a
-- staging model, the input source('raw', 'registry') stands for the layout's raw rows (given with
-- `format: sql`: dbt checks dict and csv fixtures against raw.registry's own columns).
--
-- Staging is incremental per landed file (README, "What a refresh recomputes"): a file's rows are
-- a function of its content (its SHA-256), the layout, the rules and the value sets, so a run
-- stages only the ingested files the table does not hold yet, and first deletes the rows of files
-- no longer ingested (superseded by a corrected re-export of the same name, removed from landing,
-- or excluded). A change of the rules or value sets makes the run a full one (iop/build_state.py).
{% macro staging_source(layout) -%}
    {%- set registry = source('raw', 'registry') -%}
    {%- if model is defined and model.resource_type == 'unit_test' -%}
        {{- return(registry) -}}
    {%- endif -%}
    {%- set raw = registry.incorporate(path={'identifier': layout.name}) -%}
    {%- if is_incremental() -%}
        {#- a constant list, which DuckDB pushes into the Parquet scan: only new files are read -#}
        {%- set pending = staging_pending_files(layout, registry) -%}
        {%- set listed = "'" ~ pending | join("', '") ~ "'" if pending else 'null' -%}
        {{- return('(select * from ' ~ raw ~ ' where _file_sha256 in (' ~ listed ~ '))') -}}
    {%- endif -%}
    {{- return(raw) -}}
{%- endmacro %}


-- The ingested files of a layout this staging table has no row of yet (at run time only).
{% macro staging_pending_files(layout, registry) -%}
    {%- if not execute -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set query -%}
        select file_sha256 from {{ registry }}
        where layout = '{{ layout.name }}' and status = 'ingested'
        except
        select distinct _file_sha256 from {{ this }}
        order by 1
    {%- endset -%}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}


-- The materialization of a layout's staging table: appended per new file, after the rows of files
-- no longer ingested are deleted; built whole on an engine that deletes no rows (Spark).
{% macro staging_incremental_config() -%}
    {%- do append_after_hook_config("{% if is_incremental() %}delete from {{ this }} where"
        ~ " _file_sha256 not in (select file_sha256 from {{ source('raw', 'registry') }}"
        ~ " where status = 'ingested'){% endif %}") -%}
{%- endmacro %}


-- The raw column delivering `canonical` (as `alias`."column"), or a null when the layout has none.
{% macro staging_col(layout, canonical, alias='r') -%}
    {%- if canonical in layout.column -%}
        {{ alias }}.{{ adapter.quote(layout.column[canonical]) }}
    {%- else -%}
        null::string
    {%- endif -%}
{%- endmacro %}


-- Normalized text, null when blank (docs/input_layouts.md, "Text hygiene"): every free-text
-- and code column is Unicode NFC with ANSI escape sequences removed, control characters (bare CR,
-- LF, tabs) and any Unicode space as one plain space, format characters (bidi overrides and
-- marks, zero-width spaces and joiners, BOMs, soft hyphens) removed, runs of spaces collapsed and
-- trimmed. A terminal, a spreadsheet or an HTML page then shows exactly what a mart holds.
{% macro staging_text(layout, canonical) -%}
    {{ normalize_text(staging_col(layout, canonical)) }}
{%- endmacro %}

{% macro normalize_text(expression) -%}
    {{- adapter.dispatch('normalize_text', 'iop')(expression) -}}
{%- endmacro %}

{#- Fast path: printable ASCII text (nearly all of it) is only trimmed; one regex decides (about
    half the cost of the length and control-character tests normalize_id makes). #}
{% macro default__normalize_text(expression) -%}
    case
        when regexp_full_match({{ expression }}, '[ -~]*') then nullif(trim({{ expression }}), '')
        else nullif(trim(regexp_replace(regexp_replace(regexp_replace(
            nfc_normalize(regexp_replace(
                {{ expression }}, '\x1B(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1B]*(?:\x07|\x1B\\)?|[@-Z\\-_])', '', 'g'))
            , '\p{Cf}', '', 'g'), '[\p{Cc}\p{Z}]', ' ', 'g'), ' {2,}', ' ', 'g')), '')
    end
{%- endmacro %}


-- A name that reaches the marts as a grouping key (program, payer) is unsafe when, normalized, it
-- starts like a spreadsheet formula (= + - @) or mixes Latin letters with Cyrillic or Greek ones
-- (a look-alike of a real name, Unicode TS #39 "mixed script"): the row is quarantined (rule
-- unsafe_text) rather than published under a name a reader would take for another or a formula.
{% macro staging_unsafe_text_rule(columns) -%}
    (false
    {%- for canonical in columns %}
        or {{ formula_start(canonical) }} or {{ mixed_script(canonical) }}
    {%- endfor %})
{%- endmacro %}

{#- Cheap tests first: a first character compared, and scripts looked at only in non-ASCII text. #}
{% macro formula_start(expression) -%}
    (left({{ expression }}, 1) in ('=', '+', '-', '@'))
{%- endmacro %}

{% macro mixed_script(expression) -%}
    ({{ has_non_ascii(expression) }}
        and {{ regex_contains(expression, regex_literal('[\\p{Cyrillic}\\p{Greek}]')) }}
        and {{ regex_contains(expression, regex_literal('\\p{Latin}')) }})
{%- endmacro %}

-- The detail of unsafe_text: the first unsafe column and why (code points for look-alikes).
{% macro staging_unsafe_text_detail(layout, columns) -%}
    case
    {%- for canonical in columns %}
        when {{ formula_start(canonical) }} then
            {{ sql_string(layout.label.get(canonical, canonical) ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || ' starts with ' || left({{ canonical }}, 1) || ', as a spreadsheet formula does'
        when {{ mixed_script(canonical) }} then
            {{ sql_string(layout.label.get(canonical, canonical) ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || ' mixes Latin with Cyrillic or Greek letters (look-alikes): '
            || {{ code_points(regex_replace_all(
                canonical, regex_literal('[^\\p{Cyrillic}\\p{Greek}]'), "''")) }}
    {%- endfor %}
    end
{%- endmacro %}


-- A whole number (an optional minus and digits only: '1.5' and '1e3' are not), else null.
{% macro staging_integer(layout, canonical) -%}
    {{ parse_integer('trim(' ~ staging_col(layout, canonical) ~ ')') }}
{%- endmacro %}

{% macro parse_integer(expression) -%}
    {{- adapter.dispatch('parse_integer', 'iop')(expression) -}}
{%- endmacro %}

{% macro default__parse_integer(expression) -%}
    case when regexp_full_match({{ expression }}, '-?[0-9]+') then try_cast({{ expression }} as integer) end
{%- endmacro %}


-- The canonical code of a coded column (joined as `alias`; null when the code is not mapped).
{% macro staging_code_join(alias, layout, canonical) -%}
    left join codes as {{ alias }}
        on {{ alias }}.field = '{{ layout.column.get(canonical, canonical) }}'
        and {{ alias }}.source_value = upper(trim({{ staging_col(layout, canonical) }}))
{%- endmacro %}


-- The layout's codes from the code map, upper-cased for a case-insensitive match.
{% macro staging_codes(layout) -%}
    select field, upper(source_value) as source_value, canonical_value
    from {{ value_set('source_code_map') }}
    where layout = '{{ layout.name }}'
{%- endmacro %}


-- A SQL string literal (engine-specific: Spark reads a backslash as an escape).
{% macro sql_string(text) -%}
    {{- adapter.dispatch('sql_string', 'iop')(text) -}}
{%- endmacro %}

{% macro default__sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


-- `"<value as delivered>"`, or `blank` when there is none.
{% macro staging_value(layout, canonical, blank='is blank') -%}
    coalesce('"' || {{ staging_col(layout, canonical, '_raw') }} || '"', {{ sql_string(blank) }})
{%- endmacro %}


-- `<Label> "<value as delivered>" <tail>`, or `<Label> is blank <tail>`.
{% macro staging_detail(layout, canonical, tail) -%}
    {{ sql_string(layout.label[canonical] ~ ' ') }} || {{ staging_value(layout, canonical) }} || {{ sql_string(' ' ~ tail) }}
{%- endmacro %}


-- How a detail names the valid codes of a coded column.
{% macro staging_expected(layout, canonical) -%}
    {{- layout.expected.get(canonical)
        or 'in source_code_map.csv (layout ' ~ layout.name ~ ', field ' ~ layout.column[canonical] ~ ')' -}}
{%- endmacro %}


-- '%m/%d/%Y' -> 'MM/DD/YYYY': a date format as a detail names it.
{% macro format_label(format) -%}
    {%- set label = namespace(text=format) -%}
    {%- for code, text in [
        ('%-m', 'M'), ('%-d', 'D'), ('%Y', 'YYYY'), ('%y', 'YY'), ('%m', 'MM'), ('%d', 'DD')
        , ('%b', 'Mon'), ('%B', 'Month')
    ] -%}
        {%- set label.text = label.text.replace(code, text) -%}
    {%- endfor -%}
    {{- label.text -}}
{%- endmacro %}


-- Text to date / time in a strptime format; null when it does not parse. Engine-specific.
{% macro parse_date(expression, format) -%}
    {{- adapter.dispatch('parse_date', 'iop')(expression, format) -}}
{%- endmacro %}

{% macro default__parse_date(expression, format) -%}
    try_strptime({{ expression }}, {{ sql_string(format) }})::date
{%- endmacro %}

{% macro parse_time(expression, format) -%}
    {{- adapter.dispatch('parse_time', 'iop')(expression, format) -}}
{%- endmacro %}

{% macro default__parse_time(expression, format) -%}
    try_strptime({{ expression }}, {{ sql_string(format) }})::time
{%- endmacro %}


-- Amounts (docs/input_layouts.md, "Amounts and identifiers"): a number with an optional decimal
-- point (at most 2 decimals, more only as trailing zeros), optionally with comma thousands
-- separators in groups of three, a `$`, `US$` or `USD` before it (amounts only, not units), and a
-- negative written `-1.00`, `$-1.00`, `(1.00)` or `1.00-`. Anything else (`abc`, `1e309`,
-- `1.000,00`, another currency) is no amount: the row is quarantined, never staged as null.
{% macro amount_pattern(currency=true) -%}
    {%- set number = '(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\\.[0-9]{0,2}0*)?|\\.[0-9]{1,2}0*)' -%}
    {%- set symbol = '(?:US\\$|\\$|USD)' if currency else '(?:)' -%}
    {{- '[-+]?\\s*' ~ symbol ~ '?\\s*' ~ number
        ~ '|' ~ symbol ~ '?\\s*[-+]\\s*' ~ number
        ~ '|' ~ symbol ~ '?\\s*' ~ number ~ '\\s*-'
        ~ '|\\(\\s*' ~ symbol ~ '?\\s*' ~ number ~ '\\s*\\)' -}}
{%- endmacro %}


-- Text to an amount (decimal(38, 2)); null when the text is not one (or has over 36 digits).
{#- Fast path first: a plain decimal with at most two places ('250', '-12.5', '180.00') casts as
    is, and the cast keeps every digit when it equals the double reading (12.345 does not); the
    cast also reads exponents and digit separators ('1e5', '1_000'), which the pattern refuses, so
    those take the pattern's path with the rest (currency signs, separators, parentheses, trailing
    minus) — the only values that pay for regexes. #}
{% macro parse_amount(expression, currency=true) -%}
    case
        when try_cast({{ expression }} as decimal(38, 2))::double
            = try_cast({{ expression }} as double)
            and not (contains({{ expression }}, 'e') or contains({{ expression }}, 'E')
                or contains({{ expression }}, '_'))
            then try_cast({{ expression }} as decimal(38, 2))
        when {{ regex_full_match(expression, sql_string(amount_pattern(currency))) }}
            then try_cast({{ regex_replace_all(expression, "'[^0-9.]'", "''") }} as decimal(38, 2))
                * case when {{ regex_contains(expression, "'[-(]'") }} then -1 else 1 end
    end
{%- endmacro %}


-- The bounds [low, high] of an amount column: the contract's default, or the layout's
-- `amount_bounds` (sql/macros/layouts.sql). A billed charge or unit count is never negative on a
-- claim line (a void says so by its frequency code); paid and allowed amounts may be (recoupments),
-- and 835 reversals carry every amount negative.
{% macro amount_bounds(layout, canonical) -%}
    {%- set money = 10000000 -%}
    {%- set defaults = {
        'claims': {
            'charge_amount': [0, money], 'allowed_amount': [-money, money]
            , 'paid_amount': [-money, money], 'units': [0, 10000]
        }
        , 'remittance': {
            'charge_amount': [-money, money], 'paid_amount': [-money, money]
            , 'adjustment_amount': [-money, money], 'units': [-10000, 10000]
        }
    } -%}
    {{- return(layout.amount_bounds.get(canonical) or defaults[layout.contract][canonical]) -}}
{%- endmacro %}


-- An amount column typed as `type`, within its bounds; null when the cell is blank and also when
-- it is no amount or out of bounds, which staging_amount_rule then quarantines.
{% macro staging_amount(layout, canonical, type='decimal(14, 2)') -%}
    {%- set value = parse_amount('trim(' ~ staging_col(layout, canonical) ~ ')', canonical != 'units') -%}
    {%- set bounds = amount_bounds(layout, canonical) -%}
    case when {{ value }} between {{ bounds[0] }} and {{ bounds[1] }} then ({{ value }})::{{ type }} end
{%- endmacro %}


-- True when one of the `columns` holds a value that staging_amount did not type (blank is null).
{% macro staging_amount_rule(layout, columns) -%}
    (false
    {%- for canonical in columns if canonical in layout.column %}
        or (nullif(trim({{ staging_col(layout, canonical, '_raw') }}), '') is not null and {{ canonical }} is null)
    {%- endfor %})
{%- endmacro %}


-- The detail of invalid_amount: the first of `columns` that failed, as delivered, and why.
{% macro staging_amount_detail(layout, columns) -%}
    case
    {%- for canonical in columns if canonical in layout.column %}
    {%- set raw = 'trim(' ~ staging_col(layout, canonical, '_raw') ~ ')' %}
    {%- set bounds = amount_bounds(layout, canonical) %}
        when nullif({{ raw }}, '') is not null and {{ canonical }} is null then
            {{ sql_string(layout.label[canonical] ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || case when {{ parse_amount(raw, canonical != 'units') }} is null
                then {{ sql_string(
                    ' is not an amount (e.g. 1234.5, 1,234.50'
                    ~ (', $1,234.50' if canonical != 'units' else '')
                    ~ ', (1,234.50) or 1234.50-)') }}
                else {{ sql_string(' is outside ' ~ bounds[0] ~ ' to ' ~ bounds[1]) }}
            end
    {%- endfor %}
    end
{%- endmacro %}


-- [the fullwidth forms of printable ASCII (U+FF01-U+FF5E), the ASCII characters], for translate().
{% macro fullwidth_forms() -%}
    {%- set forms = namespace(wide='', ascii='') -%}
    {%- for code in range(33, 127) -%}
        {%- set forms.wide = forms.wide ~ ('%c' | format(code + 65248)) -%}
        {%- set forms.ascii = forms.ascii ~ ('%c' | format(code)) -%}
    {%- endfor -%}
    {{- return([forms.wide, forms.ascii]) -}}
{%- endmacro %}

-- Identifiers (client and member ids, claim ids) as a key can use them: Unicode NFC, fullwidth
-- forms (U+FF01-U+FF5E) as their ASCII letters, digits and signs, control and format characters
-- (zero-width spaces and joiners, bidi marks, soft hyphens, BOMs) removed, any space as a plain
-- one, trimmed; null when nothing is left. What NFKC does for ids, within what SQL engines offer.
-- Engine-specific.
{% macro normalize_id(expression) -%}
    {{- adapter.dispatch('normalize_id', 'iop')(expression) -}}
{%- endmacro %}

{% macro default__normalize_id(expression) -%}
    {%- set fullwidth = fullwidth_forms() -%}

    {#- ASCII ids without control characters (bytes = characters: nearly all of them) are only
        trimmed; the Unicode work (translate alone costs ~0.5 s per million values) runs for the
        rest #}
    case
        when strlen({{ expression }}) = length({{ expression }})
            and not regexp_matches({{ expression }}, '[\x00-\x1F\x7F]')
            then nullif(trim({{ expression }}), '')
        else nullif(trim(regexp_replace(
            translate(
                nfc_normalize(regexp_replace({{ expression }}, '[\p{Cc}\p{Cf}]', '', 'g'))
                , {{ sql_string(fullwidth[0]) }}, {{ sql_string(fullwidth[1]) }})
            , '\p{Z}', ' ', 'g')), '')
    end
{%- endmacro %}


-- The characters a layout's ids may hold, as a regex character class body (`id_alphabet` in
-- sql/macros/layouts.sql; default ASCII letters and digits, `.`, `_` and `-`).
{% macro id_alphabet(layout) -%}
    {{- layout.id_alphabet or 'A-Za-z0-9._-' -}}
{%- endmacro %}


-- True when one of the normalized ids `columns` holds a character outside the layout's id alphabet.
{% macro staging_id_rule(layout, columns) -%}
    (false
    {%- for canonical in columns if canonical in layout.column %}
        or ({{ canonical }} is not null
            and not {{ regex_full_match(canonical, regex_literal('[' ~ id_alphabet(layout) ~ ']+')) }})
    {%- endfor %})
{%- endmacro %}


-- The detail of invalid_id for the first of `columns` that broke it: `<Label> "<as delivered>"
-- has characters outside <alphabet>: U+0410 ...` (code points, as look-alike and invisible
-- characters cannot be told apart in print).
{% macro staging_id_detail(layout, columns) -%}
    case
    {%- for canonical in columns if canonical in layout.column %}
        when {{ staging_id_rule(layout, [canonical]) }} then
            {{ sql_string(layout.label[canonical] ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || {{ sql_string(' has characters outside ' ~ id_alphabet(layout) ~ ': ') }}
            || {{ code_points(regex_replace_all(
                canonical, regex_literal('[' ~ id_alphabet(layout) ~ ']'), "''")) }}
    {%- endfor %}
    end
{%- endmacro %}


-- Plausible dates (docs/input_layouts.md, "Plausible dates"): an event date (a session, an
-- admission, a claim's service) is implausible before the floor (var date_floor, IOP_DATE_FLOOR)
-- or later than its file's landing date plus a tolerance (var future_tolerance_days): a year typed
-- 2999 or 1899 is quarantined, so one row can never move the as-of date or stretch a mart over
-- centuries. `checks` lists [canonical column, floor or none for the date floor]; birth dates use
-- their own floor (1900-01-01). A null date or landing time is no violation here.
{% macro date_floor(floor=none) -%}
    date {{ sql_string(floor or var('date_floor')) }}
{%- endmacro %}

{% macro date_ceiling() -%}
    (_landed_at::date + {{ var('future_tolerance_days') | int }})
{%- endmacro %}

{% macro staging_date_window_rule(checks) -%}
    (false
    {%- for canonical, floor in checks %}
        or {{ canonical }} < {{ date_floor(floor) }} or {{ canonical }} > {{ date_ceiling() }}
    {%- endfor %})
{%- endmacro %}

-- The detail of implausible_date: the first date out of the window, as delivered, and why.
{% macro staging_date_window_detail(layout, checks) -%}
    case
    {%- for canonical, floor in checks %}
        when {{ canonical }} < {{ date_floor(floor) }} then
            {{ sql_string(layout.label[canonical] ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || {{ sql_string(' is before ' ~ (floor or var('date_floor')) ~ ' (the date floor)') }}
        when {{ canonical }} > {{ date_ceiling() }} then
            {{ sql_string(layout.label[canonical] ~ ' ') }} || {{ staging_value(layout, canonical) }}
            || ' is after the file''s landing date ' || {{ date_text('_landed_at') }}
            || {{ sql_string(' + ' ~ (var('future_tolerance_days') | int) ~ ' days') }}
    {%- endfor %}
    end
{%- endmacro %}


-- A normalized id column (null when blank).
{% macro staging_id(layout, canonical) -%}
    {{ normalize_id(staging_col(layout, canonical)) }}
{%- endmacro %}


-- Attendance: one row per scheduled session as the EHR exports it.
{% macro stage_attendance(name) -%}
{%- set layout = staging_layout(
    name, 'attendance'
    , required=['client_id', 'level_of_care', 'session_date', 'minutes', 'attendance_status']) -%}
{%- set window = [['session_date', none]] -%}
with codes as (
    {{ staging_codes(layout) }}
)

, typed as (
    select
        {{ row_record('r') }} as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , {{ staging_id(layout, 'client_id') }} as client_id
        , {{ staging_text(layout, 'program') }} as program
        , loc.canonical_value as level_of_care
        , {{ parse_date('trim(' ~ staging_col(layout, 'session_date') ~ ')', layout.date_format) }} as session_date
        , {{ parse_time('trim(' ~ staging_col(layout, 'start_time') ~ ')', layout.time_format) }} as start_time
        , svc.canonical_value as service_type
        , {{ staging_integer(layout, 'minutes') }} as minutes
        , status.canonical_value as attendance_status
        , {{ staging_text(layout, 'clinician_id') }} as clinician_id
    from {{ staging_source(layout) }} as r
    {{ staging_code_join('loc', layout, 'level_of_care') }}
    {{ staging_code_join('svc', layout, 'service_type') }}
    {{ staging_code_join('status', layout, 'attendance_status') }}
)

select
    * except (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when {{ staging_id_rule(layout, ['client_id']) }} then 'invalid_id'
        when session_date is null then 'invalid_date'
        when {{ staging_date_window_rule(window) }} then 'implausible_date'
        when level_of_care is null then 'unknown_level_of_care'
        when attendance_status is null then 'unknown_status'
        when minutes is null or minutes <= 0 then 'invalid_minutes'
        when {{ staging_unsafe_text_rule(['program']) }} then 'unsafe_text'
    end as _rule
    , case _rule
        when 'missing_client_id' then {{ sql_string(layout.label.client_id ~ ' is blank') }}
        when 'invalid_id' then {{ staging_id_detail(layout, ['client_id']) }}
        when 'invalid_date' then {{ sql_string(layout.label.session_date ~ ' is not ' ~ format_label(layout.date_format)) }}
        when 'implausible_date' then {{ staging_date_window_detail(layout, window) }}
        when 'unknown_level_of_care' then {{ staging_detail(layout, 'level_of_care', 'is not ' ~ staging_expected(layout, 'level_of_care')) }}
        when 'unknown_status' then {{ staging_detail(layout, 'attendance_status', 'is not ' ~ staging_expected(layout, 'attendance_status')) }}
        when 'invalid_minutes' then {{ staging_detail(layout, 'minutes', 'is not a whole number above 0') }}
        when 'unsafe_text' then {{ staging_unsafe_text_detail(layout, ['program']) }}
    end as _detail
    , case when _rule is not null then {{ record_json('_raw') }} end as _raw_record
from typed
{%- endmacro %}


-- Census: snapshots of admissions and discharges (a blank discharge date = still admitted).
{% macro stage_census(name) -%}
{%- set layout = staging_layout(
    name, 'census', required=['client_id', 'level_of_care', 'admit_date', 'discharge_date']) -%}
{%- set window = [['admit_date', none], ['discharge_date', none]] -%}
with codes as (
    {{ staging_codes(layout) }}
)

, typed as (
    select
        {{ row_record('r') }} as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , {{ staging_id(layout, 'client_id') }} as client_id
        , {{ staging_text(layout, 'program') }} as program
        , loc.canonical_value as level_of_care
        , {{ parse_date('trim(' ~ staging_col(layout, 'admit_date') ~ ')', layout.date_format) }} as admit_date
        , {{ staging_text(layout, 'discharge_date') }} as discharge_date_text
        , {{ parse_date('discharge_date_text', layout.date_format) }} as discharge_date
        , {{ staging_text(layout, 'discharge_reason') }} as discharge_reason_text
        , reason.canonical_value as discharge_reason
    from {{ staging_source(layout) }} as r
    {{ staging_code_join('loc', layout, 'level_of_care') }}
    {{ staging_code_join('reason', layout, 'discharge_reason') }}
)

select
    * except (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when {{ staging_id_rule(layout, ['client_id']) }} then 'invalid_id'
        when admit_date is null then 'invalid_date'
        when discharge_date_text is not null and discharge_date is null then 'invalid_date'
        when {{ staging_date_window_rule(window) }} then 'implausible_date'
        when level_of_care is null then 'unknown_level_of_care'
        when discharge_date < admit_date then 'invalid_date_range'
        when {{ staging_unsafe_text_rule(['program']) }} then 'unsafe_text'
    end as _rule
    , case _rule
        when 'missing_client_id' then {{ sql_string(layout.label.client_id ~ ' is blank') }}
        when 'invalid_id' then {{ staging_id_detail(layout, ['client_id']) }}
        when 'invalid_date' then {{ sql_string(layout.label.admit_date ~ ' or ' ~ layout.label.discharge_date ~ ' is blank or not ' ~ format_label(layout.date_format)) }}
        when 'implausible_date' then {{ staging_date_window_detail(layout, window) }}
        when 'unknown_level_of_care' then {{ staging_detail(layout, 'level_of_care', 'is not ' ~ staging_expected(layout, 'level_of_care')) }}
        when 'invalid_date_range' then {{ sql_string(layout.label.discharge_date ~ ' is before ' ~ layout.label.admit_date) }}
        when 'unsafe_text' then {{ staging_unsafe_text_detail(layout, ['program']) }}
    end as _detail
    , case when _rule is not null then {{ record_json('_raw') }} end as _raw_record
from typed
{%- endmacro %}


-- Roster: the EHR's clients with their payer member ids (the crosswalk to claims). Names and ZIP
-- are dropped here (minimum necessary: no mart needs them; raw/ keeps the delivered record); the
-- birth date, needed for age bands, never leaves core.persons.
{% macro stage_roster(name) -%}
{%- set layout = staging_layout(name, 'roster', required=['client_id', 'birth_date']) -%}
{%- set window = [['birth_date', '1900-01-01']] -%}
with typed as (
    select
        {{ row_record('r') }} as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , {{ staging_id(layout, 'client_id') }} as client_id
        , {{ staging_id(layout, 'member_id') }} as member_id
        , {{ staging_text(layout, 'payer') }} as payer
        , {{ parse_date('trim(' ~ staging_col(layout, 'birth_date') ~ ')', layout.date_format) }} as birth_date
        , coalesce(nullif(upper(trim({{ staging_col(layout, 'sex') }})), ''), 'U') as sex
        , {{ staging_text(layout, 'race') }} as race
        , {{ staging_text(layout, 'ethnicity') }} as ethnicity
    from {{ staging_source(layout) }} as r
)

select
    * except (_raw)
    , case
        when client_id is null then 'missing_client_id'
        when {{ staging_id_rule(layout, ['client_id', 'member_id']) }} then 'invalid_id'
        when birth_date is null then 'invalid_date'
        when {{ staging_date_window_rule(window) }} then 'implausible_date'
        when {{ staging_unsafe_text_rule(['payer']) }} then 'unsafe_text'
    end as _rule
    , case _rule
        when 'missing_client_id' then {{ sql_string(layout.label.client_id ~ ' is blank') }}
        when 'invalid_id' then {{ staging_id_detail(layout, ['client_id', 'member_id']) }}
        when 'invalid_date' then {{ sql_string(layout.label.birth_date ~ ' is not ' ~ format_label(layout.date_format)) }}
        when 'implausible_date' then {{ staging_date_window_detail(layout, window) }}
        when 'unsafe_text' then {{ staging_unsafe_text_detail(layout, ['payer']) }}
    end as _detail
    , case when _rule is not null then {{ record_json('_raw') }} end as _raw_record
from typed
{%- endmacro %}


-- Claim lines: every version of every claim (originals, replacements, voids, duplicates);
-- core.claim_lines resolves them.
{% macro stage_claims(name) -%}
{%- set layout = staging_layout(
    name, 'claims'
    , required=[
        'claim_id', 'claim_frequency_code', 'line_number', 'member_id', 'service_from_date'
        , 'service_to_date', 'received_date'
    ]) -%}
{%- set date_format = layout.date_format -%}
{%- set service_from = 'trim(' ~ staging_col(layout, 'service_from_date') ~ ')' -%}
{%- set raw_from = staging_col(layout, 'service_from_date', '_raw') -%}
{%- set raw_to = staging_col(layout, 'service_to_date', '_raw') -%}
{%- set claim_amounts = ['charge_amount', 'allowed_amount', 'paid_amount', 'units'] -%}
{%- set window = [['service_from_date', none], ['service_to_date', none], ['received_date', none]]
    + ([['adjudicated_date', none]] if 'adjudicated_date' in layout.column else []) -%}
with typed as (
    select
        {{ row_record('r') }} as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , {{ staging_id(layout, 'claim_id') }} as claim_id
        , {{ staging_id(layout, 'original_claim_id') }} as original_claim_id
        , trim({{ staging_col(layout, 'claim_frequency_code') }}) as claim_frequency_code
        , {{ staging_integer(layout, 'line_number') }} as line_number
        , lower({{ staging_text(layout, 'claim_type') }}) as claim_type
        , {{ staging_id(layout, 'member_id') }} as member_id
        , {{ staging_text(layout, 'payer') }} as payer
        , {{ parse_date(service_from, date_format) }} as service_from_date
        , coalesce(
            {{ parse_date(staging_text(layout, 'service_to_date'), date_format) }}
            , {{ parse_date(service_from, date_format) }}
        ) as service_to_date
        , {{ staging_text(layout, 'place_of_service') }} as place_of_service
        , {{ staging_text(layout, 'bill_type') }} as bill_type
        , lpad({{ staging_text(layout, 'revenue_code') }}, 4, '0') as revenue_code
        , upper({{ staging_text(layout, 'procedure_code') }}) as procedure_code
        , {{ staging_text(layout, 'modifiers') }} as modifiers
        , {{ staging_amount(layout, 'units', 'decimal(12, 2)') }} as units
        , {{ staging_amount(layout, 'charge_amount') }} as charge_amount
        , {{ staging_amount(layout, 'allowed_amount') }} as allowed_amount
        , {{ staging_amount(layout, 'paid_amount') }} as paid_amount
        , {{ staging_text(layout, 'diagnosis_codes') }} as diagnosis_codes
        , {{ staging_text(layout, 'rendering_npi') }} as rendering_npi
        , {{ staging_text(layout, 'billing_npi') }} as billing_npi
        , {{ parse_date('trim(' ~ staging_col(layout, 'received_date') ~ ')', date_format) }} as received_date
        , {{ parse_date(staging_text(layout, 'adjudicated_date'), date_format) }} as adjudicated_date
    from {{ staging_source(layout) }} as r
)

select
    * except (_raw)
    , case
        when member_id is null then 'missing_member_id'
        when {{ staging_id_rule(layout, ['member_id']) }} then 'invalid_id'
        when service_from_date is null
            or (nullif(trim({{ raw_to }}), '') is not null
                and {{ parse_date('trim(' ~ raw_to ~ ')', date_format) }} is null)
            or received_date is null then 'invalid_date'
        when {{ staging_date_window_rule(window) }} then 'implausible_date'
        when claim_frequency_code is null or claim_frequency_code not in ('1', '7', '8')
            then 'invalid_frequency_code'
        when claim_id is null or line_number is null then 'missing_claim_key'
        when service_to_date < service_from_date then 'invalid_date_range'
        when {{ staging_amount_rule(layout, claim_amounts) }} then 'invalid_amount'
        when {{ staging_unsafe_text_rule(['payer']) }} then 'unsafe_text'
    end as _rule
    , case _rule
        when 'missing_member_id' then {{ sql_string(layout.label.member_id ~ ' is blank') }}
        when 'invalid_id' then {{ staging_id_detail(layout, ['member_id']) }}
        when 'invalid_date' then {{ sql_string(layout.label.service_from_date ~ ', ' ~ layout.label.service_to_date ~ ' or ' ~ layout.label.received_date ~ ' is not ' ~ format_label(date_format)) }}
        when 'implausible_date' then {{ staging_date_window_detail(layout, window) }}
        when 'invalid_frequency_code' then {{ staging_detail(layout, 'claim_frequency_code', 'is not 1, 7 or 8') }}
        when 'missing_claim_key' then {{ sql_string(layout.label.claim_id ~ ' or ' ~ layout.label.line_number ~ ' is blank or not a number') }}
        when 'invalid_date_range' then {{ sql_string(layout.label.service_to_date ~ ' is before ' ~ layout.label.service_from_date) }}
        when 'invalid_amount' then {{ staging_amount_detail(layout, claim_amounts) }}
        when 'unsafe_text' then {{ staging_unsafe_text_detail(layout, ['payer']) }}
    end as _detail
    , case when _rule is not null then {{ record_json('_raw') }} end as _raw_record
from typed
{%- endmacro %}


-- 835 remittance lines (from X12 files): what the payer paid, denied or reversed. claim_status
-- 22 is a reversal (amounts negative), 4 a denial. The details name X12 elements, not columns.
{% macro stage_remittance(name) -%}
{%- set layout = staging_layout(
    name, 'remittance', required=['claim_id', 'line_number', 'service_date']) -%}
{%- set remittance_amounts = ['charge_amount', 'paid_amount', 'adjustment_amount', 'units'] -%}
{%- set window = [['service_date', none]]
    + ([['payment_date', none]] if 'payment_date' in layout.column else []) -%}
with typed as (
    select
        {{ row_record('r') }} as _raw
        , r._source_file
        , r._file_sha256
        , r._row_number
        , r._landed_at
        , {{ staging_id(layout, 'claim_id') }} as claim_id
        , {{ staging_text(layout, 'claim_status') }} as claim_status
        , {{ staging_text(layout, 'payer_claim_control_number') }} as payer_claim_control_number
        , try_cast(trim({{ staging_col(layout, 'line_number') }}) as integer) as line_number
        , {{ staging_id(layout, 'member_id') }} as member_id
        , {{ staging_text(layout, 'payer') }} as payer
        , upper({{ staging_text(layout, 'procedure_code') }}) as procedure_code
        , {{ staging_text(layout, 'modifiers') }} as modifiers
        , lpad({{ staging_text(layout, 'revenue_code') }}, 4, '0') as revenue_code
        , {{ staging_amount(layout, 'units', 'decimal(12, 2)') }} as units
        , {{ staging_amount(layout, 'charge_amount') }} as charge_amount
        , {{ staging_amount(layout, 'paid_amount') }} as paid_amount
        , {{ staging_amount(layout, 'adjustment_amount') }} as adjustment_amount
        , {{ staging_text(layout, 'adjustment_codes') }} as adjustment_codes
        , {{ parse_date('trim(' ~ staging_col(layout, 'service_date') ~ ')', layout.date_format) }} as service_date
        , {{ staging_text(layout, 'line_control_number') }} as line_control_number
        , {{ parse_date(staging_text(layout, 'payment_date'), layout.date_format) }} as payment_date
    from {{ staging_source(layout) }} as r
)

select
    * except (_raw)
    , case
        when claim_id is null or line_number is null then 'missing_claim_key'
        when service_date is null then 'invalid_date'
        when {{ staging_date_window_rule(window) }} then 'implausible_date'
        when {{ staging_id_rule(layout, ['member_id']) }} then 'invalid_id'
        when {{ staging_amount_rule(layout, remittance_amounts) }} then 'invalid_amount'
        when {{ staging_unsafe_text_rule(['payer']) }} then 'unsafe_text'
    end as _rule
    , case _rule
        when 'missing_claim_key' then 'CLP01 claim id or line number is missing'
        when 'invalid_date' then 'service date is missing or not a valid date'
        when 'implausible_date' then {{ staging_date_window_detail(layout, window) }}
        when 'invalid_id' then {{ staging_id_detail(layout, ['member_id']) }}
        when 'invalid_amount' then {{ staging_amount_detail(layout, remittance_amounts) }}
        when 'unsafe_text' then {{ staging_unsafe_text_detail(layout, ['payer']) }}
    end as _detail
    , case when _rule is not null then {{ record_json('_raw') }} end as _raw_record
from typed
{%- endmacro %}
