"""Element-level conversions shared by the 837 and 835 mappings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from iop.x12.envelope import Segment


def iso_date(value: str, what: str, warnings: list[str]) -> str:
    """CCYYMMDD → YYYY-MM-DD; anything else is passed through unchanged, with a warning, so the
    staging rule `invalid_date` quarantines the row with the original text as evidence."""
    if not value:
        return ""
    if len(value) == 8 and value.isdigit():
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
        except ValueError:
            pass
    warnings.append(f"{what}: {value!r} is not a CCYYMMDD date")
    return value


def date_range(seg: Segment, what: str, warnings: list[str]) -> tuple[str, str]:
    """(from, to) of a DTP (qualifier in DTP02, value DTP03) or DTM (DTM02 date) segment."""
    if seg.id == "DTM":
        day = iso_date(seg.get(2), what, warnings)
        return day, day
    qualifier, value = seg.get(2), seg.get(3)
    if qualifier == "D8":
        day = iso_date(value, what, warnings)
        return day, day
    if qualifier == "RD8" and value.count("-") == 1:
        first, last = value.split("-")
        return iso_date(first, what, warnings), iso_date(last, what, warnings)
    if qualifier == "DT" and len(value) >= 8:  # CCYYMMDDHHMM
        day = iso_date(value[:8], what, warnings)
        return day, day
    warnings.append(f"{what}: date format qualifier {qualifier!r} ({value!r}) is not D8/RD8")
    return value, value


def composite(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator)]


def procedure(value: str, separator: str) -> tuple[str, str, str]:
    """(qualifier, code, '|'-joined modifiers) of a procedure composite like HC:H0015:HF:99."""
    parts = composite(value, separator) + ["", ""]
    modifiers = "|".join(m for m in parts[2:6] if m)
    return parts[0], parts[1], modifiers


def npi(seg: Segment) -> str:
    """NM109 when NM108 says it is an NPI (XX); other identifiers (EIN, legacy ids) are not."""
    return seg.get(9) if seg.get(8) == "XX" else ""


def amount(value: str, what: str, warnings: list[str]) -> Decimal | None:
    try:
        return Decimal(value)
    except InvalidOperation:
        warnings.append(f"{what}: amount {value!r} is not a number")
        return None
