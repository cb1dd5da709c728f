"""Vendors as data: a layout is declared once (sql/macros/layouts.sql) and everything else — the
staging unions, the quarantine, row accounting, ingest — follows from it. The slow test adds a
third attendance vendor to a copy of the project by the README's steps only and finds its
sessions in the marts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path

import builders as b
import pyarrow.parquet as pq
import pytest
from conftest import TEST_KEY, query

from iop import dbt_project, layouts

ROOT = Path(__file__).resolve().parents[1]
# What dbt and the code location need at run time (no tests, data, target or virtualenv).
PROJECT_PARTS = (
    "dbt_project.yml", "profiles.yml", "pyproject.toml", "iop", "assets", "pipelines", "sql",
    "expectations",
)  # fmt: skip

VENDOR_C_ENTRY = """
attendance_vendor_c:
  feed: attendance
  date_format: '%d.%m.%Y'
  time_format: '%H.%M'
  columns:
    - Patient Number: client_id
    - Clinic: program
    - Care Level: level_of_care
    - Visit Date: session_date
    - Visit Time: start_time
    - Visit Type: service_type
    - Length (min): minutes
    - Status: attendance_status
    - Therapist: clinician_id
"""
VENDOR_C_MODEL = """\
-- Vendor C attendance export (a test vendor): DD.MM.YYYY dates, HH.MM times.
-- Grain: one row per delivered row (accepted and rejected).
{{ stage_attendance('attendance_vendor_c') }}
"""
VENDOR_C_CODES = """\
attendance_vendor_c,care_level,Partial,PHP
attendance_vendor_c,care_level,Intensive,IOP
attendance_vendor_c,care_level,Outpatient,OP
attendance_vendor_c,visit_type,Group,group
attendance_vendor_c,visit_type,One to one,individual
attendance_vendor_c,status,Kept,attended
attendance_vendor_c,status,No show,no_show
"""
VENDOR_C_HEADER = (
    "Patient Number", "Clinic", "Care Level", "Visit Date", "Visit Time", "Visit Type",
    "Length (min)", "Status", "Therapist",
)  # fmt: skip


def _node(manifest: dict, name: str) -> dict:
    return manifest["nodes"][f"model.iop.{name}"]


def test_unions_quarantine_and_accounting_read_every_declared_layout():
    """The lineage dbt (and so Dagster) sees is generated from the declaration."""
    manifest = dbt_project.manifest()
    staged = {f"model.iop.staging__{layout.name}" for layout in layouts.LAYOUTS}
    assert staged <= set(manifest["nodes"]), "a declared layout has no staging model"
    for name in ("audit__quarantine", "audit__row_accounting"):
        assert staged <= set(_node(manifest, name)["depends_on"]["nodes"]), name
    for contract in ("attendance", "census", "roster", "claims"):
        parents = set(_node(manifest, f"staging__{contract}")["depends_on"]["nodes"])
        assert parents == {
            f"model.iop.staging__{layout.name}"
            for layout in layouts.LAYOUTS
            if layout.contract == contract
        }, contract  # staging.claims: claim lines only, not the 835 remittances


def test_detection_prefers_the_layout_a_header_extends(monkeypatch):
    narrow = layouts.Layout("narrow", "attendance", ("client_id", "visit_date"))
    wide = layouts.Layout("wide", "attendance", ("client_id", "visit_date", "clinic"))
    monkeypatch.setattr(layouts, "LAYOUTS", (narrow, wide))
    assert layouts.detect_layout("attendance", ["visit_date", "client_id"]).name == "narrow"
    assert layouts.detect_layout("attendance", ["clinic", "visit_date", "client_id"]).name == "wide"
    with pytest.raises(layouts.UnrecognizedLayout, match="closest is narrow.*visit_date"):
        layouts.detect_layout("attendance", ["client_id"])


def test_excel_dates_are_written_in_the_declared_format(tmp_path, monkeypatch):
    """An .xlsx export's date and time cells become text in the layout's own formats, which its
    staging model parses: one declaration for both."""
    from openpyxl import Workbook

    from iop.readers import convert_to_raw_parquet

    vendor_c = layouts.Layout(
        "attendance_vendor_c", "attendance",
        tuple(layouts.normalize_column(label) for label in VENDOR_C_HEADER),
        header=VENDOR_C_HEADER, date_format="%d.%m.%Y", time_format="%H.%M",
    )  # fmt: skip
    monkeypatch.setattr(layouts, "LAYOUTS", (*layouts.LAYOUTS, vendor_c))
    book = Workbook()
    book.active.append(VENDOR_C_HEADER)
    book.active.append(["C-0001", "NORTHSIDE", "Intensive", date(2025, 1, 6),
                        time(9, 30), "Group", 180, "Kept", "T7"])  # fmt: skip
    landed = tmp_path / "landing" / "attendance" / "c.xlsx"
    landed.parent.mkdir(parents=True)
    book.save(landed)
    out = tmp_path / "raw.parquet"
    result = convert_to_raw_parquet(
        landed, feed="attendance", relative="attendance/c.xlsx", sha256="ab" * 32,
        landed_at=datetime(2025, 1, 7), out_path=out,
    )  # fmt: skip
    assert result.layout == "attendance_vendor_c"
    row = pq.read_table(out).to_pylist()[0]
    assert (row["visit_date"], row["visit_time"], row["length_min"]) == (
        "06.01.2025",
        "09.30",
        "180",
    )


def _copy_project(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "target", "logs")
    destination.mkdir(parents=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        else:
            shutil.copy2(source, destination / part)
    return destination


def _add_vendor_c(project: Path) -> None:
    """The README's three steps ("Adding an EHR vendor or payer feed"), nothing more."""
    declaration = project / "sql" / "macros" / "layouts.sql"
    text = declaration.read_text()
    assert text.count("{% endraw %}") == 1
    declaration.write_text(text.replace("{% endraw %}", VENDOR_C_ENTRY + "{% endraw %}"))
    (project / "sql" / "staging" / "staging__attendance_vendor_c.sql").write_text(VENDOR_C_MODEL)
    codes = project / "sql" / "seeds" / "source_code_map.csv"
    existing = codes.read_text()
    codes.write_text(existing + ("" if existing.endswith("\n") else "\n") + VENDOR_C_CODES)


