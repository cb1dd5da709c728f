"""Uniqueness of a core table counted over a refresh's scope (iop/validation_scoped.py).

A hand-built core table refreshed by claim id, as core.claim_lines is: each run deletes and
recomputes the lines of the claim ids in core.change_scope. Every check is also validated over
the whole table, and both must agree; `scanned` says which way the scoped one went.
"""

from __future__ import annotations

import itertools

import duckdb
import pytest

from iop import build_state
from iop.validation import Expectation, validate_table
from iop.validation_incremental import validate_incrementally

TABLE = "core.items"
SCOPE = {"column": "claim_id", "keys": "select key_value from core.change_scope"}


def _suite(scope=SCOPE, extra=()) -> tuple[Expectation, ...]:
    meta = {"tier": "structural", "refresh_scope": scope}
    unique = Expectation(
        table=TABLE,
        type="expect_compound_columns_to_be_unique",
        kwargs={"column_list": ["claim_id", "line_number"]},
        severity="critical",
        tier="structural",
        name="unique_line",
        meta=tuple(sorted(meta.items())),
    )
    return (unique, *extra)


class Warehouse:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        for schema in ("core", "audit"):
            self.con.execute(f"create schema {schema}")
        build_state.ensure_tables(self.con)
        self.con.execute(f"create table {TABLE} (claim_id varchar, line_number integer)")
        self.con.execute("create table core.change_scope (key_value varchar)")
        self.runs = itertools.count(1)

    def run(self, full: bool = False) -> str:
        run_id = f"run-{next(self.runs)}"
        self.con.execute(
            "insert into audit.build_runs values (?, now()::timestamp + to_microseconds(?), "
            "?, 'test', 'fp', '{}', [], null)",
            [run_id, int(run_id.split("-")[1]), full],
        )
        return run_id

    def refresh(self, lines: dict[str, int]) -> None:
        """Recompute the claims of `lines` (claim id -> its number of lines): the run's scope."""
        self.con.execute("delete from core.change_scope")
        for claim, count in lines.items():
            self.con.execute("insert into core.change_scope values (?)", [claim])
            self.con.execute(f"delete from {TABLE} where claim_id = ?", [claim])
            for line in range(1, count + 1):
                self.con.execute(f"insert into {TABLE} values (?, ?)", [claim, line])

    def check(self, run_id: str, suite=None) -> str:
        """Both ways; asserts they agree; returns how the scoped one read the table."""
        suite = suite or _suite()
        [whole] = validate_table(self.con, TABLE, suite)
        [scoped] = validate_incrementally(self.con, TABLE, suite, run_id=run_id)
        for field in ("success", "element_count", "unexpected_count", "unexpected_percent"):
            assert getattr(scoped, field) == getattr(whole, field), field
        return scoped.details["scanned"]


def test_a_refresh_is_counted_over_its_scope():
    w = Warehouse()
    w.refresh({"C1": 2, "C2": 3})
    assert w.check(w.run(full=True)) == "whole table (the run builds in full)"
    w.refresh({"C2": 1, "C3": 4})
    assert w.check(w.run()).startswith("rows of this run's claim_id scope")
    w.refresh({})  # a run that changed nothing
    assert w.check(w.run()).startswith("rows of this run's claim_id scope")


def test_a_duplicate_inside_the_scope_is_found():
    w = Warehouse()
    w.refresh({"C1": 2})
    w.check(w.run(full=True))
    w.refresh({"C2": 2})
    w.con.execute(f"insert into {TABLE} values ('C2', 1)")  # the refresh wrote a line twice
    assert w.check(w.run()).startswith("rows of this run's")
    # the kept count is no longer 0: the next check groups the whole table
    w.refresh({"C3": 1})
    assert w.check(w.run()) == "whole table (the last check found duplicates)"


def test_a_build_without_a_check_since_makes_the_next_check_whole():
    w = Warehouse()
    w.refresh({"C1": 2})
    w.check(w.run(full=True))
    w.run()  # its core step ran, its checks did not: anything may have changed
    w.con.execute(f"insert into {TABLE} values ('C1', 1)")
    w.refresh({"C9": 1})
    assert w.check(w.run()) == "whole table (another build since the last check)"


@pytest.mark.parametrize(
    "tamper, reason",
    [
        ("delete from audit.check_scoped_totals", "no count kept yet"),
        ("update audit.check_scoped_totals set suite_sha256 = 'x'", "the suite changed"),
        ("delete from audit.build_runs where run_id = 'run-1'", "another build since"),
    ],
)
def test_without_a_sound_count_the_table_is_grouped_whole(tamper, reason):
    w = Warehouse()
    w.refresh({"C1": 2})
    w.check(w.run(full=True))
    w.con.execute(tamper)
    w.refresh({"C2": 1})
    assert w.check(w.run()).startswith(f"whole table ({reason}")


def test_a_run_without_a_build_decision_is_grouped_whole():
    w = Warehouse()
    w.refresh({"C1": 2})
    assert w.check("unrecorded") == "whole table (no build decision recorded for this run)"


def test_a_scope_column_outside_the_key_is_not_used():
    w = Warehouse()
    w.refresh({"C1": 2})
    suite = _suite(scope={"column": "member_id", "keys": "select 1"})
    [result] = validate_incrementally(w.con, TABLE, suite, run_id=w.run(full=True))
    assert "scanned" not in result.details and result.success
