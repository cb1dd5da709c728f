"""Every delivery is seen: in-place corrections by content, repeated identical files as events of
their own, feed folders whatever their case, and files in no feed folder reported."""

from __future__ import annotations

import os
import time
from datetime import date

import builders as b
from conftest import materialize, query

MONDAY = date(2025, 1, 6)


def _settings():
    from iop.settings import IopSettings

    return IopSettings.from_env()


def _other_feeds(landing, client: str) -> None:
    """A roster and a claims file: every feed's staging table must have rows to pass its checks."""
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row(client, "M1")])
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])


def _rewrite_keeping_size_and_mtime(path, old: bytes, new: bytes) -> None:
    """An EHR re-export over the same name: same byte count, modification time put back."""
    before = path.stat()
    content = path.read_bytes()
    assert len(old) == len(new) and content.count(old) == 1
    path.write_bytes(content.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_in_place_correction_with_same_size_and_mtime_is_ingested_and_supersedes(data_dir):
    landing = data_dir / "landing"
    week = landing / "attendance/vendor_a_attendance_20250106.csv"
    rows = b.vendor_a_sessions("A0000001", "IOP", b.days(MONDAY, 0, 1))
    rows[1]["Attendance"] = "Present"
    b.write_csv(week, "attendance_vendor_a", rows[:1] + [{**rows[1], "Minutes": "179"}])
    _other_feeds(landing, "A0000001")
    materialize()
    assert query(data_dir, "select attendance_status from core.sessions order by 1") == [
        ("attended",),
        ("attended",),
    ]

    # Tuesday's "Present" was entered in error: "Excused" has the same length.
    _rewrite_keeping_size_and_mtime(
        week, b"Group Therapy,179,Present", b"Group Therapy,179,Excused"
    )
    materialize()

    assert query(
        data_dir, "select session_date, attendance_status from core.sessions order by 1"
    ) == [(MONDAY, "attended"), (b.days(MONDAY, 1)[0], "excused")]
    assert query(
        data_dir,
        "select status, rows_read, rows_accepted, rows_superseded from audit.landed_files "
        "where feed = 'attendance' order by ingested_at",
    ) == [("superseded", 2, 0, 2), ("ingested", 2, 2, 0)]
    # both contents of the name are deliveries of their own
    assert query(
        data_dir,
        "select source_file, status from audit.deliveries where feed = 'attendance' "
        "order by seen_at",
    ) == [
        (week.relative_to(landing).as_posix(), "superseded"),
        (week.relative_to(landing).as_posix(), "ingested"),
    ]
    assert query(data_dir, "select bool_and(reconciled) from audit.row_accounting") == [(True,)]


def test_scan_hashes_again_when_bytes_change_under_the_same_size_and_mtime(data_dir, monkeypatch):
    from iop import ingest

    path = data_dir / "landing/attendance/w.csv"
    b.write_csv(path, "attendance_vendor_b", b.vendor_b_sessions("B-000001", "IOP", [MONDAY]))
    # the cached hash would be trusted at once (no racy window): only ctime can tell
    monkeypatch.setattr(ingest, "RACY_NS", 0)
    [first] = ingest.scan_landing(_settings())
    time.sleep(0.05)  # past the file system's timestamp granularity
    _rewrite_keeping_size_and_mtime(path, b",A,S1", b",X,S1")
    [second] = ingest.scan_landing(_settings())
    assert second.sha256 != first.sha256
    assert second.sha256 == ingest.file_sha256(path)
    [third] = ingest.scan_landing(_settings())  # unchanged now: the cache is used and agrees
    assert third.sha256 == second.sha256


def test_cached_hash_is_trusted_only_well_after_the_last_change_and_within_a_day():
    from iop.ingest import RACY_NS, REHASH_NS, _cached_sha

    changed = 10**18
    fingerprint = [100, changed, changed, 7]
    hashed = changed + RACY_NS + 1
    cached = [*fingerprint, "abc", hashed]
    assert _cached_sha(cached, fingerprint, hashed + 1) == "abc"
    assert _cached_sha(cached, [100, changed, changed + 1, 7], hashed + 1) is None  # ctime moved
    assert _cached_sha(cached, [100, changed, changed, 8], hashed + 1) is None  # another inode
    racy = [*fingerprint, "abc", changed + RACY_NS - 1]  # hashed just after a write: re-read
    assert _cached_sha(racy, fingerprint, hashed + 1) is None
    assert _cached_sha(cached, fingerprint, hashed + REHASH_NS + 1) is None  # daily full hash
    assert _cached_sha([100, changed, "abc"], fingerprint, hashed) is None  # older cache format


def test_two_identical_empty_files_are_two_rejected_deliveries(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", [MONDAY]),
    )
    _other_feeds(landing, "B-000001")
    (landing / "attendance/empty_monday.csv").write_bytes(b"")
    (landing / "attendance/empty_tuesday.csv").write_bytes(b"")
    materialize()

    deliveries = query(
        data_dir,
        "select source_file, status, error, duplicate_of from audit.deliveries "
        "where file_bytes = 0 order by source_file",
    )
    assert [(d[0], d[1]) for d in deliveries] == [
        ("attendance/empty_monday.csv", "rejected"),
        ("attendance/empty_tuesday.csv", "rejected"),
    ]
    assert all("empty file (0 bytes)" in d[2] for d in deliveries)
    # the later-seen one is the repeat of the other
    assert sorted(d[3] is None for d in deliveries) == [False, True]
    # one content, one landed file
    assert query(
        data_dir, "select count(*), min(status) from audit.landed_files where file_bytes = 0"
    ) == [(1, "rejected")]

    # a third empty delivery, over one of the same names later, is recorded as well
    time.sleep(0.01)
    again = landing / "attendance/empty_monday.csv"
    again.write_bytes(b"")
    os.utime(again, ns=(again.stat().st_atime_ns, again.stat().st_mtime_ns + 10**9))
    materialize()
    assert query(
        data_dir,
        "select count(*), bool_and(status = 'rejected') from audit.deliveries where file_bytes = 0",
    ) == [(3, True)]


def test_feed_folders_match_case_insensitively_and_strays_name_the_closest_feed(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "Attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 1)),
    )
    b.write_csv(landing / "ROSTER/r.csv", "roster_standard", [b.roster_row("B-000001", "M1")])
    b.write_csv(landing / "Claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])
    b.write_csv(
        landing / "attendence/w2.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000002", "IOP", [MONDAY]),
    )
    (landing / "claims.csv").write_text("claim_id\n")
    materialize()

    assert query(data_dir, "select count(*) from core.sessions") == [(2,)]
    assert query(
        data_dir, "select source_file, feed, status from audit.landed_files order by 1"
    ) == [
        ("Attendance/w.csv", "attendance", "ingested"),
        ("Claims/c.csv", "claims", "ingested"),
        ("ROSTER/r.csv", "roster", "ingested"),
        # not read, but not passed over in silence either (the reason is the delivery's error)
        ("attendence/w2.csv", None, "ignored"),
        ("claims.csv", None, "ignored"),
    ]
    rows = query(
        data_dir,
        "select source_file, folder, feed, status, error from audit.deliveries order by 1",
    )
    assert [r[:4] for r in rows] == [
        ("Attendance/w.csv", "Attendance", "attendance", "ingested"),
        ("Claims/c.csv", "Claims", "claims", "ingested"),
        ("ROSTER/r.csv", "ROSTER", "roster", "ingested"),
        ("attendence/w2.csv", "attendence", None, "rejected"),
        ("claims.csv", "", None, "rejected"),
    ]
    assert rows[3][4] == (
        "folder 'attendence' is not a feed folder (attendance, roster, census, claims); "
        "closest is 'attendance': move the file there"
    )
    assert "not in a feed folder" in rows[4][4]

    # moved where it belongs, the file is ingested; the stray delivery stays on record
    (landing / "attendance").mkdir()
    os.replace(landing / "attendence/w2.csv", landing / "attendance/w2.csv")
    materialize()
    assert query(data_dir, "select count(*) from core.sessions") == [(3,)]
    assert query(
        data_dir, "select status from audit.deliveries where source_file like '%w2.csv' order by 1"
    ) == [("ingested",), ("rejected",)]


def test_closest_feed():
    from iop.ingest import closest_feed

    assert closest_feed("Claim") == "claims"
    assert closest_feed("censu") == "census"
    assert closest_feed("rosters") == "roster"
