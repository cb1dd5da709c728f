"""One fake person's identifiers are planted in every feed and format — names, MRN, member id,
birth date, ZIP, claim number; CSV, xlsx and X12; valid and malformed files; in file names too —
the pipeline runs with its run history kept (a persistent Dagster instance under the data folder,
stdout and stderr captured to files there), and every byte under IOP_DATA_DIR outside the PHI
stores is searched for them: landing/ (as delivered), raw/ (the delivered record) and
audit.quarantine (rows kept as delivered) may hold them; nothing else may.

The warehouse and the published DuckDB file compress their strings, so their bytes prove nothing:
their tables are exported as text and searched instead (every table but audit.quarantine, whose
raw records are PHI storage, and the staging/core rows that carry ids by design; see
PHI_TABLES). The registry JSON (under raw/_registry) is searched too: its messages go to the
warehouse and the UI.

The second case turns the redaction gate off (iop.redact) and must find the identifiers again:
the test fails when a message starts quoting a value.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import builders as b
import duckdb
import pytest
from conftest import SHARED_DATA, requires_shared_data

FIRST, LAST = "Zanzibarina", "Quxleakworth"
MRN = "A7654321"
MEMBER = "LKM83920571"
DOB = date(1971, 8, 15)
ZIP = "97531"
CLAIM = "CLM58214907"
DOB_FORMATS = ("1971-08-15", "08/15/1971", "19710815", "15.08.1971", "8/15/1971")
PLANTED = (FIRST, LAST, MRN, MEMBER, ZIP, CLAIM, *DOB_FORMATS)
PATTERN = re.compile(
    "|".join(
        rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])" if v == ZIP else re.escape(v)
        for v in PLANTED
    ).encode(),
    re.IGNORECASE,
)
NAMES = re.compile(f"{FIRST}|{LAST}", re.IGNORECASE)
# Columns that carry messages: searched for every identifier. The working database keeps ids and
# dates by design (README, Privacy), so its other columns are searched for names only.
MESSAGE_WORDS = ("error", "warning", "detail", "failing_sample", "description", "message")
EXCLUDED_TABLES = {("audit", "quarantine")}
# The quarantine store also lives in each staging.<layout> table (audit.quarantine is built from
# it): a quarantined row's record as delivered, and raw.<layout>, the views over raw/.
QUARANTINE_COLUMNS = {"_raw_record"}
MONDAY = date(2025, 1, 6)


def _plant(landing: Path) -> None:
    # attendance: vendor A CSV keyed by the MRN, named after it and the birth date
    b.write_csv(
        landing / f"attendance/export_{MRN}_{DOB:%Y%m%d}.csv",
        "attendance_vendor_a",
        b.vendor_a_sessions(MRN, "IOP", b.days(MONDAY, 0, 2, 4)),
    )
    # a malformed CSV: a quoted field never closed, holding the name
    bad = landing / f"attendance/broken_{MRN}.csv"
    bad.write_text(
        ",".join(b.HEADERS["attendance_vendor_a"])
        + f'\n{MRN},RIVERSIDE,IOP,01/06/2025,09:00 AM,"Group {LAST}, {FIRST},180,Present,CL1\n'
    )
    # a file whose first row is the person, not a header
    (landing / f"attendance/noheader_{DOB:%m%d%Y}.csv").write_text(
        f"{MRN},{LAST},{FIRST},{DOB:%m/%d/%Y},{ZIP},{MEMBER}\n"
    )
    # roster: a valid row, and one whose birth date is in the wrong format (quarantined)
    b.write_csv(
        landing / f"roster/roster_{MEMBER}.csv",
        "roster_standard",
        [
            b.roster_row(
                MRN, MEMBER, first_name=FIRST, last_name=LAST, birth_date=DOB.isoformat(), zip=ZIP
            ),
            b.roster_row(
                "A7654322", "", first_name=FIRST, last_name=LAST, birth_date="15.08.1971", zip=ZIP
            ),
        ],
    )
    # xlsx: the sheet named after the person (a warning names the sheet read), the MRN in rows
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{LAST} {FIRST}"
    sheet.append(b.HEADERS["attendance_vendor_a"])
    for row in b.vendor_a_sessions(MRN, "IOP", b.days(MONDAY, 7)):
        sheet.append(list(row.values()))
    workbook.create_sheet(f"DOB {DOB:%m-%d-%Y}")
    workbook.save(landing / f"attendance/visits_{DOB:%Y%m%d}.xlsx")
    # claims CSV: the claim number, the member id; one line with an unreadable date
    b.write_csv(
        landing / f"claims/claims_{CLAIM}.csv",
        "claims_csv",
        [
            b.claim_line(CLAIM, MEMBER, MONDAY),
            {**b.claim_line(CLAIM, MEMBER, MONDAY, line=2), "service_from_date": "08/15/1971"},
        ],
    )
    # X12 837P: the person as subscriber (names, member id, birth date, ZIP, claim number); and
    # a malformed copy whose broken segment starts with a digit (issue 14's example)
    source = SHARED_DATA / "linuxforhealth-x12/837_005010X222A2/demo.example1.837"
    if not source.is_file():
        return  # a plain clone has no public samples: the CSV and XLSX plants still run
    text = (
        source.read_text()
        .replace("SMITH*JANE", f"{LAST.upper()}*{FIRST.upper()}")
        .replace("JS00111223333", MEMBER)
        .replace("19730501", f"{DOB:%Y%m%d}")
        .replace("33413", ZIP)
        .replace("CLM*26463774", f"CLM*{CLAIM}")
    )
    (landing / "claims" / f"{MEMBER}.837").write_text(text)
    broken = text.replace(f"NM1*IL*1*{LAST.upper()}", f"1*IL*1*{LAST.upper()}")
    (landing / "claims" / f"broken_{CLAIM}.837").write_text(broken)


def _is_message(column: str) -> bool:
    return any(word in column for word in MESSAGE_WORDS)


def _export(database: Path, out: Path) -> None:
    """The database's tables as text (the file's own bytes are compressed): message columns
    (errors, warnings, rule details, failing samples) whole; every other column only where it
    holds a planted name (the working database keeps ids and dates by design, names nowhere)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(
            "select schema_name, table_name, list(column_name order by column_index) "
            "from duckdb_columns() where not internal group by all order by all"
        ).fetchall()
        with out.open("w") as handle:
            for schema, table, names in columns:
                if (schema, table) in EXCLUDED_TABLES or (schema == "raw" and table != "registry"):
                    continue
                rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
                handle.write(f"== {schema}.{table}\n")
                for row in rows:
                    for name, value in zip(names, row, strict=True):
                        if name in QUARANTINE_COLUMNS:
                            continue
                        text = "" if value is None else str(value)
                        if _is_message(name) or NAMES.search(text):
                            handle.write(f"{name}={text}\n")
    finally:
        con.close()


