"""The `iop` operator command line: exit codes, status without patient data, quarantine export
escaped against spreadsheet formulas. (A real `iop refresh`: tests/test_crash_recovery.py.)"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
MRN = "MRN-99173"  # a planted identifier: it must never reach `iop status`


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iop.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def build_warehouse(data_dir: Path) -> None:
    """The audit tables `iop status` and `iop quarantine` read, by hand: hostile cells included."""
    data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        con.execute("create schema audit")
        con.execute(
            "create table audit.landed_files as select * from (values "
            "('a', 'ingested'), ('b', 'ingested'), ('c', 'rejected')) t(file_sha256, status)"
        )
        con.execute(
            """
            create table audit.quarantine as select * from (values
              ('attendance', 'attendance_vendor_a', 'attendance/=cmd.csv', 'aa', 3,
               'unknown_status', '=HYPERLINK("http://x","click")', '{"client_id": "MRN-99173"}'),
              ('attendance', 'attendance_vendor_a', 'attendance/a.csv', 'aa', 4,
               'invalid_minutes', '+cmd|'' /C calc''!A0', '{"client_id": "MRN-99173"}'),
              ('claims', 'claims_csv', 'claims/c.csv', 'bb', 7,
               'invalid_amount', '@SUM(1+1)', '{"member_id": "MRN-99173"}'),
              ('claims', 'claims_csv', 'claims/c.csv', 'bb', 8,
               'invalid_amount', '-2+3', null)
            ) t(feed, layout, source_file, file_sha256, row_number, rule, detail, raw_record)
            """
        )
        con.execute(
            """
            create table audit.check_results as select * from (values
              ('r1', timestamp '2025-01-01 00:00', 'core.sessions', 'minutes_positive',
               'error', 'passed', 0),
              ('r2', timestamp '2025-01-02 00:00', 'core.sessions', 'minutes_positive',
               'error', 'failed', 3),
              ('r2', timestamp '2025-01-02 00:00', 'core.episodes', 'los_positive',
               'warn', 'passed', 0)
            ) t(run_id, checked_at, table_name, check_name, severity, status, unexpected_count)
            """
        )
    finally:
        con.close()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'=1"),  # the tab is cleaned away (iop.safe_text), the formula escaped
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_are_escaped_against_formulas(value, cell):
    from iop.safe_text import csv_cell

    assert csv_cell(value) == cell


def test_quarantine_export_escapes_cells_and_keeps_records_out_unless_asked(data_dir, tmp_path):
    from iop import cli
    from iop.settings import IopSettings

    build_warehouse(data_dir)
    settings = IopSettings.from_env()
    out = tmp_path / "q.csv"
    assert cli.export_quarantine(settings, out) == 4
    assert out.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert [r["rule"] for r in rows] == [
        "unknown_status", "invalid_minutes", "invalid_amount", "invalid_amount",
    ]  # fmt: skip
    assert rows[0]["detail"] == '\'=HYPERLINK("http://x","click")'
    assert rows[1]["detail"].startswith("'+cmd|")
    assert rows[2]["detail"] == "'@SUM(1+1)"
    assert rows[3]["detail"] == "'-2+3"
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert MRN not in out.read_text() and "raw_record" not in rows[0]

    with_records = tmp_path / "q_records.csv"
    assert cli.export_quarantine(settings, with_records, with_records=True) == 4
    assert MRN in with_records.read_text()


def test_status_reports_counts_and_no_patient_data(data_dir, monkeypatch):
    from iop import cli
    from iop.settings import IopSettings

    build_warehouse(data_dir)
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    settings = IopSettings.from_env()
    status = {**cli.warehouse_status(settings), **cli.run_status(settings)}
    assert status["landed_files"] == {"ingested": 2, "rejected": 1}
    assert status["quarantine_by_rule"] == {
        "invalid_amount": 2, "invalid_minutes": 1, "unknown_status": 1,
    }  # fmt: skip
    # the latest result of each check: minutes_positive failed last, los_positive passed
    assert [(c["table"], c["check"], c["unexpected"]) for c in status["failing_checks"]] == [
        ("core.sessions", "minutes_positive", 3)
    ]
    assert status["last_run"] is None and status["runs_in_progress"] == []
    text = cli.format_status(status)
    assert "Landed files: 3" in text and "Quarantined rows: 4" in text
    assert "Failing checks: 1" in text and "Last run: none" in text
    assert MRN not in text and "HYPERLINK" not in text and "cmd" not in text


def test_status_of_a_busy_or_damaged_warehouse(data_dir):
    from iop import cli
    from iop.settings import IopSettings

    settings = IopSettings.from_env()
    assert cli.warehouse_status(settings) == {"warehouse": "not built yet"}
    build_warehouse(data_dir)
    holder = subprocess.Popen(  # another process writing it, as a run does
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(settings.warehouse_path)!r})\n"
         "print('open', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        status = cli.warehouse_status(settings)
    finally:
        holder.kill()
        holder.wait()
    assert status == {"warehouse": "busy (a run is writing it); try again when it ends"}
    settings.warehouse_path.write_bytes(b"not a database" * 1000)
    assert cli.warehouse_status(settings)["warehouse"].startswith("damaged (not a DuckDB")


def test_refresh_exit_code_is_one_when_the_run_fails(data_dir, monkeypatch):
    from iop import cli, runner

    failed = SimpleNamespace(
        success=False,
        run_id="r-failed",
        all_events=[SimpleNamespace(is_step_failure=True, step_key="dbt_core")],
    )
    monkeypatch.setattr(runner, "run_full_refresh", lambda *a, **k: failed)
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    assert cli.main(["refresh"]) == 1


def test_refresh_full_asks_for_a_full_rebuild(data_dir, monkeypatch, capsys):
    from iop import cli, runner

    asked = []
    succeeded = SimpleNamespace(
        success=True,
        run_id="r-ok",
        dagster_run=SimpleNamespace(job_name="iop_full_refresh"),
        get_asset_materialization_events=lambda: [],
    )
    monkeypatch.setattr(runner, "run_full_refresh", lambda *a, **k: asked.append(k) or succeeded)
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    assert cli.main(["refresh"]) == 0
    assert cli.main(["refresh", "--full"]) == 0
    assert [k["full"] for k in asked] == [False, True]
    assert "refresh succeeded: run r-ok (iop_full_refresh)" in capsys.readouterr().out


def test_cli_as_a_process_exit_codes(tmp_path):
    data_dir = tmp_path / "data"
    env = {"IOP_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    env_without_key = {**env, "IOP_PSEUDONYM_KEY": "", "IOP_DEMO": "0"}

    status = run_cli("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "Warehouse: not built yet" in status.stdout and "Last run: none" in status.stdout
    refresh = run_cli("refresh", env=env_without_key)  # no key, not demo data: cannot start
    assert refresh.returncode == 2 and "IOP_PSEUDONYM_KEY" in refresh.stderr


def test_cli_usage_and_export_without_a_warehouse(data_dir, tmp_path, capsys):
    from iop import cli

    with pytest.raises(SystemExit) as usage:
        cli.main(["unknown-command"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as helped:
        cli.main(["--help"])
    assert helped.value.code == 0
    assert "refresh" in capsys.readouterr().out
    assert cli.main(["quarantine", "--export", str(tmp_path / "q.csv")]) == 2


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["iop"] == "iop.cli:main"
