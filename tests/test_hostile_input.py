"""Hostile input beside generated XS data: the marts still publish, nothing is ignored silently,
no hostile string reaches a mart unnormalized, and a poison file leaves without hand surgery.

The landing holds the generated files plus: rows dated 2999, 1899 and 02-30 (attendance, census
and a claim line), spreadsheet formulas, ANSI escapes, control characters, bare CR and LF, an RTL
override and a homoglyph in program and payer names; a lock file, a hidden name, a file directly
in landing/, a misspelt feed folder and 0-byte files. One refresh takes all of it; then the poison
file is listed in landing/.exclude (second refresh) and deleted (third refresh).
"""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from pathlib import Path

import builders as b
import duckdb
import pytest
from conftest import TEST_KEY, query

from iop import dbt_project

MARTS = tuple(sorted(m.table_name for m in dbt_project.models("marts")))
# marts.check_history grows by every run's checks: not a function of the files read
CONTENT_MARTS = tuple(m for m in MARTS if m != "check_history")
DAY = date(2025, 3, 3)  # inside the generated window (2024-2025)

# program names as hostile exports deliver them -> what staging makes of them (None: quarantined)
HOSTILE_PROGRAMS = {
    '=HYPERLINK("http://evil.example/x","IOP")': None,
    "+cmd|' /C calc'!A0": None,
    "@SUM(1+1)*cmd|' /C calc'!A0": None,
    "-2+3+cmd|' /C calc'!A0": None,
    "H\u0406LLCREST": None,  # Cyrillic І: a look-alike of HILLCREST
    "\x1b[31mHILLCREST\x1b[0m": "HILLCREST",  # ANSI colour codes
    "HILL\rCREST": "HILL CREST",  # bare CR
    "HILL\nCREST": "HILL CREST",  # bare LF
    "\u202eTSERCLLIH": "TSERCLLIH",  # RTL override
    "LAKE\x07VIEW\u200b": "LAKE VIEW",  # BEL, zero-width space
    "Cafe\u0301 Program": "Caf\u00e9 Program",  # decomposed: NFC
}
# what no published text may hold: control and format characters, escapes, formula starts,
# Latin mixed with Cyrillic or Greek
UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad]|^[=+@]|^-\D"
)
MIXED = (re.compile(r"[A-Za-z]"), re.compile(r"[\u0370-\u03ff\u0400-\u04ff]"))


