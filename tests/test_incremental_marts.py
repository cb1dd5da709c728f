"""A mart refreshed by change scope (marts.reconciliation_person_day, issue 9 item 3) recomputes
only the changed persons' rows, and is computed whole when a scoped refresh would not be sound:

* an own billing NPI's verdict or program changed (core.own_billing_npis.classification_changed):
  every person billed by that NPI changes, changed inputs or not;
* the previous run did not build every layer (its marts did not see its core step's changes).

By scope, the mart reads the changed persons' sessions from the copy the run's core step made
(core.sessions_of_changed_persons); computed whole, from core.sessions.

The rows of one unchanged person are removed from the warehouse's mart before each refresh: a
refresh by scope leaves them out, a whole one puts them back. So each case shows which one ran
(the equivalence property test, tests/test_incremental_equivalence.py, shows the scoped results
equal a full refresh).

The per-episode marts (marts.episodes, marts.episode_cost) are refreshed by the scope of
intermediate.episode_scope: the changed persons and every person with a row that follows the
as-of date (an open episode, a transition window not yet complete). A person whose episodes are
all closed with complete windows keeps the rows the mart has; one with an open episode has them
computed again.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import builders as b
import duckdb
import pytest
from conftest import TEST_KEY, query

MART = "marts.reconciliation_person_day"
MODEL = "marts__reconciliation_person_day"
EPISODES = "marts.episodes"


def _land_client(landing: Path, client: str, start: date) -> None:
    """A new EHR client (roster row and three attended IOP sessions): a change of its own."""
    dates = b.days(start, 0, 2, 4)
    b.write_csv(
        landing / f"attendance/{client}.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions(client, "IOP", dates),
    )
    b.write_csv(landing / f"roster/{client}.csv", "roster_standard", [b.roster_row(client)])


def _remove_rows_of(data_dir: Path, person_key: str, table: str = MART) -> int:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        removed = con.execute(f"delete from {table} where person_key = ?", [person_key]).fetchall()
        return removed[0][0]
    finally:
        con.close()


def _execute(data_dir: Path, sql: str) -> None:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        con.execute(sql)
    finally:
        con.close()


def _rows_of(data_dir: Path, person_key: str, table: str = MART) -> int:
    return query(data_dir, f"select count(*) from {table} where person_key = ?", [person_key])[0][0]


def _person_with_episodes(data_dir: Path, following_as_of: bool) -> str:
    """A person with two or more episodes, all of whose rows follow the as-of date (an open one)
    or none does (every episode closed, its transition window complete)."""
    condition = (
        "bool_or(is_open)"
        if following_as_of
        else ("not bool_or(is_open or not transition_window_complete)")
    )
    return query(
        data_dir,
        f"select person_key from {EPISODES} group by 1 having count(*) >= 2 and {condition} "
        "order by count(*) desc, 1 limit 1",
    )[0][0]


@pytest.fixture(scope="module")
def refreshes(tmp_path_factory):
    """Generated data built once, then three refreshes, each landing one new client after the
    rows of an unchanged person were removed from the mart: a plain one, one after an own NPI's
    stored verdict was flipped, one after the previous run was marked unfinished."""
    from iop.generator import generate

    data_dir = tmp_path_factory.mktemp("incremental_marts")
    generate(data_dir, clients=30, seed=11, start="2025-07-01", end="2025-12-31")
    landing = data_dir / "landing"
    out: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.runner import run_full_refresh

        assert run_full_refresh(log_level="WARNING").success
        # an EHR client with billed days under an own NPI: the one whose rows are removed
        out["person_key"] = query(
            data_dir,
            f"select person_key from {MART} where status = 'attended_and_billed' "
            "group by 1 order by count(*) desc, 1 limit 1",
        )[0][0]
        out["rows"] = _rows_of(data_dir, out["person_key"])
        out["own_npis"] = query(
            data_dir, "select count(*) from core.own_billing_npis where is_own"
        )[0][0]
        out["closed_key"] = _person_with_episodes(data_dir, following_as_of=False)
        out["closed_rows"] = _rows_of(data_dir, out["closed_key"], EPISODES)
        out["open_key"] = _person_with_episodes(data_dir, following_as_of=True)

        def refresh(case: str, client: str, prepare: str | None = None) -> None:
            out[f"{case}_removed"] = _remove_rows_of(data_dir, out["person_key"])
            _remove_rows_of(data_dir, out["closed_key"], EPISODES)
            # a value no build writes, on the rows of the person with an open episode
            _execute(
                data_dir,
                f"update {EPISODES} set sessions_attended = -1 "
                f"where person_key = '{out['open_key']}'",
            )
            if prepare:
                _execute(data_dir, prepare)
            _land_client(landing, client, date(2025, 12, 1))
            out[case] = run_full_refresh(log_level="WARNING")
            compiled = data_dir / "dbt_target/compiled/iop/sql/marts" / f"{MODEL}.sql"
            out[f"{case}_reads_copy"] = '"sessions_of_changed_persons"' in compiled.read_text()
            out[f"{case}_rows"] = _rows_of(data_dir, out["person_key"])
            out[f"{case}_closed_rows"] = _rows_of(data_dir, out["closed_key"], EPISODES)
            out[f"{case}_open_untouched"] = query(
                data_dir,
                f"select count(*) from {EPISODES} where person_key = ? and sessions_attended = -1",
                [out["open_key"]],
            )[0][0]
            out[f"{case}_new_client_rows"] = query(
                data_dir,
                f"select count(*) from {MART} as r join core.persons as p using (person_key) "
                "where p.client_id = ?",
                [client],
            )[0][0]

        refresh("scoped", "B-990201")
        # as if the previous core build had judged every own NPI not the provider's own
        refresh(
            "npi_flipped",
            "B-990202",
            "update core.own_billing_npis set is_own = false, npi_program = null",
        )
        # as if the previous run had stopped before its marts were built
        refresh(
            "after_unfinished",
            "B-990203",
            "update audit.build_runs set completed_at = null "
            "where decided_at = (select max(decided_at) from audit.build_runs)",
        )
    return out


def test_a_refresh_by_scope_leaves_unchanged_persons_rows_alone(refreshes):
    assert refreshes["rows"] > 0 and refreshes["scoped_removed"] == refreshes["rows"]
    assert refreshes["scoped"].success
    # the removed rows stay removed: the mart was not recomputed whole ...
    assert refreshes["scoped_rows"] == 0
    # ... but the changed person's rows were: the new client's three attended days
    assert refreshes["scoped_new_client_rows"] == 3
    # read from the copy of the changed persons' sessions this run's core step made
    assert refreshes["scoped_reads_copy"]


def test_an_own_npi_whose_verdict_changed_rebuilds_the_mart_whole(refreshes):
    assert refreshes["own_npis"] > 0  # there was a verdict to flip
    assert refreshes["npi_flipped"].success
    assert refreshes["npi_flipped_rows"] == refreshes["rows"]
    assert refreshes["npi_flipped_new_client_rows"] == 3


def test_a_previous_run_that_did_not_finish_rebuilds_the_mart_whole(refreshes):
    assert refreshes["after_unfinished_removed"] == refreshes["rows"]
    assert refreshes["after_unfinished"].success
    assert refreshes["after_unfinished_rows"] == refreshes["rows"]
    assert refreshes["after_unfinished_new_client_rows"] == 3
    assert not refreshes["after_unfinished_reads_copy"]  # computed whole from core.sessions


def test_the_episode_marts_keep_rows_that_do_not_follow_the_as_of_date(refreshes):
    assert refreshes["closed_rows"] >= 2
    assert refreshes["scoped"].success
    # the closed person's removed episodes stay removed: marts.episodes was not computed whole
    assert refreshes["scoped_closed_rows"] == 0
    # the open episode's person was computed again, as the as-of date may have moved
    assert refreshes["scoped_open_untouched"] == 0


def test_a_previous_run_that_did_not_finish_rebuilds_the_episode_marts_whole(refreshes):
    assert refreshes["after_unfinished_closed_rows"] == refreshes["closed_rows"]
    assert refreshes["after_unfinished_open_untouched"] == 0
