"""835 transaction set → remittance lines, one per SVC (loop 2110) with its claim's CLP (2100)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from iop.layouts import LAYOUTS
from iop.x12.envelope import Segment, Transaction
from iop.x12.values import amount, date_range, iso_date, procedure

REMITTANCE_COLUMNS: tuple[str, ...] = (
    "claim_id",  # CLP01: the provider's claim id (837 CLM01)
    "claim_status",  # CLP02: 1 primary, 2 secondary, 4 denied, 22 reversal, ...
    "payer_claim_control_number",  # CLP07
    "line_number",  # 1..n within the CLP
    "member_id",  # NM1*IL NM109, else NM1*QC NM109
    "payer",  # N1*PR N102
    "procedure_code",  # SVC01-2 (unless the qualifier is NU: a revenue code)
    "modifiers",  # SVC01-3..6, '|'-separated
    "revenue_code",  # SVC04, or SVC01-2 when SVC01-1 is NU
    "units",  # SVC05, default 1
    "charge_amount",  # SVC02
    "paid_amount",  # SVC03
    "adjustment_amount",  # sum of the line's CAS amounts
    "adjustment_codes",  # CAS group-reason pairs, e.g. CO-45|PR-2
    "service_date",  # line DTM*472, else line DTM*150, else claim DTM*232
    "line_control_number",  # REF*6R: the 837 line item control number
    "payment_date",  # BPR16
)
# REMITTANCE_LAYOUT_CHECK: the raw layout the ingest writes these lines under.
assert next(x for x in LAYOUTS if x.name == "remittance_835").columns == REMITTANCE_COLUMNS
CAS_TRIPLETS = range(2, 20, 3)  # CAS02/03/04, CAS05/06/07, ... CAS17/18/19


def map_835(
    tx: Transaction, where: Callable[[Segment], str], problems: list[str], warnings: list[str]
) -> list[dict[str, str]]:
    """Remittance lines of one 835 transaction set (columns REMITTANCE_COLUMNS)."""
    sep = tx.component_separator
    payment_date = payer = claim_date = ""
    clp: Segment | None = None
    member_ids: dict[str, str] = {}
    lines: list[dict[str, str]] = []
    adjustments: list[Decimal] = []  # CAS total per line of the current claim
    out: list[dict[str, str]] = []

    def close() -> None:
        nonlocal clp
        if clp is not None and not lines:
            warnings.append(
                f"claim {clp.get(1)!r} (CLP) has no SVC service lines: its claim-level "
                f"payment ({clp.get(4) or 'blank'}) is not in remittance_lines"
            )
        for line, total in zip(lines, adjustments, strict=True):
            line["member_id"] = member_ids.get("IL") or member_ids.get("QC", "")
            line["service_date"] = line["service_date"] or claim_date
            line["adjustment_amount"] = f"{total:.2f}"
        out.extend(lines)
        clp = None
        lines.clear()
        adjustments.clear()

    for seg in tx.segments:
        sid = seg.id
        if sid == "BPR":
            payment_date = iso_date(seg.get(16), "BPR16", warnings)
            if not payment_date:
                warnings.append(f"transaction set {tx.control_number}: BPR16 payment date is blank")
        elif sid == "N1" and seg.get(1) == "PR" and not payer:
            payer = seg.get(2)
        elif sid == "CLP":
            close()
            clp, claim_date = seg, ""
            member_ids.clear()
        elif sid in ("LX", "PLB", "SE"):
            close()
        elif sid == "SVC":
            if clp is None:
                problems.append(f"{where(seg)}: SVC service line outside a claim (no CLP)")
                continue
            lines.append(_line(seg, sep, clp, len(lines) + 1, payer, payment_date))
            adjustments.append(Decimal(0))
        elif clp is None:
            continue
        elif sid == "NM1" and not lines and seg.get(1) in ("IL", "QC"):
            member_ids[seg.get(1)] = seg.get(9)
        elif sid == "DTM":
            qualifier = seg.get(1)
            what = f"claim {clp.get(1)!r} DTM*{qualifier}"
            if not lines and qualifier == "232":
                claim_date = date_range(seg, what, warnings)[0]
            elif lines and (
                qualifier == "472" or qualifier == "150" and not lines[-1]["service_date"]
            ):
                lines[-1]["service_date"] = date_range(seg, what, warnings)[0]
        elif sid == "CAS" and lines:
            adjustments[-1] += _cas(seg, lines[-1], warnings)
        elif sid == "REF" and lines and seg.get(1) == "6R":
            lines[-1]["line_control_number"] = seg.get(2)
    close()
    return out


def _line(
    seg: Segment, sep: str, clp: Segment, number: int, payer: str, payment_date: str
) -> dict[str, str]:
    qualifier, code, modifiers = procedure(seg.get(1), sep)
    revenue = seg.get(4) or (code if qualifier == "NU" else "")
    line = dict.fromkeys(REMITTANCE_COLUMNS, "")
    line.update(
        claim_id=clp.get(1),
        claim_status=clp.get(2),
        payer_claim_control_number=clp.get(7),
        line_number=str(number),
        payer=payer,
        procedure_code="" if qualifier == "NU" else code,
        modifiers=modifiers,
        revenue_code=revenue,
        units=seg.get(5) or "1",
        charge_amount=seg.get(2),
        paid_amount=seg.get(3),
        adjustment_amount="0.00",
        payment_date=payment_date,
    )
    return line


def _cas(seg: Segment, line: dict[str, str], warnings: list[str]) -> Decimal:
    """Add the CAS group-reason codes to the line; return the sum of the CAS amounts."""
    group = seg.get(1)
    codes = [line["adjustment_codes"]] if line["adjustment_codes"] else []
    total = Decimal(0)
    for i in CAS_TRIPLETS:
        reason = seg.get(i)
        if not reason:
            continue
        codes.append(f"{group}-{reason}")
        value = amount(seg.get(i + 1), f"claim {line['claim_id']!r} CAS*{group}*{reason}", warnings)
        total += value or 0
    line["adjustment_codes"] = "|".join(codes)
    return total
