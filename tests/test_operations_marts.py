"""marts.reconciliation_person_day / _program_month, marts.program_quality_monthly_overall /
_by_program and iop.kpis on hand-built landing files, with every expected value worked out by
hand in the comments."""

from __future__ import annotations

from datetime import date

import builders as b
import duckdb
from conftest import materialize, query

from iop.kpis import latest_kpis

MONDAY = date(2025, 1, 6)
OWN_NPI = "1111111112"
OTHER_NPI = "2222222229"


def billed(claim_id: str, member: str, day: date, npi: str, procedure: str = "S9480") -> dict:
    line = b.claim_line(claim_id, member, day, procedure=procedure)
    return {**line, "billing_npi": npi, "rendering_npi": npi}


def person_days(data_dir):
    return query(
        data_dir,
        "select r.service_date, r.level_of_care, r.program, r.attended, r.billed, r.billable"
        ", r.status, r.sessions_attended, r.claim_lines, p.client_id "
        "from marts.reconciliation_person_day as r "
        "join core.persons as p using (person_key) "
        "order by p.client_id, r.service_date, r.level_of_care",
    )


def test_reconciliation_by_person_day_with_own_and_other_billing_npis(data_dir):
    landing = data_dir / "landing"
    d0, d1, d2, d5, d10 = b.days(MONDAY, 0, 1, 2, 5, 10)
    # B-100 (member MCD100): IOP attended d0, d1, d2; a no-show on d5.
    # B-101 (self-pay, no member id): IOP attended d0, d1.
    rows = b.vendor_b_sessions("B-000100", "IOP", [d0, d1, d2])
    rows += b.vendor_b_sessions("B-000100", "IOP", [d5], status="NS")
    rows += b.vendor_b_sessions("B-000101", "IOP", [d0, d1])
    b.write_csv(landing / "attendance/w.csv", "attendance_vendor_b", rows)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [
            b.roster_row("B-000100", "MCD100"),
            b.roster_row("B-000101", "", payer="Self-pay"),
        ],
    )
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            # the program's NPI bills d0 and d1 (attended), forgets d2, bills the no-show day d5
            billed("P1", "MCD100", d0, OWN_NPI),
            billed("P2", "MCD100", d1, OWN_NPI),
            billed("P3", "MCD100", d5, OWN_NPI),
            # an outpatient therapist elsewhere bills the same client on d10 (no EHR session)
            billed("T1", "MCD100", d10, OTHER_NPI, procedure="90834"),
        ],
    )
    materialize()

    # Own NPIs: OWN_NPI covers person-days d0, d1, d5, of which d0 and d1 were attended: 2 of 3,
    # more than half -> the program's own. OTHER_NPI covers d10, never attended: 0 of 1 -> not
    # own, so its OP line makes no row at all (not billed_not_attended).
    # d5 has no attended session; its program is that of the IOP episode containing it
    # (d0..d5, from attendance and claims): HILLCREST.
    assert person_days(data_dir) == [
        (d0, "IOP", "HILLCREST", True, True, True, "attended_and_billed", 1, 1, "B-000100"),
        (d1, "IOP", "HILLCREST", True, True, True, "attended_and_billed", 1, 1, "B-000100"),
        (d2, "IOP", "HILLCREST", True, False, True, "attended_not_billed", 1, 0, "B-000100"),
        (d5, "IOP", "HILLCREST", False, True, True, "billed_not_attended", 0, 1, "B-000100"),
        # self-pay: attended but not billable, so not "unbilled"
        (d0, "IOP", "HILLCREST", True, False, False, "attended_no_member_id", 1, 0, "B-000101"),
        (d1, "IOP", "HILLCREST", True, False, False, "attended_no_member_id", 1, 0, "B-000101"),
    ]
    # January totals for HILLCREST IOP: 2 persons, 6 person-days; 2 attended and billed,
    # 1 attended not billed, 1 billed not attended, 2 without member id;
    # sessions attended 3 + 2 = 5; own claim lines 3; billed share 2 / (2 + 1) = 0.6667.
    totals = query(
        data_dir,
        "select program, level_of_care, persons, person_days, attended_and_billed_days"
        ", attended_not_billed_days, billed_not_attended_days, attended_no_member_id_days"
        ", sessions_attended, claim_lines, billed_attended_rate "
        "from marts.reconciliation_program_month "
        "where month = ? order by program, level_of_care",
        [date(2025, 1, 1)],
    )
    # One grain: the month x program x level row only, no 'All' roll-up rows.
    assert totals == [("HILLCREST", "IOP", 2, 6, 2, 1, 1, 2, 5, 3, 0.6667)]
    # No internal or payer identifiers in the mart.
    for mart in ("reconciliation_person_day", "reconciliation_program_month"):
        columns = {r[0] for r in query(data_dir, f"describe marts.{mart}")}
        assert not columns & {"person_id", "client_id", "member_id", "billing_npi"}, mart


