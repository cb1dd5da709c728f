"""Staging checks that cost what a refresh adds: per-file counts kept between runs.

A staging table gains its rows a landed file at a time (`_file_sha256`, `_row_number` on every
row) and loses a file's rows only whole: a corrected re-export replaces them, a removed or
excluded file takes them away (sql/macros/staging.sql). A file's rows are a function of its
content, its layout and the rules; a change of the rules makes the run a full build
(iop/build_state.py). So whatever a check counts over one file's rows stays the same while the
file stays in the table, and the working database keeps, per staging table (schema audit):

* `check_stores`: the hash of the suite the counts were made for, and the run they were last
  brought up to date in;
* `check_files`: the files counted, each with its row count;
* `check_file_counts`: per column-map expectation and file, the rows the expectation applies to
  (GX's domain: non-null values; every row for not-null), the unexpected ones among them, and
  the file's up to 3 smallest failing-sample keys (`file:row`, de-identified); per row-filter
  query and file, the file's rows it returns;
* `check_totals`: per uniqueness expectation, the table's domain and duplicate rows; per
  row-filter query, the digest of the tables it reads.

Why this gives GX's numbers exactly (the same integers `validate_table` counts, so the same
percents and verdicts):

* Column map (not null, in set, between, regex, A > B): domain and unexpected counts are sums
  over rows, so over files; summed over the files in the table now, they are the table's. The
  failing sample is the 3 smallest keys of the table (`order by 1 limit 3`), and the 3 smallest
  of a union are among the 3 smallest of each part.
* Uniqueness: GX counts the rows whose key (not all null) occurs more than once. Adding rows N
  to rows O changes only the counts of the keys N holds: with c(k) a key's count in the table
  and c_O(k) = c(k) - c_N(k) its count before, duplicates(O + N) = duplicates(O)
  - sum of c_O(k) over N's keys with c_O(k) > 1 + sum of c(k) over N's keys with c(k) > 1.
  The counts come from a semi-join of the table on N's distinct keys, not from a group-by of
  the table. When a counted file has left the table its rows' keys went with it: the check is
  computed over the whole table again.
* Row count: the sum of one group-by of the table on `_file_sha256` (count(*) per file).
* Cross-table queries (unexpected_rows_expectation): a query that only filters the table's
  rows (`select * from {batch} as b where ...`: {batch} read nowhere else, no grouping, limit or
  CTE, only functions DuckDB marks consistent, no table functions; `row_filter`) keeps or drops
  each row on its own, so its count is a sum over files too, as long as the tables it reads
  hold the same rows: a digest of their content (tables of at most 100,000 rows) is kept with
  the counts, and the query runs over the whole table again when it differs. Any other query
  runs over the whole table, as `validate_table` runs it.

The counts hold only for the suite they were made with and for tables built incrementally
since. The whole table is checked, and the store made again from its per-file group-by in the
same pass, when there is no store, when the suite's hash differs, when no build decision is
recorded for the run or it builds in full, when a full build was decided since the store was
written (or that run is no longer recorded), or when a counted file's row count changed. Like
the build state, the store is not carried over when a damaged warehouse is rebuilt. Spark
(which builds every model whole) and non-staging tables are validated whole (`validate_table`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from iop.validation import (
    SAMPLE_SIZE,
    UNIQUENESS,
    DuckDBEngine,
    Engine,
    Expectation,
    ExpectationResult,
    Measured,
    Plan,
    _quote,
    _unexpected_condition,
    as_engine,
    assemble,
    not_applicable,
    plan_checks,
    validate_table,
)

FILE_COLUMNS = ("_file_sha256", "_row_number")
# a change of what is stored or how it is counted: every store is made again
STORE_VERSION = 1
SHOWN_FILES = 5  # new files named (by the start of their hash) in `scanned`
DIGEST_ROWS = 100_000  # a larger table a row-filter query reads: the query runs whole
STORE_DDL = {
    "check_stores": "table_name varchar, suite_sha256 varchar, run_id varchar, "
    "updated_at timestamp",
    "check_files": "table_name varchar, file_sha256 varchar, rows bigint",
    "check_file_counts": "table_name varchar, check_name varchar, file_sha256 varchar, "
    "domain bigint, unexpected bigint, failing_sample varchar[]",
    "check_totals": "table_name varchar, check_name varchar, domain bigint, unexpected bigint, "
    "reads_digest varchar",
}


@dataclass
class Store:
    """The counts kept for one table (empty: none, or none that may be used)."""

    files: dict[str, int] = field(default_factory=dict)
    # (check, file) -> (domain, unexpected, failing sample)
    counts: dict[tuple[str, str], tuple[int, int, list[str]]] = field(default_factory=dict)
    # uniqueness check -> (domain, duplicate rows, None); row-filter query -> (None, None,
    # digest of the tables it reads)
    totals: dict[str, tuple[int | None, int | None, str | None]] = field(default_factory=dict)


def suite_hash(table: str, expectations: tuple[Expectation, ...], plan: Plan) -> str:
    """What the counts depend on: the suite's content, which of its checks were measured (a
    missing column leaves one out), the sample key and the store's version."""
    document = {
        "version": STORE_VERSION,
        "table": table,
        "expectations": [[e.type, e.name, e.kwargs, list(e.meta)] for e in expectations],
        "measured": sorted([e.name for e in plan.map_expectations] + list(plan.scalars)),
        "sample_key": plan.sample_key,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'audit' and table_name = ?",
            [table],
        ).fetchall()[0][0]
    )


