"""Hand-built edge cases, each with its expected values worked out by hand in the comments.

Every test lands a few files in the contract layouts, runs the real Dagster job in-process and
reads the resulting tables.
"""

from __future__ import annotations

from datetime import date

import builders as b
from conftest import materialize, query

MONDAY = date(2025, 1, 6)


def episodes(data_dir, person: str):
    return query(
        data_dir,
        "select level_of_care, start_date, end_date, length_of_stay, is_open, discharge_reason "
        "from core.episodes where person_id = ? order by start_date, level_of_care",
        [person],
    )


def test_gap_exactly_at_threshold_continues_and_one_more_day_splits(data_dir):
    landing = data_dir / "landing"
    # B-1: days 0, 2 then 32: gap 2 -> 32 is exactly 30 days -> one episode, days 0..32, LOS 33.
    # B-2: days 0, 2 then 33: gap 31 days -> two episodes: 0..2 (LOS 3) and 33..33 (LOS 1).
    rows = b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 2, 32))
    rows += b.vendor_b_sessions("B-000002", "IOP", b.days(MONDAY, 0, 2, 33))
    # A later session far away sets the as-of date, so neither client's episodes are open.
    rows += b.vendor_b_sessions("B-000003", "OP", b.days(MONDAY, 200))
    b.write_csv(landing / "attendance/w1.csv", "attendance_vendor_b", rows)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [b.roster_row(c) for c in ("B-000001", "B-000002", "B-000003")],
    )
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("X", "M-OTHER", MONDAY)])
    materialize()

    d = b.days(MONDAY, 0, 2, 32, 33)
    assert episodes(data_dir, "client:B-000001") == [("IOP", d[0], d[2], 33, False, None)]
    assert episodes(data_dir, "client:B-000002") == [
        ("IOP", d[0], d[1], 3, False, None),
        ("IOP", d[3], d[3], 1, False, None),
    ]
    # The second B-2 episode starts 31 days after the first ends: outside the 30-day window.
    assert query(
        data_dir,
        "select from_level, to_level, days_to_next, direction "
        "from core.transitions where person_id = 'client:B-000002' order by from_start_date",
    ) == [
        ("IOP", None, 31, "none"),
        ("IOP", None, None, "none"),
    ]


def test_overlapping_levels_and_same_day_step_down(data_dir):
    landing = data_dir / "landing"
    # PHP days 0..4, IOP starts day 4 (same day PHP ends): step-down with 0 days between.
    # IOP days 4, 6, 8; OP (claims only, 90834) days 7 and 14 overlaps IOP's last days.
    rows = b.vendor_b_sessions("B-000010", "PHP", b.days(MONDAY, 0, 1, 2, 3, 4))
    rows += b.vendor_b_sessions("B-000010", "IOP", b.days(MONDAY, 4, 6, 8))
    rows += b.vendor_b_sessions("B-000099", "OP", b.days(MONDAY, 120))  # as-of date
    b.write_csv(landing / "attendance/w1.csv", "attendance_vendor_b", rows)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [b.roster_row("B-000010", "MCD10"), b.roster_row("B-000099")],
    )
    d = b.days(MONDAY, 0, 4, 7, 8, 14)
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            b.claim_line("OP1", "MCD10", d[2], procedure="90834"),
            b.claim_line("OP2", "MCD10", d[4], procedure="90834"),
        ],
    )
    materialize()

    assert episodes(data_dir, "client:B-000010") == [
        ("PHP", d[0], d[1], 5, False, None),
        ("IOP", d[1], d[3], 5, False, None),
        ("OP", d[2], d[4], 8, False, None),
    ]
    transitions = query(
        data_dir,
        "select from_level, to_level, days_between, direction from core.transitions "
        "where person_id = 'client:B-000010' order by from_start_date",
    )
    # PHP -> IOP same day (0); IOP (ends day 8) -> OP started day 7 and continues: -1 (overlap);
    # OP is the last episode.
    assert transitions == [
        ("PHP", "IOP", 0, "step_down"),
        ("IOP", "OP", -1, "step_down"),
        ("OP", None, None, "none"),
    ]