def test_program_quality_month_worked_by_hand(data_dir):
    landing = data_dir / "landing"
    mar = lambda *days: [date(2025, 3, d) for d in days]  # noqa: E731
    rows = []
    census = []

    def admission(client, admit, discharge, reason):
        census.append(
            {
                "MRN": client,
                "Program": "RIVERSIDE",
                "Level of Care": "IOP",
                "Admit Date": b.us(admit),
                "Discharge Date": b.us(discharge),
                "Discharge Reason": reason,
            }
        )

    # RIVERSIDE IOP, March 2025:
    # A01-A06: attended Mar 3, 5, 7; no census -> episode Mar 3-7, LOS 5, no reason.
    for i in range(1, 7):
        rows += b.vendor_a_sessions(f"A00000{i:02d}", "IOP", mar(3, 5, 7))
    # A07-A09: attended Mar 3, 5, 7, 10, 12, 14; census admit Mar 3, completed Mar 14 -> LOS 12.
    for i in (7, 8, 9):
        rows += b.vendor_a_sessions(f"A00000{i:02d}", "IOP", mar(3, 5, 7, 10, 12, 14))
        admission(f"A00000{i:02d}", date(2025, 3, 3), date(2025, 3, 14), "Completed Treatment")
    # After IOP: A07 attends OP on Apr 1 (18 days after Mar 14: step-down within 30 days);
    # A08 on Apr 20 (37 days: too late); A09 nothing.
    rows += b.vendor_a_sessions("A0000007", "OP", [date(2025, 4, 1)])
    rows += b.vendor_a_sessions("A0000008", "OP", [date(2025, 4, 20)])
    # A10: attended Mar 3, 5, no-shows Mar 7, 10, 12; left against advice Mar 12 -> LOS 10.
    rows += b.vendor_a_sessions("A0000010", "IOP", mar(3, 5))
    rows += b.vendor_a_sessions("A0000010", "IOP", mar(7, 10, 12), status="Absent")
    admission("A0000010", date(2025, 3, 3), date(2025, 3, 12), "Left Against Advice")
    # A11-A12: attended Feb 24, Mar 3, Mar 31, Apr 2: one episode Feb 24-Apr 2, neither admitted
    # nor discharged in March.
    for i in (11, 12):
        rows += b.vendor_a_sessions(
            f"A00000{i:02d}", "IOP", [date(2025, 2, 24), *mar(3, 31), date(2025, 4, 2)]
        )
    # A13: scheduled twice in March, cancelled (client) and excused: scheduled, never attended.
    rows += b.vendor_a_sessions("A0000013", "IOP", mar(3), status="Cancelled - Client")
    rows += b.vendor_a_sessions("A0000013", "IOP", mar(5), status="Excused")
    b.write_csv(landing / "attendance/a.csv", "attendance_vendor_a", rows)
    b.write_csv(landing / "census/vendor_a_census_20250331.csv", "census_vendor_a", census)
    # The as-of date: one HILLCREST OP session on Jun 30, so March's discharges are final and
    # their 30-day windows observed.
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000999", "OP", [date(2025, 6, 30)]),
    )
    clients = [f"A00000{i:02d}" for i in range(1, 14)] + ["B-000999"]
    b.write_csv(
        landing / "roster/r.csv", "roster_standard", [b.roster_row(c, f"M{c}") for c in clients]
    )
    # The program bills A01's three March days only (of the 12 billable attended clients).
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [billed(f"C{d}", "MA0000001", day, OWN_NPI) for d, day in enumerate(mar(3, 5, 7))],
    )
    materialize()

    columns = (
        "suppressed, census, admissions, discharges, sessions_scheduled, sessions_attended"
        ", sessions_no_show, sessions_cancelled, no_show_rate, median_los, discharges_with_reason"
        ", completion_rate, step_down_30d_denominator, step_down_30d_rate, billable_attended_days"
        ", claims_reconciliation_rate, month_complete, step_down_window_complete"
    )
    march = query(
        data_dir,
        f"select 'All' as program, {columns} from marts.program_quality_monthly_overall "
        "where month = ? and level_of_care = 'IOP' "
        f"union all select program, {columns} from marts.program_quality_monthly_by_program "
        "where month = ? and level_of_care = 'IOP' order by program",
        [date(2025, 3, 1), date(2025, 3, 1)],
    )
    # census: A01-A12 attended in March = 12 persons (A13 never attended), not suppressed.
    # admissions: A01-A10 started in March = 10; discharges: A01-A10 ended in March = 10.
    # scheduled: 6x3 + 3x6 + 5 + 2x2 + 2 = 47; attended: 18 + 18 + 2 + 4 = 42;
    # no-shows 3 (A10); cancelled 1 (A13's client cancellation; excused is neither);
    # no_show_rate = 3 / 47 = 0.0638.
    # LOS of the 10 discharges: 5 x6, 10, 12 x3 -> median of 5,5,5,5,5,5,10,12,12,12 = 5.0.
    # With a reason: A07-A10 = 4; completed A07-A09 -> 3 / 4 = 0.75.
    # Step-down: all 10 windows complete (Jun 30 is > 30 days after Mar 14); only A07 steps down
    # to OP within 30 days -> 1 / 10 = 0.1.
    # Billable attended person-days (everyone has a member id; one session a day): A01-A06 3
    # each = 18, A07-A09 6 each = 18, A10 2, A11-A12 2 each = 4 -> 42; billed: A01's 3 days
    # -> 3 / 42 = 0.0714.
    # Published: the counts of 1-10 above (admissions 10, discharges 10, with a reason 4,
    # completions 3, step-downs 1, step-down denominator 10) are masked by the cell-size rule,
    # and so are the statistics built on them (median LOS, completion and step-down rates).
    expected = (
        False,
        12,
        None,
        None,
        47,
        42,
        3,
        1,
        0.0638,
        None,
        None,
        None,
        None,
        None,
        42,
        0.0714,
        True,
        True,
    )
    # RIVERSIDE is the only IOP program, so the overall row equals it.
    assert march == [("All", *expected), ("RIVERSIDE", *expected)]

    # April RIVERSIDE OP: A07 and A08 attended -> 2 persons: suppressed, values null.
    april_op = query(
        data_dir,
        "select suppressed, census, admissions, no_show_rate "
        "from marts.program_quality_monthly_by_program "
        "where month = ? and program = 'RIVERSIDE' and level_of_care = 'OP'",
        [date(2025, 4, 1)],
    )
    assert april_op == [(True, None, None, None)]
    # The series runs from each program's first month (IOP: February) to June, gaps included.
    months = query(
        data_dir,
        "select month from marts.program_quality_monthly_by_program "
        "where program = 'RIVERSIDE' and level_of_care = 'IOP' order by month",
    )
    assert [m for (m,) in months] == [date(2025, m, 1) for m in (2, 3, 4, 5, 6)]

    # KPIs: the latest complete month is June (as-of Jun 30). IOP June has no activity: census 0.
    # OP June: one person (B-999) -> suppressed, so no op_* census. Step-down comes from the
    # latest month whose windows are complete (May: Jun 30 >= May 31 + 30); no IOP discharges
    # then, so no rate.
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        kpis = latest_kpis(con)
    finally:
        con.close()
    assert kpis["kpi_month"] == 202506 and kpis["step_down_kpi_month"] == 202505
    assert kpis["iop_census"] == 0 and kpis["iop_admissions"] == 0
    assert "op_census" not in kpis and "iop_step_down_30d_rate" not in kpis
    assert all(isinstance(v, int | float) for v in kpis.values())