def _first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple | None:
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def stale(con: duckdb.DuckDBPyConnection, table: str, suite: str, run_id: str | None) -> str | None:
    """Why the kept counts may not be used in this run (None: they may)."""
    kept = _exists(con, "check_stores") and _first_row(
        con, "select suite_sha256, run_id from audit.check_stores where table_name = ?", [table]
    )
    if not kept:
        return "no counts kept yet"
    kept_suite, kept_run = kept
    if kept_suite != suite:
        return "the suite changed"
    runs = "select {} from audit.build_runs where run_id = ?"
    now = (
        run_id is not None
        and _exists(con, "build_runs")
        and _first_row(con, runs.format("full_refresh"), [run_id])
    )
    if not now:
        return "no build decision recorded for this run"
    if now[0]:
        return "the run builds in full"
    then = _first_row(con, runs.format("decided_at"), [kept_run])
    if not then:
        return "the run the counts were kept in is no longer recorded"
    full_since = con.execute(
        "select count(*) from audit.build_runs "
        "where full_refresh and decided_at >= ? and run_id <> ?",
        [then[0], kept_run],
    ).fetchall()[0][0]
    if full_since:
        return "a full build since the counts were kept"
    return None


def load(con: duckdb.DuckDBPyConnection, table: str) -> Store:
    store = Store()
    store.files = dict(
        con.execute(
            "select file_sha256, rows from audit.check_files where table_name = ?", [table]
        ).fetchall()
    )
    for check, file, domain, unexpected, sample in con.execute(
        "select check_name, file_sha256, domain, unexpected, failing_sample "
        "from audit.check_file_counts where table_name = ?",
        [table],
    ).fetchall():
        store.counts[(check, file)] = (domain, unexpected, list(sample or []))
    for check, domain, unexpected, digest in con.execute(
        "select check_name, domain, unexpected, reads_digest from audit.check_totals "
        "where table_name = ?",
        [table],
    ).fetchall():
        store.totals[check] = (domain, unexpected, digest)
    return store