def test_voids_replacements_and_duplicate_lines_resolve_to_final_version(data_dir):
    landing = data_dir / "landing"
    d = b.days(MONDAY, 0, 1, 2, -60, -90, 200)
    jan20 = date(2025, 1, 20)
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000020", "MCD20")])
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000099", "OP", [d[5]]),
    )
    b.write_csv(
        landing / "claims/jan.csv",
        "claims_csv",
        [
            # a real IOP day, billed twice (identical duplicate line): counts once
            b.claim_line("C1", "MCD20", d[0], received=jan20),
            b.claim_line("C1", "MCD20", d[0], received=jan20),
            # billed on the wrong day (60 days earlier), replaced below by day 1
            b.claim_line("C2", "MCD20", d[3], received=jan20),
            # billed in error (90 days earlier), voided below
            b.claim_line("C3", "MCD20", d[4], received=jan20),
            # original -> replacement -> second replacement: the last one (day 2) is final
            b.claim_line("C4", "MCD20", d[4], received=jan20),
        ],
    )
    b.write_csv(
        landing / "claims/feb.csv",
        "claims_csv",
        [
            b.claim_line(
                "C2R", "MCD20", d[1], frequency="7", original="C2", received=date(2025, 2, 10)
            ),
            b.claim_line(
                "C3V", "MCD20", d[4], frequency="8", original="C3", received=date(2025, 2, 10)
            ),
            b.claim_line(
                "C4R", "MCD20", d[3], frequency="7", original="C4", received=date(2025, 2, 10)
            ),
            b.claim_line(
                "C4R2", "MCD20", d[2], frequency="7", original="C4R", received=date(2025, 2, 20)
            ),
        ],
    )
    materialize()

    final = query(
        data_dir,
        "select claim_id, service_from_date from core.claim_lines "
        "where person_id = 'client:B-000020' order by service_from_date",
    )
    assert final == [("C1", d[0]), ("C2R", d[1]), ("C4R2", d[2])]
    # Only days 0-2 remain: one IOP episode of 3 days (the wrong earlier days are gone).
    assert episodes(data_dir, "client:B-000020") == [("IOP", d[0], d[2], 3, False, None)]


def test_clients_without_claims_and_claims_without_client(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [
            b.roster_row("B-000030", "", payer="Self-pay"),  # no member id: no claims
            b.roster_row("B-000031", "MCD31"),
        ],
    )
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000030", "IOP", b.days(MONDAY, 0, 2))
        + b.vendor_b_sessions("B-000031", "IOP", b.days(MONDAY, 0)),
    )
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            b.claim_line("K1", "MCD31", MONDAY),
            # member nobody in the roster links to: a person of its own, episode from claims only
            b.claim_line(
                "K2",
                "MCR777",
                MONDAY,
                b.days(MONDAY, 9)[0],
                procedure="",
                revenue="1002",
                claim_type="institutional",
                payer="Medicare",
            ),
        ],
    )
    materialize()

    persons = query(data_dir, "select person_id, person_source from core.persons order by 1")
    assert persons == [
        ("client:B-000030", "ehr"),
        ("client:B-000031", "ehr"),
        ("member:Medicare:MCR777", "claims"),
    ]
    assert episodes(data_dir, "member:Medicare:MCR777") == [
        ("RES", MONDAY, b.days(MONDAY, 9)[0], 10, True, None)
    ]
    assert query(
        data_dir, "select source from core.episodes where person_id = 'client:B-000031'"
    ) == [("ehr_and_claims",)]


