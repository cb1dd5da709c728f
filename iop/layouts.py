"""Source layouts: how a landed file's header identifies which staging model reads it.

A layout is recognized by its normalized header (lower case, runs of non-alphanumerics → `_`).
Adding a vendor means adding a layout here, a staging model `sql/staging/<layout>.sql` and its
codes in `sql/seeds/source_code_map.csv` — nothing else changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    name: str
    feed: str
    columns: tuple[str, ...]

    def missing(self, header: list[str]) -> list[str]:
        present = set(header)
        return [c for c in self.columns if c not in present]


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "attendance_vendor_a",
        "attendance",
        (
            "mrn",
            "program",
            "level_of_care",
            "session_date",
            "start_time",
            "service_type",
            "minutes",
            "attendance",
            "clinician_id",
        ),
    ),
    Layout(
        "attendance_vendor_b",
        "attendance",
        (
            "client_id",
            "program_code",
            "asam_level",
            "service_date",
            "start_time",
            "service_code",
            "duration_min",
            "attendance_code",
            "staff_id",
        ),
    ),
    Layout(
        "census_vendor_a",
        "census",
        (
            "mrn",
            "program",
            "level_of_care",
            "admit_date",
            "discharge_date",
            "discharge_reason",
        ),
    ),
    Layout(
        "roster_standard",
        "roster",
        (
            "client_id",
            "first_name",
            "last_name",
            "member_id",
            "payer",
            "birth_date",
            "sex",
            "race",
            "ethnicity",
            "zip",
        ),
    ),
    Layout(
        "claims_csv",
        "claims",
        (
            "claim_id",
            "original_claim_id",
            "claim_frequency_code",
            "line_number",
            "claim_type",
            "member_id",
            "payer",
            "service_from_date",
            "service_to_date",
            "place_of_service",
            "bill_type",
            "revenue_code",
            "procedure_code",
            "modifiers",
            "units",
            "charge_amount",
            "allowed_amount",
            "paid_amount",
            "diagnosis_codes",
            "rendering_npi",
            "billing_npi",
            "received_date",
            "adjudicated_date",
        ),
    ),
    # 835 remittance lines, produced from X12 files by iop.x12 (each column documented there).
    Layout(
        "remittance_835",
        "claims",
        (
            "claim_id",
            "claim_status",
            "payer_claim_control_number",
            "line_number",
            "member_id",
            "payer",
            "procedure_code",
            "modifiers",
            "revenue_code",
            "units",
            "charge_amount",
            "paid_amount",
            "adjustment_amount",
            "adjustment_codes",
            "service_date",
            "line_control_number",
            "payment_date",
        ),
    ),
)


def normalize_column(name: str) -> str:
    """'Level of Care ' → 'level_of_care'; a BOM or stray quotes are dropped."""
    cleaned = name.replace("\ufeff", "").strip().strip('"').lower()
    return re.sub(r"[^0-9a-z]+", "_", cleaned).strip("_")


def layouts_for_feed(feed: str) -> list[Layout]:
    return [layout for layout in LAYOUTS if layout.feed == feed]


class UnrecognizedLayout(ValueError):
    pass


def detect_layout(feed: str, header: list[str]) -> Layout:
    """The feed's layout whose columns the header holds; else an error naming what is missing."""
    candidates = layouts_for_feed(feed)
    for layout in candidates:
        if not layout.missing(header):
            return layout
    closest = min(candidates, key=lambda layout: len(layout.missing(header)))
    raise UnrecognizedLayout(
        f"header matches no {feed} layout; closest is {closest.name}, "
        f"missing required column(s): {', '.join(closest.missing(header))}"
    )