def save(
    con: duckdb.DuckDBPyConnection, table: str, suite: str, run_id: str | None, store: Store
) -> None:
    """Replace the table's kept counts with `store`, in one transaction."""
    con.execute("create schema if not exists audit")
    for name, columns in STORE_DDL.items():
        con.execute(f"create table if not exists audit.{name} ({columns})")
    files = sorted(store.files)
    counts = sorted(store.counts)
    con.execute("begin transaction")
    try:
        for name in STORE_DDL:
            con.execute(f"delete from audit.{name} where table_name = ?", [table])
        con.execute(
            "insert into audit.check_stores values (?, ?, ?, now()::timestamp)",
            [table, suite, run_id],
        )
        # whole columns as list parameters: one statement, however many files
        con.execute(
            "insert into audit.check_files select ?, unnest(?::varchar[]), unnest(?::bigint[])",
            [table, files, [store.files[f] for f in files]],
        )
        con.execute(
            "insert into audit.check_file_counts select ?, unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::bigint[]), unnest(?::bigint[]), "
            "unnest(?::varchar[][])",
            [
                table,
                [check for check, _ in counts],
                [file for _, file in counts],
                [store.counts[c][0] for c in counts],
                [store.counts[c][1] for c in counts],
                [store.counts[c][2] for c in counts],
            ],
        )
        for check, values in sorted(store.totals.items()):
            con.execute(
                "insert into audit.check_totals values (?, ?, ?, ?, ?)", [table, check, *values]
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _listed(files: list[str]) -> str:
    # file hashes are hex digits: safe as literals (a constant list DuckDB pushes into the scan)
    return ", ".join("'" + f.replace("'", "''") + "'" for f in files)


def _in_files(files: list[str] | None, alias: str = "") -> str:
    """A condition on the rows of `files` (None: every row)."""
    return "true" if files is None else f"{alias}_file_sha256 in ({_listed(files)})"


def count_files(
    sql: Engine, table: str, plan: Plan, files: list[str] | None
) -> dict[tuple[str, str], tuple[int, int, list[str]]] | None:
    """(check, file) -> (domain, unexpected, failing sample) of each column-map expectation over
    the rows of `files` (None: all), from one group-by on the file, and a second one, over the
    files with failures only, for the samples. None when a failing row has no sample key (the
    whole table's `order by 1` would show it as None, last: not kept per file)."""
    if not plan.map_expectations or files == []:
        return {}
    conditions = {e.name: _unexpected_condition(e, sql) for e in plan.map_expectations}
    aggregates = []
    for bad, domain in conditions.values():
        aggregates.append(f"count(*) filter (where {domain})")
        aggregates.append(f"count(*) filter (where ({domain}) and ({bad}))")
    rows = sql.rows(
        f"select _file_sha256, {', '.join(aggregates)} from {table} "
        f"where {_in_files(files)} group by 1"
    )
    counts = {}
    for file, *values in rows:
        for i, name in enumerate(conditions):
            counts[(name, file)] = (values[2 * i], values[2 * i + 1], [])
    failing = [name for name in conditions if any(counts[(name, f)][1] for f, *_ in rows)]
    failing_files = sorted({f for name, f in counts if name in failing and counts[(name, f)][1]})
    if failing and plan.sample_key is not None:
        tests = {}
        for name in failing:
            bad, domain = conditions[name]
            tests[name] = f"({domain}) and ({bad})"
        smallest = ", ".join(
            f"min({plan.sample_key}, {SAMPLE_SIZE}) filter (where {t})" for t in tests.values()
        )
        any_failure = " or ".join(f"({t})" for t in tests.values())
        samples = sql.rows(
            f"select _file_sha256, count(*) filter (where ({plan.sample_key}) is null), "
            f"{smallest} from {table} "
            f"where {_in_files(failing_files)} and ({any_failure}) group by 1"
        )
        if any(keyless for _, keyless, *_ in samples):
            return None
        for file, _, *lists in samples:
            for name, sample in zip(tests, lists, strict=True):
                domain, unexpected, _ = counts[(name, file)]
                counts[(name, file)] = (domain, unexpected, [str(s) for s in sample or []])
    return counts


def duplicates_change(
    sql: Engine, table: str, keys: list[str], new_files: list[str]
) -> tuple[int, int, int]:
    """For the distinct keys (not all null) of the rows of `new_files`: (their rows, duplicate
    rows among the other rows of those keys, duplicate rows of those keys in the whole table).
    The table is read through a semi-join on those keys only."""
    columns = [sql.quote(c) for c in keys]
    not_all_null = " or ".join(f"{c} is not null" for c in columns)
    # keys are compared as GROUP BY compares them: a null equals a null
    match = " and ".join(f"t.{c} is not distinct from k.{c}" for c in columns)
    query = (
        f"with new_keys as (select distinct {', '.join(columns)} from {table} "
        f"where {_in_files(new_files)} and ({not_all_null})), "
        f"counts as (select count(*) as n, count(*) filter (where "
        f"{_in_files(new_files, 't.')}) as n_new "
        f"from {table} as t semi join new_keys as k on {match} "
        f"group by {', '.join('t.' + c for c in columns)}) "
        "select coalesce(sum(n_new), 0), "
        "coalesce(sum(n - n_new) filter (where n - n_new > 1), 0), "
        "coalesce(sum(n) filter (where n > 1), 0) from counts"
    )
    [row] = sql.rows(query)
    return row[0], row[1], row[2]


# Unqualified names DuckDB binds to a value of the moment, not to a column
MOMENT_NAMES = {
    "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "current_user", "session_user", "user", "current_role", "current_catalog",
    "current_schema", "current_query",
}  # fmt: skip


def _nodes(tree: Any) -> Any:
    """Every dict of a parsed statement (json_serialize_sql), depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def row_filter(con: duckdb.DuckDBPyConnection, query: str, table: str) -> list[str] | None:
    """The relations (`schema.table`) `query` reads besides `table`, when it only keeps or drops
    each row of `table` on its own, so that its row count over the table is the sum of its
    counts over any split of the rows; None when that is not sure. Decided on DuckDB's parse
    of the query: one `select *` whose FROM is `table` alone, `table` read nowhere else, no
    CTE, grouping, qualify, limit, distinct or sample; every other table schema-qualified and
    existing, no table function, every function consistent (DuckDB's own marking: not
    random(), not now()), no value of the moment (current_date)."""
    parsed = json.loads(con.execute("select json_serialize_sql(?)", [query]).fetchone()[0])
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        return None
    top = parsed["statements"][0]["node"]
    schema, name = table.split(".")
    select = top.get("select_list") or []
    source = top.get("from_table") or {}
    if (
        top.get("type") != "SELECT_NODE"
        or top.get("modifiers")
        or top.get("cte_map", {}).get("map")
        or top.get("group_expressions")
        or top.get("group_sets")
        or top.get("having") is not None
        or top.get("qualify") is not None
        or top.get("sample") is not None
        or len(select) != 1
        or select[0].get("class") != "STAR"
        or select[0].get("relation_name")
        or select[0].get("exclude_list")
        or select[0].get("replace_list")
        or select[0].get("columns")
        or select[0].get("expr") is not None
        or source.get("type") != "BASE_TABLE"
        or source.get("sample") is not None
    ):
        return None
    relations, functions = [], set()
    for node in _nodes(parsed["statements"]):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            if not node.get("schema_name") or node.get("catalog_name") or node.get("at_clause"):
                return None
            relations.append(f"{node['schema_name']}.{node['table_name']}")
        elif kind in ("TABLE_FUNCTION", "SHOW_REF") or node.get("cte_map", {}).get("map"):
            return None
        elif node.get("class") == "FUNCTION":
            functions.add(node["function_name"].lower())
        elif node.get("class") == "COLUMN_REF":
            names = node.get("column_names") or []
            if len(names) == 1 and names[0].lower() in MOMENT_NAMES:
                return None
    if relations.count(table) != 1 or (source["schema_name"], source["table_name"]) != (
        schema,
        name,
    ):
        return None
    if functions:
        stable = dict(
            con.execute(
                "select lower(function_name), bool_and(coalesce(stability = 'CONSISTENT', false)) "
                "from duckdb_functions() where lower(function_name) in "
                "(select unnest(?::varchar[])) group by 1",
                [sorted(functions)],
            ).fetchall()
        )
        if set(stable) != functions or not all(stable.values()):
            return None
    others = sorted(set(relations) - {table})
    known = {
        f"{s}.{t}"
        for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() union all "
            "select schema_name, view_name from duckdb_views()"
        ).fetchall()
    }
    return others if set(others) <= known else None


def reads_digest(con: duckdb.DuckDBPyConnection, relations: list[str]) -> str | None:
    """The rows of the (reference) relations a query reads, as one digest: their counts and an
    md5 of their sorted rows; None when one is too large to digest cheaply."""
    parts = []
    for relation in relations:
        quoted = ".".join(_quote(part) for part in relation.split("."))
        [(count,)] = con.execute(f"select count(*) from {quoted}").fetchall()
        if count > DIGEST_ROWS:
            return None
        [(digest,)] = con.execute(
            "select md5(coalesce(string_agg(r::varchar, chr(30) order by r::varchar), '')) "
            f"from {quoted} as r"
        ).fetchall()
        parts.append(f"{relation}:{count}:{digest}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _shown(files: list[str]) -> str:
    prefixes = ", ".join(f[:12] for f in files[:SHOWN_FILES])
    more = f", +{len(files) - SHOWN_FILES}" if len(files) > SHOWN_FILES else ""
    return f" ({prefixes}{more})" if files else ""


def _row_filter_counts(
    sql: Engine, query: str, present: dict[str, int], files: list[str] | None
) -> dict[str, int]:
    """file -> rows a row-filter query returns of it, for `files` (None: every file)."""
    if files == []:
        return {}
    counts = dict(
        sql.rows(
            f"select _file_sha256, count(*) from ({query}) as unexpected_rows "
            f"where {_in_files(files)} group by 1"
        )
    )
    return {file: counts.get(file, 0) for file in (present if files is None else files)}


def _uniqueness(
    sql: Engine,
    table: str,
    e: Expectation,
    plan: Plan,
    kept: tuple[int | None, int | None, str | None] | None,
    new: list[str],
    how: str,
) -> tuple[int, int, str]:
    """(domain, duplicate rows, what was read) of a uniqueness expectation: from the kept
    totals and the keys of the new rows when `kept`, else over the whole table."""
    if kept is None:
        domain, duplicates = (sql.rows(q)[0][0] for q in plan.scalars[e.name])
        return domain, duplicates, how
    domain, duplicates, _ = kept
    if not new:
        return domain, duplicates, how
    keys = e.kwargs.get("column_list") or [e.kwargs["column"]]
    added, before, after = duplicates_change(sql, table, keys, new)
    return domain + added, duplicates - before + after, how + "; keys of new rows across the table"


def validate_incrementally(
    con: duckdb.DuckDBPyConnection,
    table: str,
    expectations: tuple[Expectation, ...],
    *,
    run_id: str | None,
    pseudonyms: bool = False,
    engine: Any = None,
) -> list[ExpectationResult]:
    """`validate_table`'s results for a staging table, counting only the rows of files not
    counted yet (see the module docstring), and the kept counts brought up to date. Each
    measured result says in `details["scanned"]` what was read. A core table whose uniqueness
    checks name a refresh scope goes to iop/validation_scoped.py."""
    sql = as_engine(engine, con)
    if isinstance(sql, DuckDBEngine) and not table.startswith("staging."):
        from iop import validation_scoped  # it builds on this module

        if any(validation_scoped.scope_of(e) for e in expectations):
            return validation_scoped.validate_by_scope(
                con, table, expectations, run_id=run_id, pseudonyms=pseudonyms
            )
    if not isinstance(sql, DuckDBEngine) or not table.startswith("staging."):
        return validate_table(con, table, expectations, pseudonyms=pseudonyms, engine=engine)
    empty = not_applicable(con, table, expectations)
    if empty is not None:
        return empty
    columns = sql.columns(table)
    if not set(FILE_COLUMNS) <= set(columns):
        return validate_table(con, table, expectations, pseudonyms=pseudonyms, engine=engine)
    plan = plan_checks(sql, table, expectations, columns, pseudonyms)
    present = dict(sql.rows(f"select _file_sha256, count(*) from {table} group by 1"))
    if None in present:  # rows of no file: nothing to keep them under
        return validate_table(con, table, expectations, pseudonyms=pseudonyms, engine=engine)

    suite = suite_hash(table, expectations, plan)
    reason = stale(con, table, suite, run_id)
    kept = Store() if reason else load(con, table)
    if reason is None and any(kept.files[f] != n for f, n in present.items() if f in kept.files):
        reason, kept = "a counted file's row count changed", Store()
    if reason is None and any(
        (e.name, f) not in kept.counts for e in plan.map_expectations for f in kept.files
    ):
        reason, kept = "the kept counts are incomplete", Store()
    new = sorted(f for f in present if f not in kept.files)
    gone = sorted(f for f in kept.files if f not in present)
    if reason is not None:
        how = f"whole table ({reason})"
    else:
        how = f"new files: {len(new)} of {len(present)}{_shown(new)}"
        how += f"; {len(gone)} counted file(s) left the table" if gone else ""

    store = Store(files=dict(present))
    store.counts = {(c, f): v for (c, f), v in kept.counts.items() if f in present}
    counted = count_files(sql, table, plan, None if reason else new)
    if counted is None:
        return validate_table(con, table, expectations, pseudonyms=pseudonyms, engine=engine)
    store.counts.update(counted)
    measured = Measured(row_count=sum(present.values()), maps={}, scalars={})
    for e in plan.map_expectations:
        parts = [store.counts[(e.name, f)] for f in present]
        unexpected = sum(p[1] for p in parts)
        measured.maps[e.name] = (unexpected, sum(p[0] for p in parts))
        if unexpected:
            measured.samples[e.name] = sorted(s for p in parts for s in p[2])[:SAMPLE_SIZE]
        measured.scanned[e.name] = how

    for e in expectations:
        if e.type == "expect_table_row_count_to_be_between":
            measured.scanned[e.name] = "whole table (rows per file)"
        elif e.type in UNIQUENESS and e.name in plan.scalars:
            usable = kept.totals.get(e.name) if reason is None and not gone else None
            domain, duplicates, scanned = _uniqueness(sql, table, e, plan, usable, new, how)
            if reason is None and usable is None:
                why = "a counted file left the table" if gone else "no total kept"
                scanned = f"whole table ({why})"
            measured.scalars[e.name] = [domain, duplicates]
            measured.scanned[e.name] = scanned
            store.totals[e.name] = (domain, duplicates, None)
        elif e.type == "unexpected_rows_expectation" and e.name in plan.scalars:
            query = e.kwargs["unexpected_rows_query"].replace("{batch}", table)
            relations = row_filter(con, query, table)
            digest = None if relations is None else reads_digest(con, relations)
            if digest is None:
                measured.scalars[e.name] = [sql.rows(plan.scalars[e.name][0])[0][0]]
                measured.scanned[e.name] = "whole table (cross-table query)"
                continue
            scanned = how
            files: list[str] | None = None if reason else new
            if reason is None and kept.totals.get(e.name, (None, None, None))[2] != digest:
                files, scanned = None, "whole table (a table it reads changed)"
            for file, count in _row_filter_counts(sql, query, present, files).items():
                store.counts[(e.name, file)] = (0, count, [])
            measured.scalars[e.name] = [sum(store.counts[(e.name, f)][1] for f in present)]
            measured.scanned[e.name] = scanned
            store.totals[e.name] = (None, None, digest)

    results = assemble(con, sql, table, expectations, plan, measured)
    save(con, table, suite, run_id, store)
    return results
