"""X12 5010 files for part of the claims: 837P, 837I and the payer's 835 remittances.

The claims of `X12_PAYERS` (Medicare) are written as X12 instead of CSV, the way a provider and a
payer exchange them (docs/x12.md):

* 837P (SV1 lines) and 837I (SV2 lines), one file per payer, kind and month the versions were
  sent; one transaction set per send date (BHT04 = the version's received date).
* Versions the real way: a replacement (CLM05-3 = 7) or void (8) is sent under the SAME CLM01 as
  the claim it corrects, with REF*F8 carrying the payer's claim control number (ICN) of the
  version it replaces - a number the 837s never contain, only the 835.
* 835s, one file per payer and month of adjudication, one transaction set per payment date
  (BPR16): a CLP per adjudicated version (CLP01 = CLM01, CLP07 = its ICN) with one SVC per line;
  when a replacement or void is adjudicated, the version it corrects is reversed (CLP02 22,
  negative amounts, CLP07 = that version's ICN), as payers report adjustments.

Files dated after the hold-back cutoff are daily files under holdback/claims/. The renderers
(`interchange`, `transaction_837`, `transaction_835`) are pure and also used by the tests to hand-
build files.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iop.generator.claim_chains import ClaimSet
from iop.generator.claims import (
    BILL_TYPES,
    MODIFIERS,
    POS,
    PROCS,
    PROFESSIONAL,
    REVENUE,
    Npis,
)
from iop.generator.common import MEDICARE, PAYERS, from_day
from iop.generator.population import Persons

X12_PAYERS = (MEDICARE,)  # payers whose claims the demo world exchanges as X12
PAYER_IDS = {MEDICARE: "MCRA1"}  # NM1*PR NM109 / ISA08 of the payer
SUBMITTER = "IOPBILLING"
VERSIONS = {"P": "005010X222A1", "I": "005010X223A2", "835": "005010X221A1"}
EL, COMP, TERM = "*", ":", "~"


@dataclass
class X12Line:
    procedure: str  # HCPCS/CPT, '' for a revenue-code-only institutional line
    charge: str  # dollars, e.g. '123.45'
    units: str
    from_date: dt.date
    to_date: dt.date
    modifiers: list[str] = field(default_factory=list)
    revenue: str = ""  # 837I SV201
    place_of_service: str = ""  # 837P SV105
    rendering_npi: str = ""
    paid: str = "0.00"  # 835 only


@dataclass
class X12Claim:
    claim_id: str  # CLM01
    member_id: str
    billing_npi: str
    lines: list[X12Line]
    frequency: str = "1"  # CLM05-3
    original: str = ""  # REF*F8: the payer's claim control number of the version corrected
    facility: str = "11"  # CLM05-1: place of service (837P) or facility type code (837I)
    diagnoses: list[str] = field(default_factory=list)  # principal first, no decimal point
    icn: str = ""  # 835 CLP07
    status: str = "1"  # 835 CLP02: 1 processed as primary, 22 reversal


def _segment(*elements: str) -> str:
    return EL.join(elements).rstrip(EL) + TERM


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _dates(qualifier: str, start: dt.date, end: dt.date) -> str:
    if start == end:
        return _segment("DTP", qualifier, "D8", _d8(start))
    return _segment("DTP", qualifier, "RD8", f"{_d8(start)}-{_d8(end)}")


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _sum(values: list[str]) -> str:
    return _money(sum(round(float(v) * 100) for v in values))


def interchange(
    transactions: list[list[str]],
    *,
    functional: str,
    version: str,
    sender: str,
    receiver: str,
    sent: dt.datetime,
    control: int,
) -> str:
    """ISA/GS ... GE/IEA around transaction sets (each a list of segments ST..SE)."""
    isa = EL.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            sender.ljust(15)[:15],
            "ZZ",
            receiver.ljust(15)[:15],
            sent.strftime("%y%m%d"),
            sent.strftime("%H%M"),
            "^",
            "00501",
            f"{control:09d}",
            "0",
            "P",
            COMP,
        ]
    )
    out = [isa + TERM]
    out.append(
        _segment(
            "GS",
            functional,
            sender,
            receiver,
            sent.strftime("%Y%m%d"),
            sent.strftime("%H%M"),
            str(control),
            "X",
            version,
        )
    )
    for tx in transactions:
        out.extend(tx)
    out.append(_segment("GE", str(len(transactions)), str(control)))
    out.append(_segment("IEA", "1", f"{control:09d}"))
    return "\n".join(out) + "\n"


def transaction_837(
    kind: str, claims: list[X12Claim], *, payer: str, payer_id: str, sent: dt.date, number: int
) -> list[str]:
    """One 837P (kind 'P', SV1 lines) or 837I ('I', SV2 lines) transaction set, ST..SE."""
    st = f"{number:04d}"
    seg = [
        _segment("ST", "837", st, VERSIONS[kind]),
        _segment("BHT", "0019", "00", f"B{number:07d}", _d8(sent), "0800", "CH"),
        _segment("NM1", "41", "2", "IOP BILLING OFFICE", "", "", "", "", "46", SUBMITTER),
        _segment("PER", "IC", "BILLING OFFICE", "TE", "5555550100"),
        _segment("NM1", "40", "2", payer, "", "", "", "", "46", payer_id),
    ]
    hl = 0
    by_billing: dict[str, list[X12Claim]] = defaultdict(list)
    for claim in claims:
        by_billing[claim.billing_npi].append(claim)
    for billing, group in by_billing.items():
        hl += 1
        parent = hl
        seg += [
            _segment("HL", str(parent), "", "20", "1"),
            _segment("NM1", "85", "2", "IOP PROVIDER", "", "", "", "", "XX", billing),
            _segment("N3", "100 MAIN ST"),
            _segment("N4", "SPRINGFIELD", "IL", "627010000"),
            _segment("REF", "EI", "123456789"),
        ]
        for claim in group:
            hl += 1
            seg += [
                _segment("HL", str(hl), str(parent), "22", "0"),
                _segment("SBR", "P", "18", "", "", "", "", "", "", "MB"),
                _segment("NM1", "IL", "1", "MEMBER", "", "", "", "", "MI", claim.member_id),
                _segment("NM1", "PR", "2", payer, "", "", "", "", "PI", payer_id),
            ]
            seg += _claim_837(kind, claim)
    seg.append(_segment("SE", str(len(seg) + 1), st))
    return seg


def _claim_837(kind: str, claim: X12Claim) -> list[str]:
    total = _sum([line.charge for line in claim.lines])
    where = COMP.join([claim.facility, "B" if kind == "P" else "A", claim.frequency])
    signature = "Y" if kind == "P" else ""  # CLM06 (provider signature) is 837P only
    seg = [_segment("CLM", claim.claim_id, total, "", "", where, signature, "A", "Y", "Y")]
    if kind == "I":
        start = min(line.from_date for line in claim.lines)
        end = max(line.to_date for line in claim.lines)
        seg.append(_segment("DTP", "434", "RD8", f"{_d8(start)}-{_d8(end)}"))
    if claim.original:
        seg.append(_segment("REF", "F8", claim.original))
    if claim.diagnoses:
        qualifiers = ["ABK"] + ["ABF"] * (len(claim.diagnoses) - 1)
        seg.append(
            _segment(
                "HI", *(f"{q}{COMP}{c}" for q, c in zip(qualifiers, claim.diagnoses, strict=True))
            )
        )
    for number, line in enumerate(claim.lines, start=1):
        seg.append(_segment("LX", str(number)))
        code = COMP.join(["HC", line.procedure, *line.modifiers]) if line.procedure else ""
        if kind == "P":
            seg.append(
                _segment("SV1", code, line.charge, "UN", line.units, line.place_of_service, "", "1")
            )
        else:
            seg.append(_segment("SV2", line.revenue, code, line.charge, "UN", line.units))
        seg.append(_dates("472", line.from_date, line.to_date))
        if line.rendering_npi:
            seg.append(
                _segment("NM1", "82", "1", "CLINICIAN", "", "", "", "", "XX", line.rendering_npi)
            )
    return seg


def transaction_835(
    claims: list[X12Claim], *, payer: str, payee_npi: str, paid: dt.date, number: int
) -> list[str]:
    """One 835 transaction set (ST..SE): a CLP per claim (CLP07 = its ICN), an SVC per line."""
    st = f"{number:04d}"
    total = _sum([line.paid for claim in claims for line in claim.lines])
    seg = [
        _segment("ST", "835", st, VERSIONS["835"]),
        _segment(
            "BPR",
            "I",
            total,
            "C",
            "ACH",
            "CCP",
            "01",
            "999999999",
            "DA",
            "123456",
            "1512345678",
            "",
            "01",
            "999988880",
            "DA",
            "98765",
            _d8(paid),
        ),
        _segment("TRN", "1", f"P{number:09d}", "1512345678"),
        _segment("DTM", "405", _d8(paid)),
        _segment("N1", "PR", payer),
        _segment("N3", "PO BOX 1"),
        _segment("N4", "CAPITAL CITY", "IL", "627010000"),
        _segment("N1", "PE", "IOP PROVIDER", "XX", payee_npi),
        _segment("LX", "1"),
    ]
    for claim in claims:
        charge = _sum([line.charge for line in claim.lines])
        seg += [
            _segment(
                "CLP",
                claim.claim_id,
                claim.status,
                charge,
                _sum([line.paid for line in claim.lines]),
                "",
                "MB",
                claim.icn,
                claim.facility,
                claim.frequency,
            ),
            _segment("NM1", "QC", "1", "MEMBER", "", "", "", "", "MI", claim.member_id),
        ]
        for line in claim.lines:
            code = COMP.join(["HC", line.procedure, *line.modifiers])
            if not line.procedure:
                code = COMP.join(["NU", line.revenue])
            seg.append(_segment("SVC", code, line.charge, line.paid, "", line.units))
            if line.from_date == line.to_date:
                seg.append(_segment("DTM", "472", _d8(line.from_date)))
            else:
                seg.append(_segment("DTM", "150", _d8(line.from_date)))
                seg.append(_segment("DTM", "151", _d8(line.to_date)))
            adjusted = round(float(line.charge) * 100) - round(float(line.paid) * 100)
            if adjusted:
                seg.append(_segment("CAS", "CO", "45", _money(adjusted)))
    seg.append(_segment("SE", str(len(seg) + 1), st))
    return seg


# ---------------------------------------------------------------------------------------------
# The generated world's X12 files


def x12_versions(cset: ClaimSet, persons: Persons) -> np.ndarray:
    """Per claim version: whether it is written as X12 (its payer is one of X12_PAYERS)."""
    payer = np.full(cset.claim_no.size, -1, dtype=np.int64)
    payer[cset.lines.version] = persons.payer[cset.lines.person]
    return np.isin(payer, X12_PAYERS)


def _chain_roots(cset: ClaimSet) -> tuple[np.ndarray, np.ndarray]:
    """(parent version or -1, root version) per version, through original_claim_id."""
    order = np.argsort(cset.claim_no)
    parent = np.full(cset.claim_no.size, -1, dtype=np.int64)
    has = cset.orig_no >= 0
    parent[has] = order[np.searchsorted(cset.claim_no[order], cset.orig_no[has])]
    root = np.where(parent >= 0, parent, np.arange(parent.size))
    for _ in range(10):
        nxt = np.where(parent[root] >= 0, parent[root], root)
        if np.array_equal(nxt, root):
            break
        root = nxt
    return parent, root


def icn(version: int, received: int) -> str:
    """A 13-digit payer claim control number: received date as YYDDD, then the version."""
    day = from_day(received)
    return f"{day.year % 100:02d}{day.timetuple().tm_yday:03d}{version:08d}"


def written_claim_ids(cset: ClaimSet, x12: np.ndarray) -> np.ndarray:
    """Per version, the claim number its files carry: an X12 correction keeps its root's CLM01."""
    _, root = _chain_roots(cset)
    return np.where(x12, cset.claim_no[root], cset.claim_no)


