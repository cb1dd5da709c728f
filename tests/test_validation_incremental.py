"""Staging checks from per-file counts give exactly validate_table's results over the whole table.

Hand-built DuckDB tables take landed files pass after pass, as the staging models do (a file's
rows added once, a re-export replacing an earlier file, a file removed); after every pass each
result of `validate_incrementally` equals `validate_table`'s, field by field, and `scanned` says
whether the pass read only the new files or the whole table (and why).
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iop import build_state, validation
from iop.validation import Expectation, validate_table
from iop.validation_incremental import row_filter, validate_incrementally

TABLE = "staging.items"
COLUMNS = (
    "_file_sha256 varchar, _row_number bigint, claim_id varchar, line_number integer, "
    "member_id varchar, code varchar, units integer, from_date date, to_date date, payer varchar"
)
DAY0 = date(2025, 1, 1)


def _expectation(kind: str, name: str | None = None, **kwargs) -> Expectation:
    return Expectation(
        table=TABLE,
        type=kind,
        kwargs=kwargs,
        severity="warning",
        tier="logical",
        name=name or f"{kind}__{'_'.join(str(v) for v in kwargs.values())}"[:80],
    )


SUITE = (
    _expectation("expect_table_row_count_to_be_between", min_value=1),
    _expectation("expect_column_to_exist", column="payer"),
    _expectation("expect_column_values_to_not_be_null", "member_id_not_null", column="member_id"),
    # 1 in 4 rows may lack a code: the boundary is hit exactly in the scripted passes
    _expectation("expect_column_values_to_not_be_null", "code_mostly", column="code", mostly=0.75),
    _expectation("expect_column_values_to_be_in_set", column="code", value_set=["A", "B", "C"]),
    _expectation(
        "expect_column_values_to_be_between", column="units", min_value=0, max_value=10, mostly=0.8
    ),
    _expectation("expect_column_values_to_match_regex", column="member_id", regex="^M[0-9]+$"),
    _expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        column_A="to_date",
        column_B="from_date",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    ),
    _expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        "pair_both_missing",
        column_A="to_date",
        column_B="from_date",
        ignore_row_if="both_values_are_missing",
    ),
    _expectation("expect_column_values_to_be_unique", column="member_id", mostly=0.5),
    _expectation(
        "expect_compound_columns_to_be_unique",
        "unique_claim_line",
        column_list=["claim_id", "line_number"],
        mostly=0.9,
    ),
    _expectation(
        "unexpected_rows_expectation",
        "payer_known",
        unexpected_rows_query="select * from {batch} as b where b.payer is not null and not "
        "exists (select 1 from refs.payers as k where k.payer = b.payer)",
    ),
    # not a filter of each row on its own: the table read twice; a value of the moment
    _expectation(
        "unexpected_rows_expectation",
        "member_in_two_files",
        unexpected_rows_query="select * from {batch} as b where exists (select 1 from {batch} "
        "as c where c.member_id = b.member_id and c._file_sha256 <> b._file_sha256)",
    ),
    _expectation(
        "unexpected_rows_expectation",
        "future_service",
        unexpected_rows_query="select * from {batch} as b where b.from_date > current_date",
    ),
)


class Warehouse:
    """A working database with one staging table, files landed on it, and runs decided."""

    def __init__(self, view: bool = False) -> None:
        self.con = duckdb.connect()
        self.view = view
        self.con.execute("create schema staging")
        self.con.execute("create schema refs")
        self.con.execute("create table refs.payers as select 'P1' as payer")
        build_state.ensure_tables(self.con)
        if view:  # a view over the union of per-layout tables, like staging.claims
            for layout in ("a", "b"):
                self.con.execute(f"create table staging.items_{layout} ({COLUMNS})")
            self.con.execute(
                f"create view {TABLE} as select * from staging.items_a "
                "union all by name select * from staging.items_b"
            )
        else:
            self.con.execute(f"create table {TABLE} ({COLUMNS})")
        self.runs = itertools.count(1)
        self.files: list[str] = []

    def land(self, rows: list[tuple], salt: str = "") -> str:
        """A file of `rows` (claim_id, line_number, member_id, code, units, from, to, payer)."""
        sha = hashlib.sha256(repr((rows, salt, len(self.files))).encode()).hexdigest()
        target = TABLE if not self.view else f"staging.items_{'ab'[len(self.files) % 2]}"
        if rows:
            self.con.executemany(
                f"insert into {target} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(sha, i + 1, *row) for i, row in enumerate(rows)],
            )
        self.files.append(sha)
        return sha

    def remove(self, sha: str) -> None:
        for target in [TABLE] if not self.view else ["staging.items_a", "staging.items_b"]:
            self.con.execute(f"delete from {target} where _file_sha256 = ?", [sha])

    def run(self, full: bool = False, decided: bool = True) -> str:
        """A new run, its build decision recorded (incremental unless `full`)."""
        run_id = f"run-{next(self.runs)}"
        if decided:
            self.con.execute(
                "insert into audit.build_runs values (?, now()::timestamp + to_microseconds(?), "
                "?, 'test', 'fp', '{}', [], null)",
                [run_id, int(run_id.split("-")[1]), full],
            )
        return run_id

    def check(self, run_id: str, suite=SUITE) -> dict[str, str]:
        """Both ways; asserts they agree; returns each check's `scanned`."""
        whole = validate_table(self.con, TABLE, suite)
        incremental = validate_incrementally(self.con, TABLE, suite, run_id=run_id)
        for a, b in zip(whole, incremental, strict=True):
            assert _outcome(b) == _outcome(a), a.expectation.name
        return {r.expectation.name: r.details.get("scanned") for r in incremental}


