"""Real X12 sample files land in the claims feed: valid 837s become claim lines (one per SV1/SV2),
835s remittance lines (one per SVC), malformed files and non-claim X12 are rejected whole with
the reason — and one bad file does not stop the others."""

from __future__ import annotations

import shutil
from datetime import date

import builders as b
from conftest import SHARED_DATA, materialize, query, requires_shared_data

from iop.redact import file_label

pytestmark = requires_shared_data

VALID = {
    "linuxforhealth-x12/837_005010X222A2/demo.example1.837": ("SV1",),
    "linuxforhealth-x12/837_005010X223A3/institutional-claim.837i": ("SV2",),
    "oopfactory-x12parser/_837P/_5010/MedicaidExample.txt": ("SV1",),
    "oopfactory-x12parser/_835/_5010/Example1.txt": ("SVC",),
    "linuxforhealth-x12/835_005010X221A1/managed-care.835": ("SVC",),
}
REJECTED = {
    "pyx12/test_files_4010_at_57f2f32/fail_no_IEA.txt": "has no IEA trailer",
    "imsweb-x12-parser/837_5010/x12_bad_segment_identifier.txt": "malformed X12",
    "linuxforhealth-x12/834_005010X220A1/add-dependent.834": (
        "is not a claim (837) or remittance (835) file"
    ),
}


def _segments(path, ids):
    """Count service-line segments with a plain split, independent of iop.x12."""
    text = path.read_bytes().decode("utf-8-sig").strip()
    terminator = text[105]  # ISA is fixed width: the segment terminator follows ISA16
    element = text[3]
    return sum(1 for s in text.split(terminator) if s.strip().split(element)[0] in ids)


def test_real_x12_files_ingest_with_exact_line_counts_and_malformed_ones_are_rejected(data_dir):
    landing = data_dir / "landing"
    (landing / "claims").mkdir(parents=True)
    names = {}
    for i, relative in enumerate([*VALID, *REJECTED]):
        target = landing / "claims" / f"{i:02d}_{relative.rsplit('/', 1)[1]}"
        shutil.copy(SHARED_DATA / relative, target)
        names[relative] = f"claims/{target.name}"
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", [date(2025, 1, 6)]),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    materialize()

    registry = {
        row[0]: row[1:]
        for row in query(
            data_dir,
            "select source_file, status, layout, rows_read, rows_accepted, "
            "rows_quarantined, error from audit.landed_files",
        )
    }
    for relative, ids in VALID.items():
        status, layout, read, accepted, quarantined, error = registry[names[relative]]
        expected = _segments(SHARED_DATA / relative, ids)
        assert status == "ingested" and error is None, relative
        assert layout == ("remittance_835" if ids == ("SVC",) else "claims_csv"), relative
        assert read == expected > 0, relative
        assert read == accepted + quarantined, relative
    for relative, reason in REJECTED.items():
        status, layout, read, *_, error = registry[names[relative]]
        assert status == "rejected" and read is None, relative
        # messages name the file with its digit runs masked (iop/redact.py)
        assert error.startswith(file_label(names[relative]) + ": ") and reason in error, error

    # The behavioral-health 835: H0015 lines and a reversal (CLP02 = 22) with negative amounts.
    remits = query(
        data_dir,
        "select procedure_code, claim_status, paid_amount "
        "from staging.remittance_835 where _source_file like '%Example1%'",
    )
    assert any(p == "H0015" for p, _, _ in remits)
    assert any(s == "22" and paid < 0 for _, s, paid in remits)


def test_835_remittances_apply_to_claim_lines_paid_denied_reversed(data_dir):
    """The county-board 835 (oopfactory Example1.txt) pays claim 444444's H0005 line on
    2004-02-05 (56.52), denies claim 121212 (CLP02 4) and reverses claim 090909 (CLP02 22,
    -86.76); a fourth line has no remittance yet."""
    landing = data_dir / "landing"
    (landing / "claims").mkdir(parents=True)
    shutil.copy(
        SHARED_DATA / "oopfactory-x12parser/_835/_5010/Example1.txt",
        landing / "claims" / "remit_example1.835",
    )
    b.write_csv(
        landing / "claims/claims.csv",
        "claims_csv",
        [
            b.claim_line("444444", "1333333", date(2004, 2, 5), procedure="H0005"),
            b.claim_line("121212", "1717171", date(2003, 12, 2), procedure="H0005"),
            b.claim_line("090909", "1245849", date(2004, 2, 10), procedure="H0004"),
            b.claim_line("555555", "1333333", date(2004, 2, 6), procedure="H0005"),
        ],
    )
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", [date(2004, 2, 5)]),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    materialize()

    rows = query(
        data_dir,
        "select claim_id, remittance_status, remitted_paid_amount "
        "from core.claim_lines order by claim_id",
    )
    assert [(c, s, None if p is None else float(p)) for c, s, p in rows] == [
        ("090909", "reversed", -86.76),
        ("121212", "denied", 0.0),
        ("444444", "paid", 56.52),
        ("555555", None, None),
    ]
