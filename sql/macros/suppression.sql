-- Small-cell suppression (CMS cell-size rule: no published cell may show 1-10 persons; zero may
-- be shown; no hidden value may be derivable from totals, percentages or other cells), written
-- once for every aggregate mart. Each of those marts states the rule in its yml description in
-- exactly the words of the RULE paragraph below, and says which lines it has; tests/
-- test_suppression.py checks both, and that the mart's SQL calls these macros.
--
-- RULE: Small cells: a count of 1-10 persons (or of their episodes) is suppressed; a count of 0
-- is shown. A line is a total with the counts that add up to it, in each direction in which the
-- table can be summed. Every line that holds a suppressed count, its total included, must hold
-- at least two, one of them of 11 or more: until it does, its smallest published count of 11 or
-- more is suppressed too (its total only when no other count qualifies and each suppressed count
-- is at most 1), and this is repeated until no line changes. The numerator and denominator of a
-- rate of persons or episodes are counts under the same rule; a rate or statistic built on a
-- suppressed count is null, and so is every value of a row whose persons are suppressed.
--
-- Why: with a single suppressed count in a line, the total minus the published counts gives it
-- back; with two 1-person counts and nothing else, the remainder 2 pins both to 1. When the
-- suppressed counts of a line are two or more and one of them is 11+, the remainder is larger
-- than the least they can hold, and no split of it is forced. The total is part of the line:
-- where it is suppressed (a total that is also a count of another line, as the 'all' rows of
-- marts.step_down_transitions_*), the published counts would otherwise add up to it. Lines cross
-- (a row's count is in one line per direction; a row's counts are suppressed together), so
-- fixing one line can leave another with a single suppressed count: rounds repeat until every
-- line is settled (a recursive CTE; it ends, since a round only adds suppressed counts). A line
-- whose only published count of 11+ is its total keeps it unless the suppressed counts are all
-- 1 (or 0): they are then all at their least, and the total would pin every one; otherwise
-- (the PHP programs of a month, 7 and 9 persons, 'All' 16) no split of the remainder is forced,
-- and the total stays published. A line with no published count of 11+ at all has a total of
-- 1-10, itself suppressed, or of 0.

-- A count of 1-10 persons or episodes: never published.
{% macro small(n) -%}
    coalesce({{ n }} between 1 and 10, false)
{%- endmacro %}