def _outcome(result) -> dict:
    details = {k: v for k, v in result.details.items() if k != "scanned"}
    return {
        "status": result.status,
        "success": result.success,
        "applicable": result.applicable,
        "element_count": result.element_count,
        "unexpected_count": result.unexpected_count,
        "unexpected_percent": result.unexpected_percent,
        "observed_value": result.observed_value,
        "details": details,
    }


def _row(claim, line, member="M1", code="A", units=1, days=(0, 1), payer="P1") -> tuple:
    start = None if days[0] is None else DAY0 + timedelta(days=days[0])
    end = None if days[1] is None else DAY0 + timedelta(days=days[1])
    return (claim, line, member, code, units, start, end, payer)


SCANNED_MAP = "member_id_not_null"
UNIQUE = "unique_claim_line"


@pytest.mark.parametrize("view", [False, True], ids=["table", "view_over_layouts"])
def test_passes_equal_whole_table_validation(view):
    w = Warehouse(view=view)
    w.land([_row("C1", 1, "M1"), _row("C1", 2, "M2"), _row("C2", 1, "M3", code=None)])
    first = w.land([_row("C3", 1, "M4"), _row("C1", 1, "M5", units=50)])  # C1/1 twice
    scanned = w.check(w.run(full=True))
    assert scanned[SCANNED_MAP] == "whole table (no counts kept yet)"

    # a key that becomes a duplicate only when the new file lands; nulls in keys and values
    new = w.land([_row("C3", 1, "bad"), _row(None, None, None), _row(None, 1, "M6", "Z")])
    scanned = w.check(w.run())
    assert scanned[SCANNED_MAP] == f"new files: 1 of 3 ({new[:12]})"
    assert scanned[UNIQUE].endswith("keys of new rows across the table")
    assert scanned["payer_known"] == f"new files: 1 of 3 ({new[:12]})"
    assert scanned["member_in_two_files"] == "whole table (cross-table query)"
    assert scanned["future_service"] == "whole table (cross-table query)"

    # duplicates within the file, dates out of order, an unknown payer
    w.land([_row("C9", 1, "M7", days=(5, 1)), _row("C9", 1, "M7", payer="P9"), _row(None, 1, "M8")])
    w.check(w.run())
    # nothing new: nothing read but the file counts and the cross-table queries
    assert w.check(w.run())[SCANNED_MAP] == "new files: 0 of 4"
    # the reference table changed: that query counts every file again, the others do not
    w.con.execute("insert into refs.payers values ('P9')")
    scanned = w.check(w.run())
    assert scanned["payer_known"] == "whole table (a table it reads changed)"
    assert scanned[SCANNED_MAP] == "new files: 0 of 4"

    # a corrected re-export replaces `first`: uniqueness is counted whole again
    w.remove(first)
    w.land([_row("C3", 1, "M4"), _row("C4", 1, "M9", days=(None, 3))], salt="re-export")
    scanned = w.check(w.run())
    assert scanned[SCANNED_MAP].endswith("; 1 counted file(s) left the table")
    assert scanned[UNIQUE] == "whole table (a counted file left the table)"
    # a file removed from landing
    w.remove(new)
    assert w.check(w.run())[UNIQUE] == "whole table (a counted file left the table)"
    w.land([_row("C3", 1, "M4", units=None)])
    assert w.check(w.run())[UNIQUE].startswith("new files: 1 of 4")


