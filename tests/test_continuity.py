"""Continuity measures on hand-built cases; every expected value is worked out in the comments."""

from __future__ import annotations

from datetime import date

import builders as b
from conftest import materialize, query

DAY0 = date(2025, 1, 6)


def test_follow_up_and_step_up_measures(data_dir):
    landing = data_dir / "landing"
    roster, sessions, claims = [], [], []
    d = lambda *offsets: b.days(DAY0, *offsets)  # noqa: E731
    # 11 persons of each pattern, so that no cell falls under the 11-person suppression rule.
    for i in range(11):
        a, bb, c, s = (f"B-1{i:02d}{k}00" for k in range(4))
        # A: residential 0..10 (claims); IOP on day 10 (discharge day: does not count) and day 15
        #    (day 5 after discharge) -> follow-up within 7 and within 30 days.
        # B: residential 0..10; IOP on day 10 and day 25 (day 15 after) -> 30 days only.
        # C: residential 0..10, then withdrawal management 20..22 (a re-admission within 30
        #    days: the residential discharge drops out, only the WM discharge counts); IOP on
        #    day 24 (day 2 after WM) -> follow-up within 7 and 30 days.
        # S: IOP 0..8 then PHP from day 40 (32 days after: a step-up within 90, not 30, days).
        for person, member in ((a, f"MA{i}"), (bb, f"MB{i}"), (c, f"MC{i}"), (s, f"MS{i}")):
            roster.append(b.roster_row(person, member))
        claims.append(b.claim_line(f"RA{i}", f"MA{i}", *d(0, 10), procedure="H0019"))
        claims.append(b.claim_line(f"RB{i}", f"MB{i}", *d(0, 10), procedure="H0019"))
        claims.append(b.claim_line(f"RC{i}", f"MC{i}", *d(0, 10), procedure="H0019"))
        claims.append(b.claim_line(f"WC{i}", f"MC{i}", *d(20, 22), procedure="H0011"))
        sessions += b.vendor_b_sessions(a, "IOP", d(10, 15))
        sessions += b.vendor_b_sessions(bb, "IOP", d(10, 25))
        sessions += b.vendor_b_sessions(c, "IOP", d(24))
        sessions += b.vendor_b_sessions(s, "IOP", d(0, 4, 8)) + b.vendor_b_sessions(s, "PHP", d(40))
    sessions += b.vendor_b_sessions("B-999999", "OP", d(200))  # as-of date: every window complete
    roster.append(b.roster_row("B-999999"))
    b.write_csv(landing / "attendance/w.csv", "attendance_vendor_b", sessions)
    b.write_csv(landing / "roster/r.csv", "roster_standard", roster)
    b.write_csv(landing / "claims/c.csv", "claims_csv", claims)
    materialize()

    rows = query(
        data_dir,
        "select measure, denominator, numerator, rate from marts.continuity_of_care_overall "
        "order by measure",
    )
    assert rows == [
        # A, B and C's WM discharge (C's residential one is dropped): 33; met by A and C: 22.
        ("follow_up_30d", 33, 33, 1.0),
        ("follow_up_7d", 33, 22, round(22 / 33, 4)),
        # IOP discharges: A, B and C's IOP episodes (no step-up after) and S's (PHP on day 40,
        # 32 days after its IOP end on day 8): 44 in all; step-up within 90 days: S only (11).
        ("step_up_30d", 44, 0, 0.0),
        ("step_up_90d", 44, 11, 0.25),
    ]
