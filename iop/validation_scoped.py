"""Uniqueness checks of core tables that cost what a refresh changed: counted over its scope.

A core table refreshed by change scope (sql/macros/incremental.sql) changes, in an incremental
run, only rows that hold one of a set of values in one column: `core.claim_lines` deletes and
recomputes the lines of the claim ids in `core.change_scope`; `core.sessions` merges new rows, and
recomputes the rows of dropped files, only for the clients of the changed files (all of them
`care_client` keys of `core.change_scope`). When that column is part of a uniqueness
expectation's key, the rows of one duplicated key all hold the same value of it: the table's
duplicate rows are those outside the scope, which the run did not touch, plus those inside it.
When the table's last check found none and nothing else changed the table since, its duplicates
are those of the scope's rows: GX's count (rows whose key occurs more than once, keys not all
null) from a group-by of those rows only, instead of the whole table (at L, 20M sessions and 30M
claim lines: about 3.3 s each).

The expectation names its scope in its meta, `refresh_scope: {"column": ..., "keys": <a query of
the scope's values>}`. Each check keeps its count in `audit.check_scoped_totals` (the suite's
hash, the run, the duplicate rows). The whole table is grouped, as `validate_table` does, when
the run builds in full or has no recorded build decision, when no count is kept for this suite,
when the kept count was not 0, or when another run has decided a build since the count was kept
(its core step may have changed the table with no check after it). Every other expectation is
measured over the whole table, as `validate_table` measures it; each uniqueness result says in
`details["scanned"]` what was read.
"""

from __future__ import annotations

import duckdb

from iop.validation import (
    UNIQUENESS,
    DuckDBEngine,
    Expectation,
    ExpectationResult,
    assemble,
    measure_whole,
    not_applicable,
    plan_checks,
)
from iop.validation_incremental import suite_hash
from iop.warehouse import has_table

KEPT = "audit.check_scoped_totals"
KEPT_DDL = (
    f"create table if not exists {KEPT} (table_name varchar, check_name varchar, "
    "suite_sha256 varchar, run_id varchar, duplicates bigint)"
)


def scope_of(e: Expectation) -> dict | None:
    """The refresh scope a uniqueness expectation names, when its key holds the scope's column."""
    scope = dict(e.meta).get("refresh_scope")
    keys = e.kwargs.get("column_list") or [e.kwargs.get("column")]
    if e.type not in UNIQUENESS or not scope or scope.get("column") not in keys:
        return None
    return scope


def why_whole(
    con: duckdb.DuckDBPyConnection, table: str, check: str, suite: str, run_id: str | None
) -> str | None:
    """Why this run's scope may not stand for the table (None: it may)."""
    now = (
        run_id is not None
        and has_table(con, "audit.build_runs")
        and con.execute(
            "select full_refresh from audit.build_runs where run_id = ?", [run_id]
        ).fetchall()
    )
    if not now:
        return "no build decision recorded for this run"
    if now[0][0]:
        return "the run builds in full"
    kept = (
        has_table(con, KEPT)
        and con.execute(
            f"select suite_sha256, run_id, duplicates from {KEPT} "
            "where table_name = ? and check_name = ?",
            [table, check],
        ).fetchall()
    )
    if not kept:
        return "no count kept yet"
    kept_suite, kept_run, duplicates = kept[0]
    if kept_suite != suite:
        return "the suite changed"
    if duplicates:
        return "the last check found duplicates"
    if kept_run == run_id:
        return None
    since = con.execute(
        "select count(*) from audit.build_runs where run_id not in (?, ?) and decided_at >= "
        "(select max(decided_at) from audit.build_runs where run_id = ?)",
        [kept_run, run_id, kept_run],
    ).fetchone()[0]
    if (
        since
        or con.execute(
            "select count(*) from audit.build_runs where run_id = ?", [kept_run]
        ).fetchone()[0]
        == 0
    ):
        return "another build since the last check"
    return None


def _scoped_duplicates(table: str, keys: list[str], scope: dict, quote) -> str:
    """GX's duplicate rows among the rows of the scope's values (a group-by of those rows)."""
    columns = ", ".join(quote(c) for c in keys)
    not_all_null = " or ".join(f"{quote(c)} is not null" for c in keys)
    return (
        f"select coalesce(sum(n), 0) from (select count(*) as n from {table} "
        f"where ({not_all_null}) and {quote(scope['column'])} in ({scope['keys']}) "
        f"group by {columns} having count(*) > 1)"
    )


def validate_by_scope(
    con: duckdb.DuckDBPyConnection,
    table: str,
    expectations: tuple[Expectation, ...],
    *,
    run_id: str | None,
    pseudonyms: bool = False,
) -> list[ExpectationResult]:
    """`validate_table`'s results for a core table, its scoped uniqueness checks counted over
    the run's scope where the module docstring allows; their counts kept for the next run."""
    empty = not_applicable(con, table, expectations)
    if empty is not None:
        return empty
    sql = DuckDBEngine(con)
    plan = plan_checks(sql, table, expectations, sql.columns(table), pseudonyms)
    suite = suite_hash(table, expectations, plan)
    scanned = {}
    for e in expectations:
        scope = scope_of(e)
        if scope is None or e.name not in plan.scalars:
            continue
        reason = why_whole(con, table, e.name, suite, run_id)
        if reason is None:
            keys = e.kwargs.get("column_list") or [e.kwargs["column"]]
            plan.scalars[e.name][1] = _scoped_duplicates(table, keys, scope, sql.quote)
            scanned[e.name] = (
                f"rows of this run's {scope['column']} scope (no duplicate at the last check)"
            )
        else:
            scanned[e.name] = f"whole table ({reason})"
    measured = measure_whole(sql, table, plan)
    measured.scanned.update(scanned)
    results = assemble(con, sql, table, expectations, plan, measured)
    if scanned:
        con.execute(KEPT_DDL)
        for name in scanned:
            con.execute(
                f"delete from {KEPT} where table_name = ? and check_name = ?", [table, name]
            )
            con.execute(
                f"insert into {KEPT} values (?, ?, ?, ?, ?)",
                [table, name, suite, run_id, measured.scalars[name][1]],
            )
    return results