def test_mostly_at_the_boundary():
    w = Warehouse()
    # 1 of 4 codes missing: exactly mostly=0.75 (passes)
    w.land([_row("C1", 1), _row("C2", 1), _row("C3", 1), _row("C4", 1, code=None)])
    w.check(w.run(full=True))
    results = validate_incrementally(w.con, TABLE, SUITE, run_id=w.run())
    assert {r.expectation.name: r.success for r in results}["code_mostly"] is True
    # 2 of 5: over it (fails), counted from the new file only
    w.land([_row("C5", 1, code=None)])
    run = w.run()
    w.check(run)
    results = validate_incrementally(w.con, TABLE, SUITE, run_id=w.run())
    code = {r.expectation.name: r for r in results}["code_mostly"]
    assert (code.success, code.unexpected_count, code.unexpected_percent) == (False, 2, 40.0)
    assert code.details["scanned"] == "new files: 0 of 2"
    assert len(code.details["failing_sample"]) == 2


def test_failing_sample_is_the_smallest_keys_of_the_table():
    w = Warehouse()
    rows = [_row(f"C{i}", 1, member=None) for i in range(12)]  # rows 1..12: '...:1' < '...:10'
    w.land(rows)
    w.check(w.run(full=True))
    w.land(rows[:2])
    w.land(rows[:5])
    w.check(w.run())
    results = validate_incrementally(w.con, TABLE, SUITE, run_id=w.run())
    sample = {r.expectation.name: r for r in results}[SCANNED_MAP].details["failing_sample"]
    assert sample == sorted(sample) and len(sample) == 3


def test_a_stale_store_is_never_used():
    w = Warehouse()
    w.land([_row("C1", 1), _row("C1", 1)])
    w.check(w.run(full=True))
    assert w.check(w.run(full=True))[UNIQUE] == "whole table (the run builds in full)"
    assert w.check(w.run(decided=False))[UNIQUE] == (
        "whole table (no build decision recorded for this run)"
    )
    w.check(w.run())
    w.run(full=True)  # a full build whose checks did not run
    assert w.check(w.run())[UNIQUE] == "whole table (a full build since the counts were kept)"
    other = (*SUITE[:-1], _expectation("expect_column_values_to_not_be_null", column="payer"))
    assert w.check(w.run(), suite=other)[SCANNED_MAP] == "whole table (the suite changed)"
    w.check(w.run())
    # a counted file's rows changed without a build decision saying so
    w.con.execute(f"delete from {TABLE} where _row_number = 2")
    assert w.check(w.run())[UNIQUE] == "whole table (a counted file's row count changed)"
    w.con.execute("delete from audit.build_runs where run_id <> 'run-99'")
    assert w.check(w.run())[UNIQUE] == (
        "whole table (the run the counts were kept in is no longer recorded)"
    )


STAGING_SUITES = [p for p in validation.suite_paths() if p.stem.startswith("staging.")]


@pytest.mark.parametrize("path", STAGING_SUITES, ids=[p.stem for p in STAGING_SUITES])
def test_each_staging_suite_over_files_landed_pass_by_pass(path):
    """The shipped suites' column rules, over test_validation's good and bad fixture rows cut
    into files: the bad rows land over three passes, then one of their files is re-exported."""
    from test_validation import _bad_frame, _column_rules, _good_frame

    suite = _column_rules(path)
    table = path.stem
    w = Warehouse()
    w.con.execute(f"drop table {TABLE}")
    frames = [_good_frame(suite), _bad_frame(suite)]
    parts = [frames[0], frames[1][:10], frames[1][10:25], frames[1][25:]]
    landed = []
    for i, part in enumerate(parts):
        part = part.assign(_file_sha256=f"{i:064x}", _row_number=range(1, len(part) + 1))
        w.con.register("part", part)
        if i == 0:
            w.con.execute(f"create table {table} as select * from part")
        else:
            w.con.execute(f"insert into {table} by name select * from part")
        landed.append(f"{i:064x}")
        whole = validate_table(w.con, table, suite)
        ours = validate_incrementally(w.con, table, suite, run_id=w.run(full=i == 0))
        assert [_outcome(r) for r in ours] == [_outcome(r) for r in whole]
    # a corrected re-export of the third file: its rows under a new content hash
    w.con.execute(f"delete from {table} where _file_sha256 = ?", [landed[2]])
    w.con.register("part", parts[2].assign(_file_sha256="f" * 64, _row_number=range(1, 16)))
    w.con.execute(f"insert into {table} by name select * from part")
    whole = validate_table(w.con, table, suite)
    ours = validate_incrementally(w.con, table, suite, run_id=w.run())
    assert [_outcome(r) for r in ours] == [_outcome(r) for r in whole]
    scanned = {r.expectation.name: r.details["scanned"] for r in ours}
    for r in ours:
        if r.expectation.type == "expect_table_row_count_to_be_between":
            assert scanned.pop(r.expectation.name) == "whole table (rows per file)"
        elif r.expectation.type in validation.UNIQUENESS:
            assert scanned.pop(r.expectation.name) == "whole table (a counted file left the table)"
    assert {how.split(" (")[0] for how in scanned.values()} == {"new files: 1 of 4"}
    assert any(not r.success for r in ours)


