"""Amounts are parsed in the formats extracts use or quarantined (never null by accident), and ids
are normalized before keys are built (look-alikes quarantined), with exact row accounting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import builders as b
from conftest import materialize, query

MONDAY = date(2025, 1, 6)
NOT_AN_AMOUNT = " is not an amount (e.g. 1234.5, 1,234.50, $1,234.50, (1,234.50) or 1234.50-)"


def _claims_with(landing, amounts: list[dict]) -> None:
    rows = [
        {**b.claim_line(f"K{i}", "MCD000000001", MONDAY), **changes}
        for i, changes in enumerate(amounts, start=1)
    ]
    b.write_csv(landing / "claims/c.csv", "claims_csv", rows)


def test_amount_formats_are_parsed_and_anything_else_is_quarantined_with_the_column(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", [MONDAY]),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001", "M1")])
    _claims_with(
        landing,
        [
            {"charge_amount": "$1,000.00", "allowed_amount": "USD 1,234.5", "paid_amount": "1,234"},
            {"charge_amount": " 250 ", "allowed_amount": "(250.00)", "paid_amount": "180.00-"},
            {"charge_amount": "US$ .5", "allowed_amount": "$-12.10", "paid_amount": "-$3"},
            {"charge_amount": "1.500", "allowed_amount": "", "paid_amount": "", "units": "1,000"},
            {"charge_amount": "abc"},  # row 5 on: quarantined
            {"charge_amount": "1e309"},
            {"charge_amount": "99999999999999999999999"},  # overflows any column
            {"paid_amount": "10000000.01"},  # above the column's bound
            {"charge_amount": "-5.00"},  # a charge is never negative
            {"allowed_amount": "1.000,00"},
            {"allowed_amount": "12.345"},
            {"paid_amount": "€100"},
            {"paid_amount": "NaN"},
            {"units": "$2"},
            {"units": "1,00"},
        ],
    )
    materialize()

    assert query(
        data_dir,
        "select claim_id, charge_amount, allowed_amount, paid_amount, units from staging.claims "
        "order by _row_number",
    ) == [
        ("K1", Decimal("1000.00"), Decimal("1234.50"), Decimal("1234.00"), Decimal("1.00")),
        ("K2", Decimal("250.00"), Decimal("-250.00"), Decimal("-180.00"), Decimal("1.00")),
        ("K3", Decimal("0.50"), Decimal("-12.10"), Decimal("-3.00"), Decimal("1.00")),
        # blank cells, and only they, are null
        ("K4", Decimal("1.50"), None, None, Decimal("1000.00")),
    ]
    assert query(
        data_dir,
        "select row_number, rule, detail from audit.quarantine where feed = 'claims' order by 1",
    ) == [
        (5, "invalid_amount", 'charge_amount "abc"' + NOT_AN_AMOUNT),
        (6, "invalid_amount", 'charge_amount "1e309"' + NOT_AN_AMOUNT),
        (7, "invalid_amount", 'charge_amount "99999999999999999999999" is outside 0 to 10000000'),
        (8, "invalid_amount", 'paid_amount "10000000.01" is outside -10000000 to 10000000'),
        (9, "invalid_amount", 'charge_amount "-5.00" is outside 0 to 10000000'),
        (10, "invalid_amount", 'allowed_amount "1.000,00"' + NOT_AN_AMOUNT),
        (11, "invalid_amount", 'allowed_amount "12.345"' + NOT_AN_AMOUNT),
        (12, "invalid_amount", 'paid_amount "€100"' + NOT_AN_AMOUNT),
        (13, "invalid_amount", 'paid_amount "NaN"' + NOT_AN_AMOUNT),
        (
            14,
            "invalid_amount",
            'units "$2" is not an amount (e.g. 1234.5, 1,234.50, (1,234.50) or 1234.50-)',
        ),
        (
            15,
            "invalid_amount",
            'units "1,00" is not an amount (e.g. 1234.5, 1,234.50, (1,234.50) or 1234.50-)',
        ),
    ]
    assert query(
        data_dir,
        "select rows_read, rows_accepted, rows_quarantined, reconciled from audit.row_accounting "
        "where feed = 'claims'",
    ) == [(15, 4, 11, True)]


ZERO_WIDTH_SPACE, WORD_JOINER, RTL_MARK, NBSP = "\u200b", "\u2060", "\u200f", "\u00a0"
CYRILLIC_A, CYRILLIC_ES = "\u0410", "\u0421"  # look like Latin A and C


def test_look_alike_and_invisible_ids_are_one_person_or_quarantined(data_dir):
    landing = data_dir / "landing"
    dates = b.days(MONDAY, 0, 1, 2, 3, 4, 7)
    spellings = [
        "A0000001",
        f"A000{ZERO_WIDTH_SPACE}0001",
        "\uff21\uff10\uff10\uff10\uff10\uff10\uff10\uff11",  # fullwidth Ａ００００００１
        f"{NBSP}A0000001{RTL_MARK}",
        f"A0000001{WORD_JOINER}\t",
        f"{CYRILLIC_A}0000001",  # quarantined: it is no Latin A
    ]
    sessions = [
        b.vendor_a_sessions(client, "IOP", [day])[0]
        for client, day in zip(spellings, dates, strict=True)
    ]
    sessions.append(b.vendor_a_sessions(ZERO_WIDTH_SPACE * 2, "IOP", [dates[0]])[0])
    b.write_csv(landing / "attendance/a.csv", "attendance_vendor_a", sessions)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [
            b.roster_row(f"A0000001{ZERO_WIDTH_SPACE}", "MCD000000001"),
            b.roster_row("A0000002", f"M{CYRILLIC_ES}D000000002"),
        ],
    )
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            b.claim_line("C1", f"MCD00000{ZERO_WIDTH_SPACE}0001", MONDAY),
            b.claim_line(
                f"C2{ZERO_WIDTH_SPACE}", "MCD000000001", MONDAY, frequency="8", original="Ｃ1"
            ),  # fmt: skip
            b.claim_line("C3", f"MCD000000001{CYRILLIC_A}", MONDAY),
        ],
    )
    materialize()

    assert query(
        data_dir, "select person_id, client_id, member_id from core.persons order by 1"
    ) == [("client:A0000001", "A0000001", "MCD000000001")]
    assert query(
        data_dir, "select client_id, count(*) from core.sessions group by 1 order by 1"
    ) == [("A0000001", 5)]
    # the claim and its void link through the normalized ids: the chain is voided, no lines left
    assert query(data_dir, "select claim_id, original_claim_id from staging.claims order by 1") == [
        ("C1", None),
        ("C2", "C1"),
    ]
    assert query(data_dir, "select count(*) from core.claim_lines") == [(0,)]
    assert query(
        data_dir,
        "select source_file, row_number, rule, detail from audit.quarantine order by 1, 2",
    ) == [
        (
            "attendance/a.csv",
            6,
            "invalid_id",
            f'MRN "{CYRILLIC_A}0000001" has characters outside A-Za-z0-9._-: U+0410',
        ),
        ("attendance/a.csv", 7, "missing_client_id", "MRN is blank"),
        (
            "claims/c.csv",
            3,
            "invalid_id",
            f'member_id "MCD000000001{CYRILLIC_A}" has characters outside A-Za-z0-9._-: U+0410',
        ),
        (
            "roster/r.csv",
            2,
            "invalid_id",
            f'member_id "M{CYRILLIC_ES}D000000002" has characters outside A-Za-z0-9._-: U+0421',
        ),
    ]
    assert query(data_dir, "select bool_and(reconciled) from audit.row_accounting") == [(True,)]