def _registry_messages(data_dir: Path, out: Path) -> None:
    """The registry entries' messages (the entries live in raw/, PHI storage; their error and
    warnings reach the warehouse and the Dagster UI)."""
    with out.open("w") as handle:
        for path in sorted((data_dir / "raw" / "_registry").glob("*.json")):
            if path.name.startswith("_"):
                continue
            entry = json.loads(path.read_text())
            handle.write(f"{path.name}: {entry.get('error')} | {entry.get('warnings')}\n")


def _hits(data_dir: Path, exports: Path) -> list[str]:
    """Every planted identifier found outside landing/, raw/ and the database files (searched
    through their exports)."""
    found = []
    searched = [(p, p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()]
    searched += [(p, Path("exported") / p.name) for p in exports.glob("*.txt")]
    for path, relative in searched:
        if relative.parts[0] in {"landing", "raw"} or path.suffix in {".duckdb", ".wal"}:
            continue
        content = path.read_bytes()
        for match in PATTERN.finditer(content):
            context = content[max(0, match.start() - 60) : match.end() + 60]
            found.append(f"{relative}: {match.group().decode()!r} in {context!r}")
    return found


@pytest.mark.parametrize("redaction", ["on", "off"])
def test_no_planted_identifier_outside_the_phi_stores(data_dir, monkeypatch, capfd, redaction):
    import iop.redact
    from iop.runner import dagster_instance, run_full_refresh

    if redaction == "off":  # the gate gone: every message quotes what it found, names in full
        monkeypatch.setattr(iop.redact, "_QUOTED", re.compile(r"(?!x)x"))
        monkeypatch.setattr(iop.redact, "file_names_allowed", lambda: True)
    landing = data_dir / "landing"
    for feed in ("attendance", "roster", "claims"):
        (landing / feed).mkdir(parents=True, exist_ok=True)
    _plant(landing)
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    instance = dagster_instance(data_dir)
    result = run_full_refresh(instance, raise_on_error=False, log_level="DEBUG")
    out, err = capfd.readouterr()
    (data_dir / "captured_stdout.log").write_text(out)
    (data_dir / "captured_stderr.log").write_text(err)
    assert result.success, err[-3000:]
    # the run history is kept: the run, its events and the rejected files' reasons are there
    assert instance.get_run_by_id(result.run_id) is not None
    assert len(list((data_dir / "dagster_home").rglob("*.db"))) >= 1
    assert "rejected file" in err

    exports = data_dir.parent / "exports"
    exports.mkdir()
    _export(data_dir / "warehouse.duckdb", exports / "warehouse.txt")
    _export(data_dir / "marts.duckdb", exports / "marts.txt")
    _registry_messages(data_dir, exports / "registry.txt")
    # the identifiers did get in: the PHI stores hold them (the search would find them)
    assert PATTERN.search((landing / f"roster/roster_{MEMBER}.csv").read_bytes())
    quarantined = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        assert quarantined.execute("select count(*) from audit.quarantine").fetchone()[0] >= 2
    finally:
        quarantined.close()

    hits = _hits(data_dir, exports)
    if redaction == "on":
        assert hits == [], "\n".join(hits)
    else:
        print(f"{len(hits)} hit(s) with the redaction gate off; first ones:")
        print("\n".join(hits[:12]))
        assert len(hits) > 0


@requires_shared_data
def test_copy_of_the_shared_x12_sample_is_untouched():
    # the planted 837 is derived from this sample: if it changes, the replacements must too
    text = (SHARED_DATA / "linuxforhealth-x12/837_005010X222A2/demo.example1.837").read_text()
    for original in ("SMITH*JANE", "JS00111223333", "19730501", "33413", "CLM*26463774"):
        assert original in text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # DuckDB conversion errors (what a dbt model failure reports) quote the value
        (
            f"Conversion Error: Could not convert string '{LAST}' to INT32",
            "Conversion Error: Could not convert string '<value>' to INT32",
        ),
        (
            f'Binder Error: Referenced column "{FIRST}" not found; candidates: "payer", "sex"',
            'Binder Error: Referenced column "<value>" not found; candidates: "payer", "sex"',
        ),
        # declared values stay: layout and column names, codes, X12 delimiters
        (
            "attendance/w.csv: column(s) not in layout 'attendance_vendor_a': 'level_of_care'",
            "attendance/w.csv: column(s) not in layout 'attendance_vendor_a': 'level_of_care'",
        ),
        ("ISA16 component separator ':' / segment terminator '~'", None),
        ("status 'Present' is a code", None),
        # an apostrophe is not a quote
        ("the file's header and the layout's columns", None),
        (f"claim {CLAIM!r} line 2: DTP*472", "claim '<value>' line 2: DTP*472"),
    ],
)
def test_the_redaction_gate(message, expected, monkeypatch):
    from iop.redact import redact

    monkeypatch.delenv("IOP_LOG_FILE_NAMES", raising=False)
    assert redact(message) == (message if expected is None else expected)


def test_file_names_are_masked_unless_the_operator_opts_in(monkeypatch):
    from iop.redact import file_label, redact

    name = f"attendance/export_{MRN}_{DOB:%Y%m%d}.csv"
    monkeypatch.delenv("IOP_LOG_FILE_NAMES", raising=False)
    assert file_label(name) == "attendance/export_A#_#.csv"
    assert redact(f"{name}: row 3: blank", [name]) == "attendance/export_A#_#.csv: row 3: blank"
    monkeypatch.setenv("IOP_LOG_FILE_NAMES", "1")
    assert redact(f"{name}: row 3: blank", [name]) == f"{name}: row 3: blank"


def test_dbt_run_results_are_redacted(tmp_path):
    from iop.dbt_runner import _write_run_results

    path = tmp_path / "run_results.json"
    _write_run_results(
        {"results": [{"message": f"Could not convert string '{MEMBER}' to DATE"}]}, path
    )
    assert MEMBER not in path.read_text()
    assert "<value>" in path.read_text()
