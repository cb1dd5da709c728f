"""Re-running, or landing the same file twice, leaves every mart identical."""

from __future__ import annotations

import shutil

import duckdb
from conftest import materialize, query


def _without_history(snapshot: dict) -> dict:
    return {t: rows for t, rows in snapshot.items() if t != "check_history"}


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
        snapshot = {}
        for t in tables:
            # the check history is a log: each run appends its results (run id, time)
            columns = "* exclude (run_id, checked_at)" if t == "check_history" else "*"
            snapshot[t] = con.execute(f"select {columns} from marts.{t} order by all").fetchall()
        return snapshot
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
        "length_of_stay_by_level",
        "length_of_stay_by_program",
        "length_of_stay_by_discharge_month",
        "length_of_stay_by_discharge_reason",
        "length_of_stay_by_payer",
        "step_down_transitions_overall",
        "step_down_transitions_by_program",
        "step_down_transitions_by_discharge_month",
        "demographic_utilization",
        "continuity_of_care_overall",
        "continuity_of_care_by_program",
        "continuity_of_care_by_discharge_month",
        "program_quality_monthly_overall",
        "program_quality_monthly_by_program",
        "episode_cost",
        "episode_cost_by_level",
        "episode_cost_by_program",
        "episode_cost_by_payer",
        "episode_cost_monthly",
        "episode_cost_step_down",
        "treatment_intensity_by_level",
        "treatment_intensity_by_program",
        "diagnosis_outcomes",
        "reconciliation_person_day",
        "reconciliation_program_month",
        "check_history",
    }

    # The same content lands again under other names (a feed re-sending its files).
    landing = data_dir / "landing"
    for feed in ("attendance", "claims", "roster", "census"):
        original = sorted((landing / feed).glob("*.csv"))[0]
        shutil.copy(original, landing / feed / f"resent_{original.name}")
    materialize()

    assert query(data_dir, "select count(*) from audit.landed_files")[0][0] == files_before
    assert _without_history(_marts_snapshot(data_dir)) == _without_history(first)

    materialize()  # and a plain re-run
    again = _marts_snapshot(data_dir)
    assert _without_history(again) == _without_history(first)
    # the check history only grows: the first run's results are all still there
    assert set(first["check_history"]) <= set(again["check_history"])
