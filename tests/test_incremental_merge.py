"""core.sessions and core.census merge a refresh's new files by their natural keys (issue 9;
sql/macros/incremental.sql, latest_landed_config): a new file's row replaces the held row of its
key only when it landed later (file mtime, then file name, then row). A file can arrive after
another yet carry an older mtime (copied with its timestamps kept): its rows must lose to the held
ones, as they do in a full rebuild. A withdrawn file gives its keys back to the rows it beat. The
tables the refreshes leave are compared with a full rebuild of the same landing folder."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import builders as b
from conftest import materialize, query

CLIENT = "B0000101"
DAYS = b.days(date(2025, 11, 3), 0, 2, 4)
CENSUS_CLIENT = "A0000102"


def _stamp(path: Path, when: datetime) -> None:
    seconds = when.timestamp()
    os.utime(path, (seconds, seconds))


def _sessions(client: str, status: str, dates: list[date], landing: Path, name: str, when):
    path = b.write_csv(
        landing / f"attendance/{name}.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions(client, "IOP", dates, status=status),
    )
    _stamp(path, when)


def _census(landing: Path, name: str, when, discharge: date | None) -> None:
    row = {
        "MRN": CENSUS_CLIENT,
        "Program": "RIVERSIDE",
        "Level of Care": "IOP",
        "Admit Date": b.us(DAYS[0]),
        "Discharge Date": b.us(discharge) if discharge else "",
        "Discharge Reason": "Completed Treatment" if discharge else "",
    }
    path = b.write_csv(landing / f"census/vendor_a_census_{name}.csv", "census_vendor_a", [row])
    _stamp(path, when)


SESSIONS = (
    "select client_id, session_date, attendance_status, source_file, landed_at, source_row "
    "from core.sessions order by all"
)
CENSUS = (
    "select client_id, admit_date, discharge_date, discharge_reason, is_open, source_file, "
    "landed_at, source_row from core.census order by all"
)


def _tables(data_dir: Path) -> tuple[list, list]:
    return query(data_dir, SESSIONS), query(data_dir, CENSUS)


def _refresh(data_dir: Path) -> None:
    """An incremental refresh (it merges: it does not build in full)."""
    assert materialize().success
    last = "select full_refresh from audit.build_runs order by decided_at desc limit 1"
    assert query(data_dir, last) == [(False,)]


def _equals_full_rebuild(data_dir: Path) -> None:
    """A full rebuild of the same landing folder gives the same tables."""
    from iop.runner import run_full_refresh

    refreshed = _tables(data_dir)
    assert run_full_refresh(full=True, log_level="WARNING").success
    assert _tables(data_dir) == refreshed


def _status(data_dir: Path, day: date) -> tuple[str, str]:
    return query(
        data_dir,
        "select attendance_status, source_file from core.sessions "
        "where client_id = ? and session_date = ?",
        [CLIENT, day],
    )[0]


def test_rows_win_by_landing_time_not_by_arrival(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "roster/roster.csv",
        "roster_standard",
        [b.roster_row(CLIENT), b.roster_row(CENSUS_CLIENT)],
    )
    _sessions(CLIENT, "A", DAYS, landing, "first", datetime(2025, 11, 20, 12))
    _census(landing, "20251120", datetime(2025, 11, 20, 12), None)
    assert materialize().success

    # arrives now, but its mtime is older than the held rows': they stay
    _sessions(CLIENT, "NS", DAYS[:1], landing, "older", datetime(2025, 11, 10, 12))
    _census(landing, "20251110", datetime(2025, 11, 10, 12), DAYS[2])
    _refresh(data_dir)
    assert _status(data_dir, DAYS[0]) == ("attended", "attendance/first.csv")
    assert query(data_dir, "select is_open from core.census")[0][0] is True

    # later mtime: its rows replace the held ones, and a new session is added beside them
    _sessions(CLIENT, "CC", [DAYS[0], date(2025, 11, 10)], landing, "later", datetime(2025, 11, 25))
    _census(landing, "20251125", datetime(2025, 11, 25, 12), date(2025, 11, 21))
    _refresh(data_dir)
    assert _status(data_dir, DAYS[0]) == ("cancelled_client", "attendance/later.csv")
    assert _status(data_dir, DAYS[1]) == ("attended", "attendance/first.csv")
    assert _status(data_dir, date(2025, 11, 10)) == ("cancelled_client", "attendance/later.csv")
    assert query(data_dir, "select is_open, source_file from core.census") == [
        (False, "census/vendor_a_census_20251125.csv")
    ]

    # the later files are withdrawn: the rows they beat win again (the first snapshot's, landed
    # after the older one)
    (landing / "attendance/later.csv").unlink()
    (landing / "census/vendor_a_census_20251125.csv").unlink()
    _refresh(data_dir)
    assert _status(data_dir, DAYS[0]) == ("attended", "attendance/first.csv")
    assert len(query(data_dir, SESSIONS)) == len(DAYS)
    assert query(data_dir, "select is_open, source_file from core.census") == [
        (True, "census/vendor_a_census_20251120.csv")
    ]
    _equals_full_rebuild(data_dir)


def _execute(data_dir: Path, sql: str, params=None) -> None:
    import duckdb

    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def test_a_snapshot_merged_by_an_unfinished_core_step_still_changes_its_clients(data_dir):
    """A core step that merged a snapshot into core.census, then failed before the person-level
    tables (and core.applied_files), leaves the snapshot listed as added: the next refresh finds
    its rows already held, and must still recompute the client's care."""
    landing = data_dir / "landing"
    b.write_csv(landing / "roster/roster.csv", "roster_standard", [b.roster_row(CENSUS_CLIENT)])
    _census(landing, "20251120", datetime(2025, 11, 20, 12), None)
    assert materialize().success
    spans = "select span_start, span_end from core.care_spans where person_id = ? order by all"
    person = f"client:{CENSUS_CLIENT}"
    open_spans = query(data_dir, spans, [person])

    _census(landing, "20251125", datetime(2025, 11, 25, 12), date(2025, 11, 21))
    _refresh(data_dir)
    closed_spans = query(data_dir, spans, [person])
    assert closed_spans != open_spans  # the discharge ends the admission's span
    # the failed step: census merged, the person's spans and the applied-files list as before
    _execute(data_dir, "delete from core.care_spans where person_id = ?", [person])
    _execute(
        data_dir,
        "delete from core.applied_files where file_sha256 in (select _file_sha256 "
        "from staging.census where _source_file = 'census/vendor_a_census_20251125.csv')",
    )
    _refresh(data_dir)
    assert query(data_dir, spans, [person]) == closed_spans