def test_the_shipped_cross_table_queries_are_row_filters():
    """So that on a refresh they read only the new files' rows."""
    con = duckdb.connect()
    for schema, name in (("seeds", "known_payers"), ("raw", "site_known_payers")):
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table {schema}.{name} (payer varchar)")
    for schema, name in (("seeds", "known_programs"), ("raw", "site_known_programs")):
        con.execute(f"create table {schema}.{name} (program varchar)")
    queries = [
        (path.stem, e.kwargs["unexpected_rows_query"].replace("{batch}", path.stem))
        for path in STAGING_SUITES
        for e in validation.load_suite(path)
        if e.type == "unexpected_rows_expectation"
    ]
    assert queries
    for table, query in queries:
        assert row_filter(con, query, table) in (
            ["raw.site_known_payers", "seeds.known_payers"],
            ["raw.site_known_programs", "seeds.known_programs"],
        ), table


@pytest.mark.parametrize(
    "where",
    [
        "b.x > (select count(*) from staging.t)",  # the table read again
        "b.x > random()",
        "b.d < today()",
        "b.d < current_date",
        "b.x in (select x from read_csv('elsewhere.csv'))",
        "b.x in (select x from refs.missing)",
        "b.x in (select x from unqualified)",
        "b.x in (with c as (select 1 as x) select x from c)",
    ],
)
def test_what_is_not_surely_a_row_filter_runs_whole(where):
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute("create table staging.t (x integer, d date)")
    con.execute("create table unqualified (x integer)")
    assert row_filter(con, "select * from staging.t as b where b.x > 0", "staging.t") == []
    assert row_filter(con, f"select * from staging.t as b where {where}", "staging.t") is None
    for query in (
        "select count(*) from staging.t",
        "select b.x from staging.t as b",
        "select * from staging.t as b, staging.t as c",
        "select * from staging.t limit 1",
        "select distinct * from staging.t",
        "with c as (select * from staging.t) select * from c",
        "select * from staging.t qualify row_number() over () = 1",
        "select * from staging.t using sample 1",
    ):
        assert row_filter(con, query, "staging.t") is None, query


def test_a_failing_row_without_a_row_number_is_validated_whole():
    w = Warehouse()
    w.land([_row("C1", 1, member=None), _row("C2", 1)])
    w.con.execute(f"update {TABLE} set _row_number = null where claim_id = 'C1'")
    assert w.check(w.run(full=True))[SCANNED_MAP] is None  # validate_table's own results


def test_non_staging_tables_are_validated_whole():
    con = duckdb.connect()
    con.execute("create schema core")
    con.execute("create table core.items as select 1 as member_id")
    suite = (_expectation("expect_column_values_to_not_be_null", column="member_id"),)
    [result] = validate_incrementally(con, "core.items", suite, run_id="r")
    assert "scanned" not in result.details and result.success


values = st.fixed_dictionaries(
    {
        "claim": st.sampled_from(["C1", "C2", "C3", None]),
        "line": st.sampled_from([1, 2, None]),
        "member": st.sampled_from(["M1", "M2", "M3", "x", None]),
        "code": st.sampled_from(["A", "B", "Z", None]),
        "units": st.sampled_from([0, 5, 10, 11, -1, None]),
        "days": st.sampled_from([(0, 1), (1, 1), (2, 1), (None, 1), (None, None), (3, None)]),
        "payer": st.sampled_from(["P1", "P2", None]),
    }
)
files = st.lists(values.map(lambda v: _row(**v)), min_size=0, max_size=6)
step = st.one_of(
    st.tuples(st.just("land"), files),
    st.tuples(st.just("remove"), st.integers(0, 20)),
    st.tuples(st.just("re-export"), st.tuples(st.integers(0, 20), files)),
    st.tuples(st.just("full"), st.just(None)),
    st.tuples(st.just("payers"), st.sampled_from([["P1"], ["P1", "P2"], []])),
)


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(first=st.lists(files, min_size=1, max_size=3), steps=st.lists(step, max_size=6))
def test_any_sequence_of_passes_equals_whole_table_validation(first, steps):
    w = Warehouse()
    for rows in first:
        w.land(rows)
    w.check(w.run(full=True))
    for kind, arg in steps:
        full = False
        if kind == "land":
            w.land(arg)
        elif kind == "remove" and w.files:
            w.remove(w.files[arg % len(w.files)])
        elif kind == "re-export" and w.files:
            w.remove(w.files[arg[0] % len(w.files)])
            w.land(arg[1], salt="re-export")
        elif kind == "full":
            full = True
        elif kind == "payers":  # the reference table a cross-table query reads
            w.con.execute("delete from refs.payers")
            for payer in arg:
                w.con.execute("insert into refs.payers values (?)", [payer])
        w.check(w.run(full=full))
