"""Claim versions as real 837 files number them (docs/x12.md, "Claim versions"), end to end.

Hand-built 837P files and 835s (rendered by iop.generator.x12_writer) land beside a payer's CSV
extract. Providers resubmit a corrected claim under the SAME CLM01 with REF*F8 = the payer's claim
control number of the original, which only the 835 carries (CLP01 = CLM01, CLP07 = that number):

* A1: replacement under the same CLM01, its REF*F8 number known from an 835; drops a line.
* B1 -> B2: replacement under a NEW CLM01, found only through the 835 (REF*F8 = CLP07 of B1).
* C1: replacement under the same CLM01, no 835 at all (REF*F8 matches nothing).
* V1: void under the same CLM01; W1 -> W2: void under a new CLM01 through the 835; P900 -> P901:
  void in a payer's CSV extract (its claim id is the payer's number).
* X2: replacement whose original never arrived (the 835 names X1); Y1: replacement with a payer
  number no 835 carries and no earlier version: both kept, flagged unresolved_version, counted.
"""

from __future__ import annotations

import datetime as dt

import builders as b
import pytest
from conftest import materialize, query

from iop.generator.x12_writer import (
    VERSIONS,
    X12Claim,
    X12Line,
    interchange,
    transaction_835,
    transaction_837,
)

MONDAY = dt.date(2025, 1, 6)
MEMBER = "MCR1001"
NPI = "1234567893"


def _day(n: int) -> dt.date:
    return MONDAY + dt.timedelta(days=n)


def _claim(claim_id: str, *days: int, frequency="1", original="", icn="", paid="100.00"):
    return X12Claim(
        claim_id=claim_id,
        member_id=MEMBER,
        billing_npi=NPI,
        frequency=frequency,
        original=original,
        facility="52",
        diagnoses=["F331"],
        icn=icn,
        lines=[X12Line("S9480", "250.00", "1", _day(d), _day(d), ["HF"], paid=paid) for d in days],
    )


def _write_837(path, sent: dt.date, claims: list[X12Claim], control: int) -> None:
    tx = transaction_837("P", claims, payer="Medicare", payer_id="MCRA1", sent=sent, number=1)
    path.write_text(
        interchange(
            [tx],
            functional="HC",
            version=VERSIONS["P"],
            sender="IOPBILLING",
            receiver="MCRA1",
            sent=dt.datetime.combine(sent, dt.time(8)),
            control=control,
        )
    )


def _write_835(path, paid: dt.date, claims: list[X12Claim], control: int) -> None:
    tx = transaction_835(claims, payer="Medicare", payee_npi=NPI, paid=paid, number=1)
    path.write_text(
        interchange(
            [tx],
            functional="HP",
            version=VERSIONS["835"],
            sender="MCRA1",
            receiver="IOPBILLING",
            sent=dt.datetime.combine(paid, dt.time(6)),
            control=control,
        )
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("x12v") / "data"
    landing = data_dir / "landing"
    (landing / "claims").mkdir(parents=True)
    originals = [
        _claim("A1", 0, 1),
        _claim("B1", 2),
        _claim("C1", 3, 4),
        _claim("V1", 7),
        _claim("W1", 8),
    ]
    _write_837(landing / "claims/jan.837p", _day(14), originals, 1)
    icn = {"A1": "2502000000001", "B1": "2502000000002", "W1": "2502000000005", "X1": "25020009"}
    _write_835(
        landing / "claims/remit_jan.835",
        _day(24),
        [
            _claim("A1", 0, 1, icn=icn["A1"]),
            _claim("B1", 2, icn=icn["B1"]),
            _claim("W1", 8, icn=icn["W1"]),
            _claim("X1", 9, icn=icn["X1"]),  # X1's 837 never arrives
        ],
        2,
    )
    corrections = [
        _claim("A1", 0, frequency="7", original=icn["A1"]),  # drops day 1
        _claim("B2", 2, 5, frequency="7", original=icn["B1"]),  # new CLM01, adds day 5
        _claim("C1", 3, frequency="7", original="2599999999999"),  # no 835 knows it
        _claim("V1", 7, frequency="8", original="2502000000004"),
        _claim("W2", 8, frequency="8", original=icn["W1"]),
        _claim("X2", 10, frequency="7", original=icn["X1"]),
        _claim("Y1", 11, frequency="7", original="2500000000000"),
    ]
    _write_837(landing / "claims/feb.837p", _day(35), corrections, 3)
    b.write_csv(
        landing / "claims/payer_extract.csv",
        "claims_csv",
        [
            b.claim_line("P900", MEMBER, _day(15), received=_day(20), payer="Medicare"),
            b.claim_line(
                "P901",
                MEMBER,
                _day(15),
                received=_day(30),
                payer="Medicare",
                frequency="8",
                original="P900",
            ),
        ],
    )
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", [MONDAY]),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    with pytest.MonkeyPatch.context() as mp:
        from conftest import TEST_KEY

        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("IOP_DEMO", raising=False)
        materialize()
    return data_dir


def test_final_lines_follow_the_versions(run):
    rows = query(
        run,
        "select claim_id, root_claim_id, claim_frequency_code, service_from_date, version_flag "
        "from core.claim_lines order by claim_id, service_from_date",
    )
    assert rows == [
        ("A1", "A1", "7", _day(0), None),  # same CLM01, 835 known: day 1 dropped
        ("B2", "B1", "7", _day(2), None),  # through the 835 only
        ("B2", "B1", "7", _day(5), None),
        ("C1", "C1", "7", _day(3), None),  # same CLM01, no 835: day 4 dropped
        ("X2", "X1", "7", _day(10), "unresolved_version"),  # original never arrived: kept
        ("Y1", "2500000000000", "7", _day(11), "unresolved_version"),
    ]  # V1, W1/W2 and P900/P901 are voided: no lines


def test_every_version_is_accounted_with_its_link(run):
    rows = query(
        run,
        "select claim_id, claim_frequency_code, linked_by, is_final, version_flag "
        "from audit.claim_versions order by claim_id, version_number",
    )
    assert rows == [
        ("A1", "1", "original", False, None),
        ("A1", "7", "same_claim_id", True, None),
        ("B1", "1", "original", False, None),
        ("B2", "7", "payer_claim_number", True, None),
        ("C1", "1", "original", False, None),
        ("C1", "7", "same_claim_id", True, None),
        ("P900", "1", "original", False, None),
        ("P901", "8", "claim_id", True, None),
        ("V1", "1", "original", False, None),
        ("V1", "8", "same_claim_id", True, None),
        ("W1", "1", "original", False, None),
        ("W2", "8", "payer_claim_number", True, None),
        ("X2", "7", None, True, "unresolved_version"),
        ("Y1", "7", None, True, "unresolved_version"),
    ]
    reasons = dict(
        query(
            run,
            "select claim_id, unresolved_reason from audit.claim_versions "
            "where version_flag is not null",
        )
    )
    assert reasons == {
        "X2": "original claim id X1 (835 CLP07 25020009) never arrived",
        "Y1": "original_claim_id 2500000000000 matches no payer claim control number of an 835 "
        "(CLP07) and no claim id",
    }


def test_unresolved_versions_are_a_warning_in_the_quality_results_and_marts_publish(run):
    assert query(
        run,
        "select table_name, observed_value, status, severity from audit.check_results "
        "where check_name = 'claim_versions_resolved'",
    ) == [("core.claim_lines", "2", "failed", "warning")]
    assert (run / "marts.duckdb").exists()
    assert query(
        run, "select count(*) from core.claim_lines where claim_id in ('V1', 'W1', 'W2', 'P900')"
    ) == [(0,)]