def test_census_bounds_and_reason_override_attendance(data_dir):
    landing = data_dir / "landing"
    # Attended days 2..10 but the census says admitted day 0, discharged day 12, completed.
    b.write_csv(
        landing / "attendance/a.csv",
        "attendance_vendor_a",
        b.vendor_a_sessions("A0000040", "IOP", b.days(MONDAY, 2, 5, 10))
        + b.vendor_a_sessions("A0000041", "IOP", b.days(MONDAY, 1, 3))
        + b.vendor_a_sessions("A0000099", "OP", b.days(MONDAY, 3)),
    )
    d = b.days(MONDAY, 0, 12, 1, 3)
    census = [
        {
            "MRN": "A0000040",
            "Program": "RIVERSIDE",
            "Level of Care": "IOP",
            "Admit Date": b.us(d[0]),
            "Discharge Date": "",
            "Discharge Reason": "",
        },
        {
            "MRN": "A0000041",
            "Program": "RIVERSIDE",
            "Level of Care": "IOP",
            "Admit Date": b.us(d[2]),
            "Discharge Date": "",
            "Discharge Reason": "",
        },
    ]
    b.write_csv(landing / "census/vendor_a_census_20250131.csv", "census_vendor_a", census)
    # The later snapshot discharges A0000040; A0000041 stays open.
    census[0].update({"Discharge Date": b.us(d[1]), "Discharge Reason": "Completed Treatment"})
    b.write_csv(landing / "census/vendor_a_census_20250228.csv", "census_vendor_a", census)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [b.roster_row(c) for c in ("A0000040", "A0000041", "A0000099")],
    )
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("Z", "OTHER", MONDAY)])
    materialize()

    assert episodes(data_dir, "client:A0000040") == [("IOP", d[0], d[1], 13, False, "completed")]
    # Open admission: bounded by admit (day 1) and the last attended day (day 3).
    assert episodes(data_dir, "client:A0000041") == [("IOP", d[2], d[3], 3, True, None)]


def test_bad_rows_are_quarantined_with_rule_and_detail_and_counts_reconcile(data_dir):
    landing = data_dir / "landing"
    good = b.vendor_b_sessions("B-000050", "IOP", b.days(MONDAY, 0))
    bad = [
        {**good[0], "client_id": ""},
        {**good[0], "service_date": "13/45/2025"},
        {**good[0], "asam_level": "3.3"},
        {**good[0], "attendance_code": "Maybe"},
        {**good[0], "duration_min": "-30"},
    ]
    b.write_csv(landing / "attendance/w.csv", "attendance_vendor_b", good + bad)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [b.roster_row("B-000050"), b.roster_row("B-000051", birth_date="1990-02-30")],
    )
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            b.claim_line("Q1", "MCD1", MONDAY),
            {**b.claim_line("Q2", "", MONDAY)},
            {**b.claim_line("Q3", "MCD1", MONDAY), "claim_frequency_code": "5"},
            {**b.claim_line("Q4", "MCD1", MONDAY), "service_to_date": "2024-12-31"},
        ],
    )
    materialize()

    assert query(
        data_dir,
        "select source_file, row_number, rule, detail from audit.quarantine "
        "order by source_file, row_number",
    ) == [
        ("attendance/w.csv", 2, "missing_client_id", "client_id is blank"),
        ("attendance/w.csv", 3, "invalid_date", "service_date is not YYYY-MM-DD"),
        (
            "attendance/w.csv",
            4,
            "unknown_level_of_care",
            'asam_level "3.3" is not one of 2.5, 2.1, 1',
        ),
        (
            "attendance/w.csv",
            5,
            "unknown_status",
            'attendance_code "Maybe" is not one of A, NS, CC, CP, EX',
        ),
        (
            "attendance/w.csv",
            6,
            "invalid_minutes",
            'duration_min "-30" is not a whole number above 0',
        ),
        ("claims/c.csv", 2, "missing_member_id", "member_id is blank"),
        ("claims/c.csv", 3, "invalid_frequency_code", 'claim_frequency_code "5" is not 1, 7 or 8'),
        (
            "claims/c.csv",
            4,
            "invalid_date_range",
            "service_to_date is before service_from_date",
        ),
        ("roster/r.csv", 2, "invalid_date", "birth_date is not YYYY-MM-DD"),
    ]
    assert query(
        data_dir,
        "select source_file, rows_read, rows_accepted, rows_quarantined "
        "from audit.landed_files order by source_file",
    ) == [
        ("attendance/w.csv", 6, 1, 5),
        ("claims/c.csv", 4, 1, 3),
        ("roster/r.csv", 2, 1, 1),
    ]
    # The rejected row is kept as delivered.
    raw = query(data_dir, "select raw_record from audit.quarantine where rule = 'unknown_status'")
    assert '"attendance_code":"Maybe"' in raw[0][0]
