"""Re-running, or landing the same file twice, leaves every mart identical."""

from __future__ import annotations

import shutil

import duckdb
from conftest import materialize, query


def _marts_snapshot(data_dir):
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_name <> '_publication' "
                "order by 1"
            ).fetchall()
        ]
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in tables}
    finally:
        con.close()


def test_same_file_landed_twice_and_rerun_leave_marts_identical(data_dir):
    from iop.generator import generate

    generate(data_dir, clients=150, seed=11)
    materialize()
    first = _marts_snapshot(data_dir)
    files_before = query(data_dir, "select count(*) from audit.landed_files")[0][0]
    assert set(first) == {
        "episodes",
        "length_of_stay",
        "step_down_transitions",
        "demographic_utilization",
        "continuity_of_care",
        "program_quality_monthly",
        "claims_attendance_reconciliation",
        "episode_cost",
        "episode_cost_by_level",
        "episode_cost_by_program",
        "episode_cost_by_payer",
        "episode_cost_monthly",
        "episode_cost_step_down",
        "treatment_intensity",
        "diagnosis_outcomes",
    }

    # The same content lands again under other names (a feed re-sending its files).
    landing = data_dir / "landing"
    for feed in ("attendance", "claims", "roster", "census"):
        original = sorted((landing / feed).glob("*.csv"))[0]
        shutil.copy(original, landing / feed / f"resent_{original.name}")
    materialize()

    assert query(data_dir, "select count(*) from audit.landed_files")[0][0] == files_before
    assert _marts_snapshot(data_dir) == first

    materialize()  # and a plain re-run
    assert _marts_snapshot(data_dir) == first