def test_data_quality_pass_rate_on_a_fresh_run_is_the_latest_result_per_check(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000200", "IOP", b.days(MONDAY, 0, 2)),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000200", "MCD200")])
    b.write_csv(landing / "claims/c.csv", "claims_csv", [billed("K1", "MCD200", MONDAY, OWN_NPI)])

    def expected():
        # independently: the latest result of each staging/core check, passed / (passed + failed)
        [(checks, passed)] = query(
            data_dir,
            "with latest as (select table_name, check_name, status, row_number() over ("
            "partition by table_name, check_name order by checked_at desc) as n "
            "from audit.check_results where split_part(table_name, '.', 1) in ('staging', 'core'))"
            " select count(*) filter (where status <> 'not_applicable')"
            ", count(*) filter (where status = 'passed') from latest where n = 1",
        )
        return checks, round(passed / checks, 4)

    def reported():
        return query(
            data_dir,
            "select distinct data_quality_checks, data_quality_pass_rate "
            "from marts.program_quality_monthly_overall union "
            "select distinct data_quality_checks, data_quality_pass_rate "
            "from marts.program_quality_monthly_by_program",
        )

    # First run on an empty warehouse: audit.check_results did not exist before it; the staging
    # checks ran before the mart, so it has results and a rate.
    materialize()
    checks, rate = expected()
    assert checks > 0 and reported() == [(checks, rate)]
    # A second run appends a second result per check; the mart still counts each check once.
    materialize()
    total = query(
        data_dir,
        "select count(*) from audit.check_results "
        "where split_part(table_name, '.', 1) in ('staging', 'core') "
        "and status <> 'not_applicable'",
    )[0][0]
    assert total >= 2 * checks
    assert reported() == [expected()] == [(checks, rate)]