-- published(name, value, hidden, flag=true, not_applicable=none): a measure as published, with
-- NULL's two meanings told apart by explicit flags: `<name>` = value, or null when `hidden` (the
-- measure is suppressed under the rule); `<name>_suppressed` = hidden (when `flag`; a measure
-- hidden only with its whole row leaves the row's `suppressed` to say it); and, when
-- `not_applicable` is given, `<name>_not_applicable` = that condition on a published measure
-- (a rate whose denominator is 0, a statistic with nothing to summarize). A null measure is then
-- exactly one of suppressed (row or measure) and not applicable.
{% macro published(name, value, hidden, flag=true, not_applicable=none) -%}
    case when coalesce({{ hidden }}, false) then null else {{ value }} end as {{ name }}
    {%- if flag %}
    , coalesce({{ hidden }}, false) as {{ name }}_suppressed
    {%- endif %}
    {%- if not_applicable %}
    , not coalesce({{ hidden }}, false) and coalesce({{ not_applicable }}, false)
        as {{ name }}_not_applicable
    {%- endif %}
{%- endmacro %}

-- suppress_rows(rows, key, counts, lines): `select <rows>.*, suppressed` with one row per row of
-- `rows`. A row is suppressed as a whole (every count and statistic of it null) when any of its
-- `counts` is suppressed by the rule; `counts` are the person counts that decide it (e.g.
-- ['persons'], or ['denominator_persons', 'numerator_persons']).
--   rows:  a relation or CTE name;
--   key:   columns that identify a row (the tie-break after the count: smallest count, then key);
--   lines: one entry per direction in which the counts add up to a total, as a mapping:
--          by, where: the rows with equal `by` values for which `where` (default true) holds
--                     add up to the line's total (one line per count);
--          total, total_by: the row of that total: the one for which `total` holds, with the
--                     same `total_by` values (a part of `by`; default `by`); none when the
--                     total is published elsewhere only (it then counts as published);
--          total_follows: true when the total is printed beside each count of the line rather
--                     than on a row of its own (it is then suppressed once they all are).
--          by, where, total and total_by use key columns only; where and total must not
--          both hold for a row.
{% macro suppress_rows(rows, key, counts, lines) -%}
    with _s_cells as (
        {{ _suppression_cells(rows, key, counts, none) }}
    )

    , _s_suppressed as (
        {{ _suppress_cells('_s_cells', key, lines, together=key) }}
    )

    , _s_rows as (
        select {{ key | join(', ') }}, bool_or(suppressed) as suppressed
        from _s_suppressed
        group by all
    )

    select _s_r.*, _s_s.suppressed
    from {{ rows }} as _s_r
    join _s_rows as _s_s on {{ _suppression_join('_s_r', '_s_s', key) }}
    {{ computed_once() }}
{%- endmacro %}


-- suppress_counts(rows, key, counts, lines, also_hide): `select <rows>.*, <count>_suppressed`
-- for each of `counts`: the same rule applied to each count column on its own (its lines are
-- the lines of that column), for the counts of a published row that are printed, or given back
-- by a rate, beside its persons (admissions, numerators and denominators of rates).
--   also_hide: a condition on the row (or a {count: condition} mapping) under which the count
--              is suppressed whatever its value: at least "the row is suppressed", so that the
--              row's counts are suppressed counts of their lines.
{% macro suppress_counts(rows, key, counts, lines, also_hide) -%}
    with _s_cells as (
        {{ _suppression_cells(rows, key, counts, also_hide) }}
    )

    , _s_suppressed as (
        {{ _suppress_cells('_s_cells', key, lines, together=none) }}
    )

    , _s_flags as (
        select
            {{ key | join(', ') }}
            {%- for count in counts %}
            , bool_or(suppressed) filter (where _s_count = '{{ count }}') as {{ count }}_suppressed
            {%- endfor %}
        from _s_suppressed
        group by all
    )

    select
        _s_r.*
        {%- for count in counts %}
        , _s_f.{{ count }}_suppressed
        {%- endfor %}
    from {{ rows }} as _s_r
    join _s_flags as _s_f on {{ _suppression_join('_s_r', '_s_f', key) }}
    {{ computed_once() }}
{%- endmacro %}


-- One cell per row x count: (key, _s_count = the count's column name, _s_value, _s_forced).
{% macro _suppression_cells(rows, key, counts, also_hide) -%}
    {{ return(adapter.dispatch('_suppression_cells', 'iop')(rows, key, counts, also_hide)) }}
{%- endmacro %}

{% macro _suppression_forced(count, also_hide) -%}
    {%- if also_hide is mapping %}{% set forced = also_hide.get(count, 'false') %}
    {%- else %}{% set forced = also_hide or 'false' %}{% endif -%}
    coalesce({{ forced }}, false)
{%- endmacro %}

-- DuckDB: one select per count.
{% macro default___suppression_cells(rows, key, counts, also_hide) -%}
    {%- for count in counts %}
    {% if not loop.first %}union all
    {% endif -%}
    select
        {{ key | join(', ') }}
        , '{{ count }}' as _s_count
        , {{ count }}::bigint as _s_value
        , {{ _suppression_forced(count, also_hide) }} as _s_forced
    from {{ rows }}
    {%- endfor %}
{%- endmacro %}

-- Spark: one read of `rows`, a row per count (Spark would plan `rows` once per count, and
-- stacked suppressions multiply those copies).
{% macro spark___suppression_cells(rows, key, counts, also_hide) -%}
    {%- set cells = [] %}
    {%- for count in counts %}
    {%- do cells.append(["'" ~ count ~ "'", count ~ '::bigint', _suppression_forced(count, also_hide)]) %}
    {%- endfor %}
    select
        {{ key | join(', ') }}
        , {{ unnest_rows(['_s_count', '_s_value', '_s_forced'], cells) }}
    from {{ rows }}
{%- endmacro %}


{% macro _suppression_join(left, right, key) -%}
    {%- for column in key %}
    {% if not loop.first %}and {% endif -%}
    {{ left }}.{{ column }} is not distinct from {{ right }}.{{ column }}
    {%- endfor %}
{%- endmacro %}


-- The rule on cells (key, _s_count, _s_value, _s_forced): `suppressed` per cell, at the fixed
-- point. Cells with equal `together` columns are suppressed together (the counts of one row).
-- A line: the cells with equal `by` (and _s_count) for which `where` holds, and its total: the
-- cell with equal `total_by` (a part of `by`) for which `total` holds, if the line has one.
-- `total_follows`: the total is not printed on its own but beside each of the line's counts
-- (from_level_discharges), so it is suppressed once all of them are; needs total_by = by.
-- The rounds: round 0 is the primary suppression (_suppression_primary), each next round
-- applies _suppression_round to the one before, until a round changes nothing.
{% macro _suppress_cells(cells, key, lines, together) -%}
    {%- set unit = key + ['_s_count'] if together is none else together -%}
    {{ return(adapter.dispatch('_suppress_cells', 'iop')(cells, key, lines, unit)) }}
{%- endmacro %}

-- DuckDB: a recursive CTE, which stops at the first round that changes nothing.
{% macro default___suppress_cells(cells, key, lines, unit) -%}
    with recursive _s_rounds as (
        {{ _suppression_primary(cells, unit) }}

        union all

        select * except (_s_changed)
        from ({{ _suppression_round('_s_rounds', key, lines, unit) }})
        where _s_changed
    )

    select * except (_s_round)
    from _s_rounds
    qualify _s_round = max(_s_round) over ()
{%- endmacro %}

-- Spark: its recursive CTEs take no window function over the recursive reference, so the rounds
-- are unrolled, dbt var suppression_rounds of them (default 6; the XS demo data reaches the
-- fixed point by round 2); the last must change nothing (the fixed point was reached before it),
-- else the query fails rather than publish cells the rule would still suppress. The unrolled plan
-- is deep: Spark's analyzer needs more than its default 100 iterations to resolve it (the session
-- raises spark.sql.analyzer.maxIterations, iop/spark.py).
{% macro spark___suppress_cells(cells, key, lines, unit) -%}
    {%- set rounds = var('suppression_rounds', 6) -%}
    with _s_round_0 as (
        {{ _suppression_primary(cells, unit) }}
    )
    {%- for i in range(1, rounds + 1) %}

    , _s_round_{{ i }} as (
        {{ _suppression_round('_s_round_' ~ (i - 1), key, lines, unit) }}
    )
    {%- endfor %}

    select * except (_s_round, _s_changed)
    from _s_round_{{ rounds }}
    where case when _s_changed then raise_error(
            'small-cell suppression did not settle in {{ rounds }} rounds:'
            || ' raise IOP_SPARK_SUPPRESSION_ROUNDS (dbt var suppression_rounds)')
        else true end
{%- endmacro %}


-- Round 0: (_s_round, <cells' columns>, suppressed) with the primary suppressions: 1-10, or
-- forced (a suppressed row's count, a count equal to a suppressed one).
{% macro _suppression_primary(cells, unit) -%}
    select
        0 as _s_round
        , *
        , bool_or(_s_forced or {{ small('_s_value') }})
            over (partition by {{ unit | join(', ') }}) as suppressed
    from {{ cells }}
{%- endmacro %}


-- One round on `state` (the columns of round 0): the next round's rows, each with _s_changed
-- (whether the round suppressed any cell). Every line holding a suppressed cell (its total
-- included) but not two of them with one of 11+ gets its smallest published cell of 11+
-- suppressed (its total only when no other qualifies and the suppressed ones are all <= 1),
-- with the rest of its `unit`; a `total_follows` total is suppressed once all its line is.
{% macro _suppression_round(state, key, lines, unit) -%}
    {%- set cell = key + ['_s_count'] -%}
    {%- set large = 'not suppressed and _s_value >= 11' -%}
    select
        _s_round + 1 as _s_round
        , {{ cell | join(', ') }}
        , _s_value
        , _s_forced
        , suppressed or _s_pick as suppressed
        , bool_or(_s_pick and not suppressed) over () as _s_changed
    from (
        select
            *
            , coalesce(bool_or(
                false
                {%- for line in lines %}{% set i = loop.index %}
                or _s_pick_{{ i }}
                {%- endfor %}
            ) over (partition by {{ unit | join(', ') }}), false) as _s_pick
        from (
            select
                *
                {%- for line in lines %}{% set i = loop.index %}
                {%- set where = '(' ~ line.get('where', 'true') ~ ')' %}
                {%- set totals = (line.get('total_by', line.by) + ['_s_count']) | join(', ') %}
                {%- set hidden = '(_s_hidden_' ~ i ~ ' + _s_total_hidden_' ~ i ~ '::integer)' %}
                {%- set violated = where ~ ' and ' ~ hidden ~ ' >= 1 and (' ~ hidden
                    ~ ' < 2 or _s_large_' ~ i ~ ' + (_s_total_hidden_' ~ i
                    ~ ' and _s_total_large_' ~ i ~ ')::integer = 0)' %}
                , ({{ large }} and {{ violated }} and _s_rank_{{ i }} = 1)
                {%- if line.get('total') %}
                    or ({{ large }} and ({{ line.total }}) and coalesce(bool_or(
                        {{ violated }} and _s_candidates_{{ i }} = 0
                            and _s_hidden_max_{{ i }} <= 1
                    ) over (partition by {{ totals }}), false))
                    {%- if line.get('total_follows') %}
                    or (not suppressed and ({{ line.total }}) and _s_members_hidden_{{ i }})
                    {%- endif %}
                {%- endif %}
                    as _s_pick_{{ i }}
                {%- endfor %}
            from (
                {{ _suppression_line_counts(state, cell, lines, large) }}
            )
        )
    )
{%- endmacro %}


-- `state` with, per line i, what the round decides on: in the cell's line, the suppressed cells
-- (_s_hidden_i; of 11+: _s_large_i; the largest: _s_hidden_max_i), the published cells of 11+
-- (_s_candidates_i) and the cell's rank among the line's cells of its kind (smallest first);
-- whether the line's total is suppressed and of 11+; for a `total_follows` line, whether all its
-- cells are suppressed. (Conditional window aggregates are written with `case`, not `filter`:
-- Spark takes no filter clause on a window function.)
{% macro _suppression_line_counts(state, cell, lines, large) -%}
    select
        *
        {%- for line in lines %}{% set i = loop.index %}
        {%- set where = '(' ~ line.get('where', 'true') ~ ')' %}
        {%- set members = (line.by + ['_s_count', where]) | join(', ') %}
        {%- set totals = (line.get('total_by', line.by) + ['_s_count']) | join(', ') %}
        , count(case when suppressed then 1 end) over (partition by {{ members }})
            as _s_hidden_{{ i }}
        , count(case when suppressed and _s_value >= 11 then 1 end)
            over (partition by {{ members }}) as _s_large_{{ i }}
        , count(case when {{ large }} then 1 end)
            over (partition by {{ members }}) as _s_candidates_{{ i }}
        , max(case when suppressed then _s_value end)
            over (partition by {{ members }}) as _s_hidden_max_{{ i }}
        , row_number() over (
            partition by {{ members }}, {{ large }}
            order by _s_value, {{ cell | join(', ') }}
        ) as _s_rank_{{ i }}
        {%- if line.get('total') %}
        , coalesce(bool_or(case when {{ line.total }} then suppressed end)
            over (partition by {{ totals }}), false) as _s_total_hidden_{{ i }}
        , coalesce(bool_or(case when {{ line.total }} then _s_value >= 11 end)
            over (partition by {{ totals }}), false) as _s_total_large_{{ i }}
        {%- if line.get('total_follows') %}
        , coalesce(bool_and(case when {{ where }} then suppressed end)
            over (partition by {{ totals }}), false) as _s_members_hidden_{{ i }}
        {%- endif %}
        {%- else %}
        , false as _s_total_hidden_{{ i }}
        , false as _s_total_large_{{ i }}
        {%- endif %}
        {%- endfor %}
    from {{ state }}
{%- endmacro %}