def _write_rows(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def _session(client: str, day: str, program: str = "HILLCREST", staff: str = "S1") -> dict:
    row = b.vendor_b_sessions(client, "IOP", [DAY])[0]
    return {**row, "service_date": day, "program_code": program, "staff_id": staff}


def _land_hostile(landing: Path) -> None:
    rows = [
        _session("B-990001", "2999-01-04"),
        _session("B-990002", "1899-12-30"),
        _session("B-990003", "2025-02-30"),
    ]
    # hostile strings are rare in a real export: among ordinary rows (a file of mostly control
    # bytes is rejected whole as binary, iop/readers.py)
    rows += [_session(f"B-98{i:04d}", DAY.isoformat()) for i in range(40)]
    rows += [
        _session(
            f"B-99{100 + i:04d}", DAY.isoformat(), program, staff="S\x1b[2J1\u202e" if i else "S1"
        )
        for i, program in enumerate(HOSTILE_PROGRAMS)
    ]
    _write_rows(landing / "attendance/hostile_sessions.csv", b.HEADERS["attendance_vendor_b"], rows)
    claims = [
        b.claim_line("HX1", "M-990001", date(2999, 1, 4)),
        b.claim_line("HX2", "M-990002", date(1899, 12, 30), received=date(1900, 1, 5)),
        {**b.claim_line("HX3", "M-990003", DAY), "service_from_date": "2025-02-30"},
        b.claim_line("HX4", "M-990004", DAY, payer='=HYPERLINK("http://evil.example","Medicaid")'),
        b.claim_line("HX5", "M-990005", DAY, payer="Medic\u0430id"),  # Cyrillic а
        b.claim_line("HX6", "M-990006", DAY, payer="\x1b]0;pwned\x07Medicaid\r\n"),
    ]
    _write_rows(landing / "claims/hostile_claims.csv", b.HEADERS["claims_csv"], claims)
    census = [
        {"MRN": "A-990001", "Program": "RIVERSIDE", "Level of Care": "IOP",
         "Admit Date": "01/04/2999", "Discharge Date": ""},
        {"MRN": "A-990002", "Program": "RIVERSIDE", "Level of Care": "IOP",
         "Admit Date": "12/30/1899", "Discharge Date": "01/03/1900"},
        {"MRN": "A-990003", "Program": "RIVERSIDE", "Level of Care": "IOP",
         "Admit Date": "02/30/2025", "Discharge Date": ""},
    ]  # fmt: skip
    _write_rows(landing / "census/hostile_census.csv", b.HEADERS["census_vendor_a"], census)
    # the poison file: one row far in the future, one good row of a client no one else has
    b.write_csv(
        landing / "attendance/poison.csv",
        "attendance_vendor_b",
        [_session("B-999999", "2999-12-31"), _session("B-999998", DAY.isoformat())],
    )
    # files that are not read, each for a reason
    good = b.vendor_b_sessions("B-990100", "IOP", [DAY])
    b.write_csv(landing / "attendance/~$lock.csv", "attendance_vendor_b", good)
    b.write_csv(landing / "attendance/..hidden.csv", "attendance_vendor_b", good)
    b.write_csv(landing / "loose.csv", "attendance_vendor_b", good)
    b.write_csv(landing / "attendence/misspelt.csv", "attendance_vendor_b", good)
    (landing / "census/empty.csv").write_bytes(b"")
    (landing / "claims/empty.csv").write_bytes(b"")


def _published(data_dir: Path) -> dict[str, int]:
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        return {
            m: con.execute(f"select count(*) from main.{m}").fetchone()[0] for m in CONTENT_MARTS
        }
    finally:
        con.close()


def _landed(data_dir: Path) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in query(
            data_dir,
            "select source_file, status, error, file_sha256, rows_read, rows_accepted, "
            "rows_quarantined from audit.landed_files",
        )
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three refreshes: hostile landing; poison listed in .exclude; poison deleted."""
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    snapshots = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=60, seed=7, claims_only_members=20)
        landing = data_dir / "landing"
        _land_hostile(landing)
        files = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())

        def refresh(name):
            result = run_full_refresh(raise_on_error=False)
            snapshots[name] = {
                "success": result.success,
                "published": _published(data_dir) if result.success else None,
                "landed": _landed(data_dir),
                "sessions": query(
                    data_dir,
                    "select count(*) from core.sessions where person_id = 'client:B-999998'",
                )[0][0],
                "quarantine": query(
                    data_dir, "select source_file, rule, detail, raw_record from audit.quarantine"
                ),
            }

        refresh("hostile")
        (landing / ".exclude").write_text("# taken out until the vendor re-sends it\npoison.csv\n")
        refresh("excluded")
        (landing / "attendance/poison.csv").unlink()
        (landing / ".exclude").write_text("")
        refresh("removed")
    return data_dir, files, snapshots


def test_hostile_landing_publishes_every_mart(runs):
    data_dir, _, snapshots = runs
    first = snapshots["hostile"]
    assert first["success"]
    assert set(first["published"]) == set(CONTENT_MARTS)
    # the as-of date stays with the data: the generated window, not 2999
    as_of = query(data_dir, "select max(as_of_date) from core.episodes")[0][0]
    assert date(2025, 1, 1) <= as_of <= date.today() + timedelta(days=7)
    # marts bounded by the data's real span: 2024-01 .. 2025-12 at most
    months = query(
        data_dir,
        "select min(month), max(month), count(distinct month) "
        "from marts.program_quality_monthly_by_program",
    )[0]
    assert months[0] >= date(2024, 1, 1) and months[1] <= date(2025, 12, 1) and months[2] <= 24


def test_implausible_and_impossible_dates_are_quarantined_with_a_detail(runs):
    _, _, snapshots = runs
    rows = snapshots["hostile"]["quarantine"]
    by_file: dict[str, list[tuple[str, str]]] = {}
    for source_file, rule, detail, _ in rows:
        by_file.setdefault(source_file, []).append((rule, detail))
    for name, future, past in (
        ("attendance/hostile_sessions.csv", '"2999-01-04"', '"1899-12-30"'),
        ("claims/hostile_claims.csv", '"2999-01-04"', '"1899-12-30"'),
        ("census/hostile_census.csv", '"01/04/2999"', '"12/30/1899"'),
        ("attendance/poison.csv", '"2999-12-31"', None),
    ):
        found = by_file[name]
        implausible = [d for r, d in found if r == "implausible_date"]
        assert any(future in d and "after the file's landing date" in d for d in implausible), name
        if past:
            assert any(past in d and "before 1990-01-01" in d for d in implausible), name
            assert any(r == "invalid_date" for r, _ in found), name  # 02-30
    # nothing in core beyond the landing date + tolerance, nothing before the floor
    data_dir = runs[0]
    assert query(
        data_dir,
        "select count(*) from core.sessions where session_date > current_date + 7 "
        "or session_date < date '1990-01-01'",
    ) == [(0,)]
    assert query(
        data_dir,
        "select count(*) from core.claim_lines where service_to_date > current_date + 7 "
        "or service_from_date < date '1990-01-01'",
    ) == [(0,)]


def test_text_is_normalized_or_quarantined_by_rule(runs):
    data_dir, _, snapshots = runs
    unsafe = [(f, d) for f, r, d, _ in snapshots["hostile"]["quarantine"] if r == "unsafe_text"]
    quarantined = [p for p, cleaned in HOSTILE_PROGRAMS.items() if cleaned is None]
    sessions_unsafe = [d for f, d in unsafe if f == "attendance/hostile_sessions.csv"]
    assert len(sessions_unsafe) == len(quarantined)
    assert any("spreadsheet formula" in d for d in sessions_unsafe)
    assert any("U+0406" in d for d in sessions_unsafe)
    claims_unsafe = [d for f, d in unsafe if f == "claims/hostile_claims.csv"]
    assert len(claims_unsafe) == 2 and any("U+0430" in d for d in claims_unsafe)
    programs = {
        r[0]
        for r in query(
            data_dir, "select distinct program from staging.attendance where client_id like 'B-99%'"
        )
    }
    expected = {cleaned for cleaned in HOSTILE_PROGRAMS.values() if cleaned} | {"HILLCREST"}
    assert programs == expected
    assert query(
        data_dir,
        "select distinct clinician_id from staging.attendance where client_id like 'B-9901%'",
    ) == [("S1",)]
    assert query(data_dir, "select payer from staging.claims where claim_id = 'HX6'") == [
        ("Medicaid",)
    ]
    # programs outside the site's known list are warned about, not blocked
    warned = query(
        data_dir,
        "select status, unexpected_count from audit.check_results "
        "where table_name = 'staging.attendance' and check_name = 'program_in_known_programs'",
    )
    assert warned and warned[0][0] == "failed" and warned[0][1] >= 4


def test_no_hostile_string_reaches_a_published_mart(runs):
    data_dir, _, _ = runs
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        checked = 0
        for mart in MARTS:
            columns = [
                name
                for name, kind, *_ in con.execute(f"describe main.{mart}").fetchall()
                if kind == "VARCHAR"
            ]
            for column in columns:
                values = con.execute(f'select distinct "{column}" from main.{mart}').fetchall()
                for (value,) in values:
                    if value is None:
                        continue
                    checked += 1
                    assert not UNSAFE.search(value), (mart, column, value)
                    assert not (MIXED[0].search(value) and MIXED[1].search(value)), value
                    assert "HYPERLINK" not in value and "cmd|" not in value, (mart, column)
                    assert value == value.strip(), (mart, column, value)
        assert checked > 100
    finally:
        con.close()


def test_every_file_under_landing_has_a_row_in_landed_files(runs):
    data_dir, files, snapshots = runs
    landed = snapshots["hostile"]["landed"]
    shas = {row[2] for row in landed.values()}
    from iop.ingest import file_sha256

    landing = data_dir / "landing"
    for relative in files:
        if relative in landed:
            continue
        assert file_sha256(landing / relative) in shas, relative
    ignored = {name: row[1] for name, row in landed.items() if row[0] == "ignored"}
    assert "lock or temporary" in ignored["attendance/~$lock.csv"]
    assert "hidden name" in ignored["attendance/..hidden.csv"]
    assert "not in a feed folder" in ignored["loose.csv"]
    assert "closest is 'attendance'" in ignored["attendence/misspelt.csv"]
    # the two 0-byte files are one content, rejected with the reason (audit.deliveries has both)
    empty = [row for row in landed.values() if row[2] == file_sha256(landing / "census/empty.csv")]
    assert len(empty) == 1 and empty[0][0] == "rejected" and "empty file (0 bytes)" in empty[0][1]
    deliveries = query(
        data_dir, "select source_file, status from audit.deliveries where file_bytes = 0"
    )
    assert sorted(deliveries) == [
        ("census/empty.csv", "rejected"),
        ("claims/empty.csv", "rejected"),
    ]
    statuses = {row[0] for row in landed.values()}
    assert statuses <= {"ingested", "ignored", "rejected", "superseded"}


def test_an_excluded_then_removed_poison_file_leaves_at_the_next_refresh(runs):
    _, _, snapshots = runs
    poison = "attendance/poison.csv"
    first, excluded, removed = snapshots["hostile"], snapshots["excluded"], snapshots["removed"]
    assert first["landed"][poison][0] == "ingested"
    assert first["landed"][poison][3:] == (2, 1, 1)
    assert first["sessions"] == 1
    assert any(q[0] == poison for q in first["quarantine"])

    assert excluded["success"] and removed["success"]
    assert excluded["landed"][poison][0] == "excluded"
    assert excluded["sessions"] == 0
    assert not any(q[0] == poison for q in excluded["quarantine"])
    # the other marts are those of the first run without the poison file's one good row
    assert removed["landed"][poison][0] == "removed"
    assert removed["sessions"] == 0
    assert not any(q[0] == poison for q in removed["quarantine"])
    assert removed["published"] == excluded["published"]


def test_ignore_reasons_and_exclude_patterns(tmp_path):
    from iop import ingest
    from iop.settings import IopSettings

    settings = IopSettings(data_dir=str(tmp_path))
    settings.landing_dir.mkdir(parents=True)
    (settings.landing_dir / ".exclude").write_text(
        "# comment\n\nclaims/*_old.csv\npoison.csv\n  attendance/bad/  \n"
    )
    patterns = ingest.exclude_patterns(settings)
    assert patterns == ["claims/*_old.csv", "poison.csv", "attendance/bad/"]
    cases = {
        "attendance/~$w.xlsx": "lock or temporary",
        "attendance/.~lock.w.csv#": "lock or temporary",
        "claims/c.csv.part": "lock or temporary",
        "claims/c.tmp": "lock or temporary",
        "attendance/.w.csv": "hidden name",
        "attendance/.sub/w.csv": "hidden name",
        "claims/c_old.csv": "landing/.exclude",
        "census/deep/poison.csv": "landing/.exclude",
        "attendance/bad/w.csv": "landing/.exclude",
        "claims/c.csv": None,
        "claims/c_old.csv.bak": None,
        "attendance/w~x.csv": None,
    }
    for relative, reason in cases.items():
        got = ingest.ignore_reason(Path(relative), relative, patterns)
        assert (got is None) if reason is None else (reason in got), (relative, got)


def test_registry_status_follows_what_landing_holds(tmp_path):
    """Removed, excluded, corrected and copied files, judged at sync time without a Dagster run."""
    from iop import ingest
    from iop.settings import IopSettings

    settings = IopSettings(data_dir=str(tmp_path))
    landing = settings.landing_dir
    rows = b.vendor_b_sessions("B-000001", "IOP", [DAY])
    for name in ("gone.csv", "excluded.csv", "copied.csv", "fixed.csv"):
        b.write_csv(landing / "attendance" / name, "attendance_vendor_b", rows)
        rows = rows + b.vendor_b_sessions("B-000002", "IOP", [DAY])  # distinct contents
    ingest.ingest_files(settings, ingest.scan_landing(settings))
    (landing / "attendance/gone.csv").unlink()
    (landing / ".exclude").write_text("excluded.csv\ncopied.csv\n")
    copy = (landing / "attendance/copied.csv").read_bytes()
    (landing / "attendance/copy_of_copied.csv").write_bytes(copy)  # same content, not excluded
    fixed = b.vendor_b_sessions("B-000003", "IOP", [DAY])
    b.write_csv(landing / "attendance/fixed.csv", "attendance_vendor_b", fixed)
    ingest.ingest_files(settings, ingest.scan_landing(settings))

    con = duckdb.connect()
    con.execute("create schema raw")
    ingest.sync_registry(con, settings)
    statuses = con.execute(
        "select source_file, status from raw.registry order by source_file, ingested_at"
    ).fetchall()
    assert statuses == [
        ("attendance/copied.csv", "ingested"),  # its content is still landed under another name
        ("attendance/excluded.csv", "excluded"),
        ("attendance/fixed.csv", "superseded"),
        ("attendance/fixed.csv", "ingested"),
        ("attendance/gone.csv", "removed"),
    ]
    read = con.execute(
        "select count(distinct _source_file) from raw.attendance_vendor_b"
    ).fetchone()
    assert read == (2,)
