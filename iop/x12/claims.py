"""837P/837I transaction set → canonical claim lines (the `claims_csv` layout), one per SV1/SV2.

Loops are recognised by the segments that open them, which is all this mapping needs:
HL*20 billing provider (2000A/2010AA), HL*22 subscriber (2000B/2010BA/2010BB), HL*23 patient,
CLM claim (2300), SBR inside a claim = other-payer COB loops (2320/2330, whose NM1*IL/NM1*PR/
REF*F8 are *not* the claim's), NM1 inside a claim before any LX = claim providers (2310), LX
service line (2400, with its 2420 providers). See docs/x12.md for the full mapping table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from iop.layouts import LAYOUTS
from iop.x12.envelope import Segment, Transaction
from iop.x12.values import composite, date_range, iso_date, npi, procedure

CLAIM_COLUMNS: tuple[str, ...] = next(x for x in LAYOUTS if x.name == "claims_csv").columns
PRINCIPAL_DX = ("ABK", "BK")  # ICD-10-CM, ICD-9-CM principal diagnosis
OTHER_DX = ("ABF", "BF")
SERVICE_LINES = {"SV1": "professional", "SV2": "institutional"}
VERSION_KINDS = {"X222": "P", "X098": "P", "X223": "I", "X096": "I", "X224": "D", "X097": "D"}


@dataclass
class _Claim:
    header: dict[str, str]
    facility: str = ""  # CLM05-1: place of service (837P) or facility type code (837I)
    loop: str = "2300"  # 2300 → 2310 (claim providers) / 2320 (COB) → 2400 (lines)
    diagnoses: list[str] = field(default_factory=list)
    principal: list[str] = field(default_factory=list)
    statement: tuple[str, str] = ("", "")  # DTP*434
    claim_service: tuple[str, str] = ("", "")  # DTP*472 at claim level
    lines: list[dict[str, str]] = field(default_factory=list)
    line_dates: list[tuple[str, str]] = field(default_factory=list)


def map_837(
    tx: Transaction, where: Callable[[Segment], str], problems: list[str], warnings: list[str]
) -> tuple[str, list[dict[str, str]]]:
    """(label '837P'/'837I'/..., claim lines) of one 837 transaction set."""
    sep = tx.component_separator
    received = billing_npi = member_id = payer = level = ""
    claim: _Claim | None = None
    out: list[dict[str, str]] = []
    kinds: set[str] = set()

    def close() -> None:
        nonlocal claim
        if claim is not None:
            out.extend(_finish(claim, warnings))
        claim = None

    for seg in tx.segments:
        sid = seg.id
        if sid == "BHT":
            received = iso_date(seg.get(4), "BHT04", warnings)
        elif sid == "HL":
            close()
            level = seg.get(3)
            if level == "20":
                billing_npi = ""
            elif level == "22":
                member_id = payer = ""
        elif sid == "NM1":
            entity = seg.get(1)
            if claim is None:
                if entity == "85" and level == "20":
                    billing_npi = npi(seg)
                elif entity == "IL" and level == "22":
                    member_id = seg.get(9)
                elif entity == "PR" and level == "22":
                    payer = seg.get(3)
            elif claim.loop == "2400":
                if entity == "82" and claim.lines:
                    claim.lines[-1]["rendering_npi"] = npi(seg) or claim.lines[-1]["rendering_npi"]
            elif claim.loop in ("2300", "2310"):
                claim.loop = "2310"
                if entity == "82":
                    claim.header["rendering_npi"] = npi(seg)
        elif sid == "CLM":
            close()
            claim = _open_claim(seg, sep, member_id, payer, billing_npi, received)
        elif claim is None:
            if sid in SERVICE_LINES:
                problems.append(f"{where(seg)}: {sid} service line outside a claim (no CLM)")
        elif sid == "SBR":
            claim.loop = "2320"
        elif sid == "REF" and claim.loop == "2300" and seg.get(1) == "F8":
            claim.header["original_claim_id"] = seg.get(2)
        elif sid == "HI" and claim.loop == "2300":
            _diagnoses(seg, sep, claim)
        elif sid == "DTP":
            _dates(seg, claim, warnings)
        elif sid == "LX":
            claim.loop = "2400"
        elif sid in SERVICE_LINES:
            claim.loop = "2400"
            kinds.add(sid)
            claim.lines.append(_line(seg, sep, claim))
            claim.line_dates.append(("", ""))
        elif sid == "SV3":
            kinds.add(sid)
    close()
    return _label(tx, kinds, warnings), out


def _open_claim(
    seg: Segment, sep: str, member_id: str, payer: str, billing: str, received: str
) -> _Claim:
    facility, _, frequency = (composite(seg.get(5), sep) + ["", "", ""])[:3]
    header = dict.fromkeys(CLAIM_COLUMNS, "")
    header.update(
        claim_id=seg.get(1),
        claim_frequency_code=frequency,
        member_id=member_id,
        payer=payer,
        billing_npi=billing,
        received_date=received,
    )
    return _Claim(header, facility)


def _diagnoses(seg: Segment, sep: str, claim: _Claim) -> None:
    for value in seg.elements[1:]:
        qualifier, code = (composite(value, sep) + ["", ""])[:2]
        if not code:
            continue
        if qualifier in PRINCIPAL_DX and code not in claim.principal:
            claim.principal.append(code)
        elif qualifier in OTHER_DX and code not in claim.diagnoses:
            claim.diagnoses.append(code)


def _dates(seg: Segment, claim: _Claim, warnings: list[str]) -> None:
    qualifier = seg.get(1)
    what = f"claim {claim.header['claim_id']!r} DTP*{qualifier}"
    if claim.loop == "2400" and qualifier == "472" and claim.lines:
        claim.line_dates[-1] = date_range(seg, what, warnings)
    elif claim.loop == "2300" and qualifier == "434":
        claim.statement = date_range(seg, what, warnings)
    elif claim.loop == "2300" and qualifier == "472":
        claim.claim_service = date_range(seg, what, warnings)


def _line(seg: Segment, sep: str, claim: _Claim) -> dict[str, str]:
    line = dict(claim.header)
    line["line_number"] = str(len(claim.lines) + 1)
    line["claim_type"] = SERVICE_LINES[seg.id]
    if seg.id == "SV1":
        _, code, modifiers = procedure(seg.get(1), sep)
        line.update(
            procedure_code=code,
            modifiers=modifiers,
            charge_amount=seg.get(2),
            units=seg.get(4),
            place_of_service=seg.get(5) or claim.facility,
        )
    else:
        _, code, modifiers = procedure(seg.get(2), sep)
        frequency = claim.header["claim_frequency_code"]
        line.update(
            revenue_code=seg.get(1),
            procedure_code=code,
            modifiers=modifiers,
            charge_amount=seg.get(3),
            units=seg.get(5),
            bill_type=f"0{claim.facility}{frequency}" if claim.facility else "",
        )
    return line


def _finish(claim: _Claim, warnings: list[str]) -> list[dict[str, str]]:
    codes = "|".join(claim.principal + [c for c in claim.diagnoses if c not in claim.principal])
    fallback = claim.statement if claim.statement[0] else claim.claim_service
    for line, dates in zip(claim.lines, claim.line_dates, strict=True):
        line["diagnosis_codes"] = codes
        line["rendering_npi"] = line["rendering_npi"] or claim.header["rendering_npi"]
        line["service_from_date"], line["service_to_date"] = dates if dates[0] else fallback
        if not line["service_from_date"]:
            warnings.append(
                f"claim {line['claim_id']!r} line {line['line_number']}: "
                "no DTP*472/434 service date"
            )
    if not claim.lines:
        warnings.append(f"claim {claim.header['claim_id']!r} has no service lines (SV1/SV2)")
    return claim.lines


def _label(tx: Transaction, kinds: set[str], warnings: list[str]) -> str:
    """837P/837I/837D from the service-line segments, else from the implementation guide id."""
    by_version = next((k for v, k in VERSION_KINDS.items() if v in tx.version.upper()), "")
    by_content = "".join(sorted({"SV1": "P", "SV2": "I", "SV3": "D"}[k] for k in kinds))
    if len(by_content) > 1:
        warnings.append(f"transaction set {tx.control_number} mixes SV1/SV2/SV3 service lines")
        by_content = ""
    if by_content and by_version and by_content != by_version:
        warnings.append(
            f"transaction set {tx.control_number}: version {tx.version!r} says 837{by_version} "
            f"but its service lines are 837{by_content}; mapped as 837{by_content}"
        )
    if "SV3" in kinds:
        warnings.append(f"transaction set {tx.control_number}: dental SV3 lines are not mapped")
    return "837" + (by_content or by_version)