def write_x12_claims(
    cset: ClaimSet,
    persons: Persons,
    x12: np.ndarray,
    *,
    npis: Npis,
    member_ids: list[str],
    dx_vocab: list[str],
    cutoff: int,
    landing: Path,
    holdback: Path,
) -> dict:
    """Write the 837P/837I/835 files of the X12 versions; counts and file names for the manifest."""
    parent, _ = _chain_roots(cset)
    clm01 = written_claim_ids(cset, x12)
    lines = cset.lines
    v_payer = np.full(cset.claim_no.size, -1, dtype=np.int64)
    v_payer[lines.version] = persons.payer[lines.person]
    rows = np.flatnonzero(x12[lines.version])
    rows = rows[np.lexsort((lines.line_no[rows], lines.version[rows]))]
    claims: dict[int, X12Claim] = {}
    kinds: dict[int, str] = {}
    rows_of: dict[int, list[int]] = defaultdict(list)
    for r in rows.tolist():
        v = int(lines.version[r])
        rows_of[v].append(r)
        if v not in claims:
            person = int(lines.person[r])
            bill = BILL_TYPES[lines.bill[r]]
            kinds[v] = "P" if lines.ctype[r] == PROFESSIONAL else "I"
            claims[v] = X12Claim(
                claim_id=f"CLM{clm01[v]:09d}",
                member_id=member_ids[person],
                billing_npi=npis.numbers[lines.billing[r]],
                lines=[],
                frequency=str(int(cset.freq[v])),
                original=icn(int(parent[v]), int(cset.received[parent[v]]))
                if parent[v] >= 0
                else "",
                facility=(POS[lines.pos[r]] or "11") if kinds[v] == "P" else (bill[1:3] or "13"),
                diagnoses=[c.replace(".", "") for c in dx_vocab[lines.dx[r]].split("|") if c],
                icn=icn(v, int(cset.received[v])),
            )
        if ("P" if lines.ctype[r] == PROFESSIONAL else "I") != kinds[v]:
            raise ValueError(f"claim version {v} mixes professional and institutional lines")
        rendering = int(lines.rendering[r])
        claims[v].lines.append(
            X12Line(
                procedure=PROCS[lines.proc[r]],
                charge=_money(int(lines.charge[r])),
                units=str(int(lines.units[r])),
                from_date=from_day(int(lines.from_day[r])),
                to_date=from_day(int(lines.to_day[r])),
                modifiers=[m for m in MODIFIERS[lines.mods[r]].split("|") if m],
                revenue=REVENUE[lines.rev[r]],
                place_of_service=POS[lines.pos[r]],
                rendering_npi=npis.numbers[rendering] if rendering >= 0 else "",
                paid=_money(int(lines.paid[r])),
            )
        )
    result = {"files": 0, "files_holdback": 0, "rows": 0, "rows_holdback": 0, "holdback_files": []}
    # every SVC written to an 835 (landing or holdback): the claim line it renders and its sign
    svc_rows: list[int] = []
    svc_signs: list[int] = []
    control = 0

    def file_for(prefix: str, day: int, suffix: str) -> tuple[Path, bool]:
        held = day > cutoff
        date = from_day(day)
        stamp = date.strftime("%Y%m%d") if held else date.strftime("%Y%m")
        name = f"{prefix}_{stamp}.{suffix}"
        return (holdback if held else landing) / "claims" / name, held

    # 837s: per payer, kind and month sent (daily after the cutoff); a transaction set per day
    sent: dict[tuple[Path, bool, str, int], dict[int, list[X12Claim]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for v, claim in claims.items():
        payer = int(v_payer[v])
        prefix = f"claims_{PAYERS[payer].lower()}"
        path, held = file_for(prefix, int(cset.received[v]), "837" + kinds[v].lower())
        sent[(path, held, kinds[v], payer)][int(cset.received[v])].append(claim)
    for (path, held, kind, payer), by_day in sorted(sent.items(), key=lambda x: str(x[0][0])):
        control += 1
        txs = [
            transaction_837(
                kind,
                by_day[day],
                payer=PAYERS[payer],
                payer_id=PAYER_IDS[payer],
                sent=from_day(day),
                number=i,
            )
            for i, day in enumerate(sorted(by_day), start=1)
        ]
        first = from_day(min(by_day))
        _write(
            path,
            interchange(
                txs,
                functional="HC",
                version=VERSIONS[kind],
                sender=SUBMITTER,
                receiver=PAYER_IDS[payer],
                sent=dt.datetime.combine(first, dt.time(8)),
                control=control,
            ),
        )
        n = sum(len(c.lines) for day in by_day.values() for c in day)
        _count(result, path, held, n, holdback)

    # 835s: per payer and month adjudicated; reversals of corrected versions beside the new CLP
    paid: dict[tuple[Path, bool, int], dict[int, list[X12Claim]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for v, claim in claims.items():
        payer = int(v_payer[v])
        day = int(cset.adjudicated[v])
        path, held = file_for(f"remittance_{PAYERS[payer].lower()}", day, "835")
        if parent[v] >= 0 and int(parent[v]) in claims:
            before = claims[int(parent[v])]
            paid[(path, held, payer)][day].append(
                X12Claim(
                    claim_id=before.claim_id,
                    member_id=before.member_id,
                    billing_npi=before.billing_npi,
                    facility=before.facility,
                    frequency=before.frequency,
                    icn=before.icn,
                    status="22",
                    lines=[
                        X12Line(
                            **{
                                **line.__dict__,
                                "charge": _neg(line.charge),
                                "paid": _neg(line.paid),
                            }
                        )
                        for line in before.lines
                    ],
                )
            )
            svc_rows.extend(rows_of[int(parent[v])])
            svc_signs.extend([-1] * len(rows_of[int(parent[v])]))
        if claim.frequency != "8":
            paid[(path, held, payer)][day].append(claim)
            svc_rows.extend(rows_of[v])
            svc_signs.extend([1] * len(rows_of[v]))
    for (path, held, payer), by_day in sorted(paid.items(), key=lambda x: str(x[0][0])):
        control += 1
        txs = [
            transaction_835(
                by_day[day],
                payer=PAYERS[payer],
                payee_npi=by_day[day][0].billing_npi,
                paid=from_day(day),
                number=i,
            )
            for i, day in enumerate(sorted(by_day), start=1)
        ]
        first = from_day(min(by_day))
        _write(
            path,
            interchange(
                txs,
                functional="HP",
                version=VERSIONS["835"],
                sender=PAYER_IDS[payer],
                receiver=SUBMITTER,
                sent=dt.datetime.combine(first, dt.time(6)),
                control=control,
            ),
        )
        n = sum(len(c.lines) for day in by_day.values() for c in day)
        _count(result, path, held, n, holdback, remittance=True)
    result["svc_line"] = np.array(svc_rows, dtype=np.int64)
    result["svc_sign"] = np.array(svc_signs, dtype=np.int64)
    return result


def _neg(amount: str) -> str:
    return _money(-round(float(amount) * 100))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def _count(result: dict, path: Path, held: bool, n: int, holdback: Path, remittance=False) -> None:
    key = "remittance_" if remittance else ""
    result[f"{key}files"] = result.get(f"{key}files", 0) + (0 if held else 1)
    result[f"{key}files_holdback"] = result.get(f"{key}files_holdback", 0) + (1 if held else 0)
    result[f"{key}rows"] = result.get(f"{key}rows", 0) + n
    result[f"{key}rows_holdback"] = result.get(f"{key}rows_holdback", 0) + (n if held else 0)
    if held:
        result["holdback_files"].append(path.relative_to(holdback).as_posix())