def _write_vendor_c_file(path: Path, rows: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # semicolon-delimited, as a European EHR might export; ingest sniffs the delimiter
    lines = [";".join(VENDOR_C_HEADER)] + [";".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _visit(
    day: str,
    *,
    time: str = "09.30",
    level: str = "Intensive",
    kind: str = "Group",
    minutes: str = "180",
    status: str = "Kept",
    therapist: str = "T7",
) -> tuple[str, ...]:
    return ("C-0001", "NORTHSIDE", level, day, time, kind, minutes, status, therapist)


def _run_pipeline(project: Path, data_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(project),  # the copy's iop/assets/pipelines, not the installed ones
        "IOP_DATA_DIR": str(data_dir),
        "IOP_PSEUDONYM_KEY": TEST_KEY,
        "IOP_DUCKDB_THREADS": "2",
    }
    env.pop("IOP_DEMO", None)
    script = (
        "import sys, iop\n"
        f"assert iop.__file__.startswith({str(project)!r}), iop.__file__\n"
        "from iop.runner import run_full_refresh\n"
        "result = run_full_refresh(log_level='WARNING', raise_on_error=False)\n"
        "sys.exit(0 if result.success else 1)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_a_third_attendance_vendor_reaches_the_marts(tmp_path):
    project = _copy_project(tmp_path / "project")
    _add_vendor_c(project)
    data_dir = tmp_path / "data"
    landing = data_dir / "landing"
    monday = date(2025, 1, 6)
    kept = [
        _visit("06.01.2025"),
        _visit("08.01.2025"),
        _visit("10.01.2025", time="14.00", level="intensive", kind="One to one", minutes="50",
               therapist=""),
        _visit("09.01.2025", status="No show"),
    ]  # fmt: skip
    bad = [_visit("31.02.2025"), _visit("14.01.2025", level="Residential")]
    _write_vendor_c_file(landing / "attendance/vendor_c_2025-01.csv", kept + bad)
    # the existing vendors keep working beside the new one
    b.write_csv(landing / "attendance/w.csv", "attendance_vendor_b",
                b.vendor_b_sessions("B-000070", "PHP", b.days(monday, 0, 1)))  # fmt: skip
    b.write_csv(landing / "roster/r.csv", "roster_standard",
                [b.roster_row("C-0001"), b.roster_row("B-000070")])  # fmt: skip
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("Z1", "OTHER", monday)])

    done = _run_pipeline(project, data_dir)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    def sql(statement: str):
        return query(data_dir, statement)

    assert sql(
        "select session_date, start_time::varchar, level_of_care, service_type, minutes,"
        " attendance_status, clinician_id from core.sessions"
        " where source_layout = 'attendance_vendor_c' order by session_date"
    ) == [
        (date(2025, 1, 6), "09:30:00", "IOP", "group", 180, "attended", "T7"),
        (date(2025, 1, 8), "09:30:00", "IOP", "group", 180, "attended", "T7"),
        (date(2025, 1, 9), "09:30:00", "IOP", "group", 180, "no_show", "T7"),
        (date(2025, 1, 10), "14:00:00", "IOP", "individual", 50, "attended", None),
    ]
    assert sql("select distinct source_layout from core.sessions order by 1") == [
        ("attendance_vendor_b",), ("attendance_vendor_c",),
    ]  # fmt: skip
    # Attended 6, 8 and 10 January (a no-show on the 9th): one IOP episode of 5 days with 4
    # scheduled and 3 attended sessions, in the BI mart too.
    assert sql(
        "select level_of_care, start_date, end_date, length_of_stay from core.episodes"
        " where person_id = 'client:C-0001'"
    ) == [("IOP", date(2025, 1, 6), date(2025, 1, 10), 5)]
    assert sql(
        "select level_of_care, start_month, length_of_stay, sessions_scheduled, sessions_attended"
        " from marts.episodes where program = 'NORTHSIDE'"
    ) == [("IOP", date(2025, 1, 1), 5, 4, 3)]
    # Its bad rows are quarantined with details in its own column names and date format.
    assert sql(
        "select layout, feed, row_number, rule, detail from audit.quarantine order by row_number"
    ) == [
        ("attendance_vendor_c", "attendance", 5, "invalid_date",
         'Visit Date is not DD.MM.YYYY'),
        ("attendance_vendor_c", "attendance", 6, "unknown_level_of_care",
         'Care Level "Residential" is not in source_code_map.csv '
         "(layout attendance_vendor_c, field care_level)"),
    ]  # fmt: skip
    assert sql(
        "select layout, rows_read, rows_accepted, rows_quarantined, reconciled"
        " from audit.row_accounting where source_file = 'attendance/vendor_c_2025-01.csv'"
    ) == [("attendance_vendor_c", 6, 4, 2, True)]
