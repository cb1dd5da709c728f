"""Hand-built landing files in the contract layouts (docs/input_layouts.md), for edge-case tests."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from iop import layouts

# Each layout's header as its feed delivers it (sql/macros/layouts.sql).
HEADERS = {lay.name: list(lay.header) for lay in layouts.LAYOUTS}


def write_csv(path: Path, layout: str, rows: list[dict]) -> Path:
    header = HEADERS[layout]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return path


def us(d: date) -> str:
    """A date as vendor A writes it (MM/DD/YYYY)."""
    return d.strftime(layouts.layout("attendance_vendor_a").date_format)


def days(start: date, *offsets: int) -> list[date]:
    return [start + timedelta(days=o) for o in offsets]


def vendor_b_sessions(client: str, level: str, dates: list[date], status: str = "A") -> list[dict]:
    asam = {"PHP": "2.5", "IOP": "2.1", "OP": "1"}[level]
    return [
        {
            "client_id": client,
            "program_code": "HILLCREST",
            "asam_level": asam,
            "service_date": d.isoformat(),
            "start_time": "09:00",
            "service_code": "GRP",
            "duration_min": "180",
            "attendance_code": status,
            "staff_id": "S1",
        }
        for d in dates
    ]


def vendor_a_sessions(
    client: str, level: str, dates: list[date], status: str = "Present"
) -> list[dict]:
    return [
        {
            "MRN": client,
            "Program": "RIVERSIDE",
            "Level of Care": level,
            "Session Date": us(d),
            "Start Time": "09:00 AM",
            "Service Type": "Group Therapy",
            "Minutes": "180",
            "Attendance": status,
            "Clinician ID": "CL1",
        }
        for d in dates
    ]


def roster_row(client: str, member: str = "", payer: str = "Medicaid", **extra) -> dict:
    row = {
        "client_id": client,
        "first_name": "Test",
        "last_name": "Person",
        "member_id": member,
        "payer": payer,
        "birth_date": "1990-05-01",
        "sex": "F",
        "race": "White",
        "ethnicity": "Not Hispanic or Latino",
        "zip": "02139",
    }
    row.update(extra)
    return row


def claim_line(
    claim_id: str,
    member: str,
    start: date,
    end: date | None = None,
    *,
    procedure: str = "S9480",
    revenue: str = "",
    frequency: str = "1",
    original: str = "",
    line: int = 1,
    received: date | None = None,
    claim_type: str = "professional",
    payer: str = "Medicaid",
) -> dict:
    return {
        "claim_id": claim_id,
        "original_claim_id": original,
        "claim_frequency_code": frequency,
        "line_number": str(line),
        "claim_type": claim_type,
        "member_id": member,
        "payer": payer,
        "service_from_date": start.isoformat(),
        "service_to_date": (end or start).isoformat(),
        "place_of_service": "57",
        "bill_type": "",
        "revenue_code": revenue,
        "procedure_code": procedure,
        "modifiers": "",
        "units": "1",
        "charge_amount": "250.00",
        "allowed_amount": "200.00",
        "paid_amount": "180.00",
        "diagnosis_codes": "F33.1",
        "rendering_npi": "1234567893",
        "billing_npi": "1234567893",
        "received_date": (received or (end or start) + timedelta(days=10)).isoformat(),
        "adjudicated_date": "",
    }
