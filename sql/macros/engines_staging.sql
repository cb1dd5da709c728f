-- Engine differences of the staging layer (sql/macros/staging.sql), the audit models and the value
-- sets: the Spark SQL (`spark__`) of what DuckDB (`default__`, in staging.sql or below) writes
-- otherwise. Spark's regexes are Java's (scripts as \p{IsLatin}; `$` also matches before a final
-- line break, so a whole match here ends in \z) and its string literals read a backslash as an
-- escape: patterns are written here with doubled backslashes, or go through sql_string(), which
-- doubles them on Spark.


-- A SQL string literal: quotes doubled, and on Spark backslashes too (a regex keeps its \d).
{% macro spark__sql_string(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}


-- A regular expression (RE2 syntax, as DuckDB reads it) as a SQL string literal of the engine.
-- Java names a script \p{IsCyrillic} where RE2 writes \p{Cyrillic}.
{% macro regex_literal(pattern) -%}
    {{- adapter.dispatch('regex_literal', 'iop')(pattern) -}}
{%- endmacro %}

{% macro default__regex_literal(pattern) -%}
    {{- sql_string(pattern) -}}
{%- endmacro %}

{% macro spark__regex_literal(pattern) -%}
    {%- set java = namespace(text=pattern) -%}
    {%- for script in ['Latin', 'Cyrillic', 'Greek'] -%}
        {%- set java.text = java.text.replace('\\p{' ~ script ~ '}', '\\p{Is' ~ script ~ '}') -%}
    {%- endfor -%}
    {{- sql_string(java.text) -}}
{%- endmacro %}


-- Every match of the regex `pattern` (a SQL expression) in `value` replaced by `replacement`.
{% macro regex_replace_all(value, pattern, replacement) -%}
    {{- adapter.dispatch('regex_replace_all', 'iop')(value, pattern, replacement) -}}
{%- endmacro %}

{% macro default__regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}


-- True when `value` (text) has a character outside ASCII (more bytes than characters in UTF-8).
{% macro has_non_ascii(value) -%}
    {{- adapter.dispatch('has_non_ascii', 'iop')(value) -}}
{%- endmacro %}

{% macro default__has_non_ascii(value) -%}
    strlen({{ value }}) <> length({{ value }})
{%- endmacro %}

{% macro spark__has_non_ascii(value) -%}
    octet_length({{ value }}) <> char_length({{ value }})
{%- endmacro %}


-- Unicode NFC of `value`. Spark SQL has no normalization function: ICU4J's (a Spark dependency).
{% macro unicode_nfc(value) -%}
    {{- adapter.dispatch('unicode_nfc', 'iop')(value) -}}
{%- endmacro %}

{% macro default__unicode_nfc(value) -%}
    nfc_normalize({{ value }})
{%- endmacro %}

{% macro spark__unicode_nfc(value) -%}
    reflect('com.ibm.icu.text.Normalizer', 'compose', {{ value }}, false)
{%- endmacro %}


-- The code points of the characters of `value`, as 'U+0410 U+0435'.
{% macro code_points(value) -%}
    {{- adapter.dispatch('code_points', 'iop')(value) -}}
{%- endmacro %}

{% macro default__code_points(value) -%}
    array_to_string(list_transform(string_split({{ value }}, ''), lambda c: printf('U+%04X', unicode(c))), ' ')
{%- endmacro %}

{% macro spark__code_points(value) -%}
    array_join(transform(filter(split({{ value }}, ''), c -> c <> ''), c -> format_string('U+%04X', ascii(c))), ' ')
{%- endmacro %}


-- A date or timestamp as 'YYYY-MM-DD' text.
{% macro date_text(value) -%}
    {{- adapter.dispatch('date_text', 'iop')(value) -}}
{%- endmacro %}

{% macro default__date_text(value) -%}
    strftime({{ value }}, '%Y-%m-%d')
{%- endmacro %}

{% macro spark__date_text(value) -%}
    date_format({{ value }}, 'yyyy-MM-dd')
{%- endmacro %}


-- A row of the relation aliased `alias` as one struct value (a staging row's `_raw`), and that
-- struct as JSON text with every field, nulls included (its `_raw_record`). On Spark the landing
-- time is text in the struct, so the JSON writes it as DuckDB does ('2026-01-02 03:04:05.123').
{% macro row_record(alias) -%}
    {{- adapter.dispatch('row_record', 'iop')(alias) -}}
{%- endmacro %}

{% macro default__row_record(alias) -%}
    {{ alias }}
{%- endmacro %}

{% macro spark__row_record(alias) -%}
    struct({{ alias }}.* except (_landed_at), {{ alias }}._landed_at::string as _landed_at)
{%- endmacro %}

{% macro record_json(value) -%}
    {{- adapter.dispatch('record_json', 'iop')(value) -}}
{%- endmacro %}

{% macro default__record_json(value) -%}
    to_json({{ value }})
{%- endmacro %}

{% macro spark__record_json(value) -%}
    to_json({{ value }}, map('ignoreNullFields', 'false'))
{%- endmacro %}


-- The staging text and id normalizations (staging.sql, normalize_text and normalize_id) in Spark
-- SQL: the same steps, with Java's regexes.
{% macro spark__normalize_text(expression) -%}
    case
        when {{ expression }} is null then null
        when regexp_like({{ expression }}, '^[ -~]*\\z') then nullif(trim({{ expression }}), '')
        else nullif(trim(regexp_replace(regexp_replace(regexp_replace(
            {{ unicode_nfc("regexp_replace(" ~ expression ~ ", '\\\\x1B(?:\\\\[[0-?]*[ -/]*[@-~]|\\\\][^\\\\x07\\\\x1B]*(?:\\\\x07|\\\\x1B\\\\\\\\)?|[@-Z\\\\\\\\-_])', '')") }}
            , '\\p{Cf}', ''), '[\\p{Cc}\\p{Z}]', ' '), ' {2,}', ' ')), '')
    end
{%- endmacro %}

{% macro spark__normalize_id(expression) -%}
    {%- set fullwidth = fullwidth_forms() -%}
    case
        when {{ expression }} is null then null
        when not ({{ has_non_ascii(expression) }}) and not regexp_like({{ expression }}, '[\\x00-\\x1F\\x7F]')
            then nullif(trim({{ expression }}), '')
        else nullif(trim(regexp_replace(
            translate(
                {{ unicode_nfc("regexp_replace(" ~ expression ~ ", '[\\\\p{Cc}\\\\p{Cf}]', '')") }}
                , {{ sql_string(fullwidth[0]) }}, {{ sql_string(fullwidth[1]) }})
            , '\\p{Z}', ' ')), '')
    end
{%- endmacro %}


-- Text to a whole number (staging.sql, parse_integer) in Spark SQL.
{% macro spark__parse_integer(expression) -%}
    case when regexp_like({{ expression }}, '^-?[0-9]+\\z') then try_cast({{ expression }} as integer) end
{%- endmacro %}


-- Dates and times in a strptime format (staging.sql, parse_date and parse_time) read as DuckDB's
-- try_strptime reads them: %Y 1-4 digits, %m %d %H %I %M %S 1-2 digits, %p AM or PM in any case,
-- a space any run of white space (and white space around the text), every other character
-- itself; null when the text does not match or names no valid date. A time is 'HH:MM:SS' text (Spark has no time type).
{% macro strptime_parts(format) -%}
    {%- set codes = {
        'Y': ['year', '([0-9]{1,4})'], 'm': ['month', '([0-9]{1,2})'], '-m': ['month', '([0-9]{1,2})']
        , 'd': ['day', '([0-9]{1,2})'], '-d': ['day', '([0-9]{1,2})'], 'H': ['hour', '([0-9]{1,2})']
        , 'I': ['hour12', '([0-9]{1,2})'], 'M': ['minute', '([0-9]{1,2})']
        , 'S': ['second', '([0-9]{1,2})'], 'p': ['ampm', '([AaPp][Mm])']
    } -%}
    {%- set parsed = namespace(pattern='', groups=[], rest=format) -%}
    {%- for _ in range(format | length) if parsed.rest -%}
        {%- set head = parsed.rest[0] -%}
        {%- if head == '%' -%}
            {%- set code = parsed.rest[1:3] if parsed.rest[1:2] == '-' else parsed.rest[1:2] -%}
            {%- if code not in codes -%}
                {{- exceptions.raise_compiler_error("strptime code %" ~ code ~ " is not supported on Spark") -}}
            {%- endif -%}
            {%- set parsed.pattern = parsed.pattern ~ codes[code][1] -%}
            {%- set parsed.groups = parsed.groups + [codes[code][0]] -%}
            {%- set parsed.rest = parsed.rest[1 + code | length:] -%}
        {%- else -%}
            {%- set parsed.pattern = parsed.pattern ~ ('\\s+' if head == ' ' else modules.re.escape(head)) -%}
            {%- set parsed.rest = parsed.rest[1:] -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return({'pattern': '^\\s*' ~ parsed.pattern ~ '\\s*\\z', 'groups': parsed.groups}) -}}
{%- endmacro %}

{% macro strptime_part(expression, parts, name) -%}
    {%- if name in parts.groups -%}
        try_cast(regexp_extract({{ expression }}, {{ sql_string(parts.pattern) }}, {{ parts.groups.index(name) + 1 }}) as int)
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{% macro spark__parse_date(expression, format) -%}
    {%- set parts = strptime_parts(format) -%}
    case when regexp_like({{ expression }}, {{ sql_string(parts.pattern) }}) then make_date(
        {{ strptime_part(expression, parts, 'year') }}
        , {{ strptime_part(expression, parts, 'month') }}
        , {{ strptime_part(expression, parts, 'day') }}) end
{%- endmacro %}

{% macro spark__parse_time(expression, format) -%}
    {%- set parts = strptime_parts(format) -%}
    {%- if 'hour12' in parts.groups -%}
        {%- set hour12 = strptime_part(expression, parts, 'hour12') -%}
        {%- set hour -%}
            case when {{ hour12 }} between 1 and 12 then {{ hour12 }} % 12
                + case when upper(regexp_extract({{ expression }}, {{ sql_string(parts.pattern) }}, {{ parts.groups.index('ampm') + 1 }})) = 'PM' then 12 else 0 end
            end
        {%- endset -%}
    {%- else -%}
        {%- set hour = strptime_part(expression, parts, 'hour') -%}
    {%- endif -%}
    {%- set minute = strptime_part(expression, parts, 'minute') -%}
    {%- set second = strptime_part(expression, parts, 'second') -%}
    case
        when regexp_like({{ expression }}, {{ sql_string(parts.pattern) }})
            and {{ hour }} between 0 and 23 and {{ minute }} between 0 and 59 and {{ second }} between 0 and 59
            then format_string('%02d:%02d:%02d', {{ hour }}, {{ minute }}, {{ second }})
    end
{%- endmacro %}


-- The rows of two relations with the same columns, matched by name (DuckDB's `union all by
-- name`), in the column order of the first. Spark SQL has no such union: the first relation's
-- columns are listed (read from the catalog at run time).
{% macro union_all_by_name(first, second) -%}
    {{- adapter.dispatch('union_all_by_name', 'iop')(first, second) -}}
{%- endmacro %}

{% macro default__union_all_by_name(first, second) -%}
        select * from {{ first }}
        union all by name
        select * from {{ second }}
{%- endmacro %}

{% macro spark__union_all_by_name(first, second) -%}
    {%- set columns = adapter.get_columns_in_relation(first) if execute else [] -%}
    {%- set quoted = [] -%}
    {%- for column in columns -%}
        {%- do quoted.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- set listed = quoted | join(', ') or '*' -%}
        select {{ listed }} from {{ first }}
        union all
        select {{ listed }} from {{ second }}
{%- endmacro %}
