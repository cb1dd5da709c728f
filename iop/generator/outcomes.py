"""Cost, intensity and diagnosis: 835 remittances for part of the claims, and their truth.

Claim lines already carry charge/allowed/paid amounts and ICD-10-CM diagnoses, and attended
sessions their minutes. This module adds:

* 835 remittances (X12 005010X221A1) for about a quarter of the final professional claims that
  classify to a level of care: per line an SVC with a remitted paid amount that differs from the
  claim's (97% of allowed), or a denial (CLP02 4, paid 0) for one claim in ten. One file per payer
  and payment month, landing/claims/remit_<payer>_<YYYYMM>.835.
  Claims written as X12 (iop/generator/x12_writer.py) are never chosen: their payer's own 835s
  already remit them.
* truth/episode_costs.csv, truth/episode_weeks.csv and truth/episode_diagnoses.csv: per truth
  episode what a correct pipeline must find, computed here from the planted arrays only:
  - costs: the final claim lines of the episode's person and level whose first service day lies
    in the episode; paid = the remitted amount where the line was remitted, else the claim's.
    A line written as X12 carries no allowed or paid amount (an 837 has none): its allowed is
    unknown and its paid is the net of the x12_writer's 835 SVCs matching it (same CLM01 and
    procedure code, or revenue code for a revenue-code-only line, remitted with SVC01 qualifier
    NU; service date within the line's dates), unknown when none; an episode's amount is
    blank when any of its lines lacks it;
  - weeks: attended minutes per 7-day week counted from the episode's first day (EHR episodes);
  - diagnoses: the distinct codes (dots removed) of those lines, the first code of the earliest
    line, and co-occurring = an F1x code other than F17 (substance use) and another F code
    (mental health) in the same episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iop.generator.claim_chains import ClaimSet, final_lines
from iop.generator.claims import PROCS, PROFESSIONAL, REVENUE
from iop.generator.common import LEVELS, PAYERS, PRESENT, from_day
from iop.generator.truth import KEY_SHIFT, TruthEpisodes
from iop.generator.writers import cents_strings, int_strings, take, write_table

REMIT_CLAIM_SHARE = 0.25
DENIED_SHARE = 0.10
REMIT_PAID_PCT = 97
PAYMENT_LAG_DAYS = 20


@dataclass
class Remittances:
    line: np.ndarray  # index into cset.lines
    paid: np.ndarray  # cents
    denied: np.ndarray  # per line: its claim was denied


def plant_remittances(
    cset: ClaimSet, rng: np.random.Generator, cutoff: int, x12: np.ndarray
) -> Remittances:
    """Choose the remitted lines: whole final professional claims of classified lines, received
    by the cutoff, whose (procedure, day) pairs are unique within the claim (a remittance line
    matches its claim line by claim id, procedure code and service date), and not written as X12
    (`x12`, per version: those are remitted by their payer's 835s from the X12 writer)."""
    ln = cset.lines
    fin = final_lines(cset)
    fin = fin[(ln.ctype[fin] == PROFESSIONAL) & (ln.level[fin] >= 0)]
    fin = fin[cset.received[ln.version[fin]] <= cutoff]
    fin = fin[ln.from_day[fin] == ln.to_day[fin]]
    # one line per (claim version, procedure, day): claims repeating a pair are not remitted
    pair = (ln.version[fin].astype(np.int64) * 64 + ln.proc[fin]) * 100_000 + ln.from_day[fin]
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    versions = ln.version[fin]
    clash = np.zeros(cset.claim_no.size, bool)
    clash[versions[counts[inverse] > 1]] = True
    # classified lines of a claim only: a claim with any other line (noise) is not remitted
    all_fin = final_lines(cset)
    other = all_fin[(ln.level[all_fin] < 0) | (ln.ctype[all_fin] != PROFESSIONAL)]
    clash[ln.version[other]] = True
    draw = rng.random(cset.claim_no.size)
    chosen = ~clash & ~x12 & (draw < REMIT_CLAIM_SHARE)
    denied_claim = draw < REMIT_CLAIM_SHARE * DENIED_SHARE
    keep = fin[chosen[versions]]
    denied = denied_claim[ln.version[keep]]
    paid = np.where(denied, 0, ln.allowed[keep].astype(np.int64) * REMIT_PAID_PCT // 100)
    order = np.lexsort((ln.line_no[keep], ln.version[keep]))
    return Remittances(line=keep[order], paid=paid[order], denied=denied[order])


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_835_files(
    landing: Path, cset: ClaimSet, remits: Remittances, payer_of_person, member_ids
) -> int:
    """One 835 interchange per payer and payment month; returns the number of files.

    Segments are rendered column-wise (pyarrow string kernels): a remittance per line in Python
    would cost seconds per million lines."""
    ln = cset.lines
    line = remits.line
    version = ln.version[line].astype(np.int64)
    pay_day = cset.received[version].astype(np.int64) + PAYMENT_LAG_DAYS
    payer = payer_of_person[ln.person[line]].astype(np.int64)
    month = np.datetime64(0, "D") + pay_day.astype("timedelta64[D]")
    month_no = month.astype("datetime64[M]").astype(np.int64)
    # files in (payer, month) order; within a file, claims in version order, lines by number
    order = np.lexsort((ln.line_no[line], version, month_no, payer))
    line, version, pay_day = line[order], version[order], pay_day[order]
    payer, month_no = payer[order], month_no[order]
    paid, denied = remits.paid[order], remits.denied[order]

    def dates(days: np.ndarray) -> pa.Array:
        iso = np.datetime_as_string(np.datetime64(0, "D") + days.astype("timedelta64[D]"))
        return pc.replace_substring(pa.array(iso, pa.string()), "-", "")

    svc = pc.binary_join_element_wise(
        "SVC*HC:",
        take(PROCS, ln.proc[line]),
        "*",
        cents_strings(ln.charge[line]),
        "*",
        cents_strings(paid),
        "**",
        int_strings(ln.units[line]),
        "~\nDTM*472*",
        dates(ln.from_day[line].astype(np.int64)),
        "",
    ).to_numpy(zero_copy_only=False)

    claim_start = np.flatnonzero(np.r_[True, version[1:] != version[:-1]])
    claim_end = np.r_[claim_start[1:], version.size]
    c_version = version[claim_start]
    c_id = pc.binary_join_element_wise(
        "CLM", pc.utf8_lpad(int_strings(cset.claim_no[c_version]), 9, "0"), ""
    )
    c_charge = np.add.reduceat(ln.charge[line].astype(np.int64), claim_start) if line.size else []
    c_paid = np.add.reduceat(paid.astype(np.int64), claim_start) if line.size else []
    clp = pc.binary_join_element_wise(
        "CLP*",
        c_id,
        "*",
        pa.array(np.where(denied[claim_start], "4", "1")),
        "*",
        cents_strings(np.asarray(c_charge)),
        "*",
        cents_strings(np.asarray(c_paid)),
        "**12*R",
        c_id,
        "~\nNM1*QC*1*******MI*",
        take(list(member_ids), ln.person[line[claim_start]]),
        "",
    ).to_numpy(zero_copy_only=False)
    claims = [
        clp[i] + "~\n" + "~\n".join(svc[a:b])
        for i, (a, b) in enumerate(zip(claim_start, claim_end, strict=True))
    ]

    c_file = payer[claim_start] * 100_000 + month_no[claim_start]
    file_start = np.flatnonzero(np.r_[True, c_file[1:] != c_file[:-1]]) if c_file.size else []
    file_end = np.r_[file_start[1:], c_file.size] if c_file.size else []
    folder = landing / "claims"
    for number, (a, b) in enumerate(zip(file_start, file_end, strict=True), start=1):
        p = int(payer[claim_start[a]])
        m = str(np.datetime64(int(month_no[claim_start[a]]), "M")).replace("-", "")
        name = PAYERS[p]
        last = claim_end[b - 1]
        date = from_day(int(pay_day[claim_start[a] : last].max())).strftime("%Y%m%d")
        body = "~\n".join(claims[a:b])
        segments = (
            int(np.sum(claim_end[a:b] - claim_start[a:b])) * 2 + (b - a) * 2
        )  # SVC + DTM per line, CLP + NM1 per claim
        head = [
            f"ISA*00*          *00*          *ZZ*{'PAYER' + str(p):<15}*ZZ*{'IOPPROVIDER':<15}"
            f"*{date[2:]}*1200*^*00501*{number:09d}*0*T*:",
            f"GS*HP*PAYER{p}*IOPPROVIDER*{date}*1200*{number}*X*005010X221A1",
            "ST*835*0001*005010X221A1",
            f"BPR*I*{_money(int(paid[claim_start[a] : last].sum()))}*C*ACH*CCP*01*999999999*DA"
            f"*1234567*1512345678**01*999999999*DA*7654321*{date}",
            f"TRN*1*{m}{p}*1512345678",
            f"N1*PR*{name}",
            "N1*PE*IOP PROVIDER*XX*1234567893",
            "LX*1",
        ]
        tail = [f"SE*{len(head) - 2 + segments + 1}*0001", f"GE*1*{number}", f"IEA*1*{number:09d}"]
        text = "~\n".join(head) + "~\n" + body + "~\n" + "~\n".join(tail) + "~\n"
        (folder / f"remit_{name.lower()}_{m}.835").write_text(text)
    return len(file_start)


def _episode_of(t: TruthEpisodes, person, level, day) -> np.ndarray:
    """Index of the truth episode holding each (person, level, day), -1 when none."""
    big = np.int64(1) << 24
    key = (t.person.astype(np.int64) * KEY_SHIFT + t.level) * big + t.start
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    probe = (np.asarray(person, np.int64) * KEY_SHIFT + level) * big + day
    pos = np.searchsorted(sorted_key, probe, side="right") - 1
    ep = np.where(pos >= 0, order[np.maximum(pos, 0)], -1)
    ok = (
        (ep >= 0)
        & (t.person[ep] == person)
        & (t.level[ep] == level)
        & (np.asarray(day) <= t.end[ep])
    )
    return np.where(ok, ep, -1)


def _substance(code: str) -> bool:
    return code.startswith("F1") and not code.startswith("F17")


def write_outcome_truth(
    truth_dir: Path,
    t: TruthEpisodes,
    cset: ClaimSet,
    remits: Remittances,
    sessions,
    dx_names: list[str],
    pids: np.ndarray,
    iso,
    x12: np.ndarray,
    written: np.ndarray,
    x12_svc: tuple[np.ndarray, np.ndarray],
) -> dict[str, int]:
    """truth/episode_costs.csv, episode_weeks.csv and episode_diagnoses.csv.

    `x12`: per claim version, written as X12; `written`: per version, the claim number its files
    carry (x12_writer.written_claim_ids); `x12_svc`: (claim line, sign) of every SVC the X12
    writer put in an 835 (sign -1 for a reversal)."""
    ln = cset.lines
    n = t.person.size
    fin = final_lines(cset)
    fin = fin[ln.level[fin] >= 0]
    ep = _episode_of(t, ln.person[fin], ln.level[fin], ln.from_day[fin])
    fin, ep = fin[ep >= 0], ep[ep >= 0]
    remitted_paid = np.full(ln.claim.size, -1, np.int64)
    remitted_paid[remits.line] = remits.paid
    rem = remitted_paid[fin] >= 0
    paid = np.where(rem, remitted_paid[fin], ln.paid[fin]).astype(np.int64)
    # X12 lines: no amounts on the 837; paid = net of the matching 835 SVCs (unknown if none)
    is_x12 = x12[ln.version[fin]]
    x_rem, x_paid = _x12_remitted(cset, written, x12_svc, fin[is_x12])
    rem[is_x12] = x_rem
    paid[is_x12] = x_paid
    known_paid = ~is_x12 | rem
    lines = np.bincount(ep, minlength=n)
    allowed_sum = np.bincount(ep, weights=ln.allowed[fin], minlength=n).astype(np.int64)
    paid_sum = np.bincount(ep, weights=paid, minlength=n).astype(np.int64)
    remitted = np.bincount(ep, weights=rem, minlength=n).astype(np.int64)
    no_allowed = np.bincount(ep, weights=is_x12, minlength=n) > 0
    no_paid = np.bincount(ep, weights=~known_paid, minlength=n) > 0

    att = sessions.status == PRESENT
    s_ep = _episode_of(t, sessions.person[att], sessions.level[att], sessions.day[att])
    s_day, s_min = sessions.day[att][s_ep >= 0], sessions.minutes[att][s_ep >= 0]
    s_ep = s_ep[s_ep >= 0]
    minutes = np.bincount(s_ep, weights=s_min, minlength=n).astype(np.int64)

    levels = np.array(LEVELS, dtype=object)
    base = {
        "person_id": pids[t.person],
        "level_of_care": levels[t.level],
        "start_date": iso(t.start),
    }
    has_lines = lines > 0
    write_table(
        truth_dir / "episode_costs.csv",
        {
            **base,
            "claim_lines": lines,
            "remitted_lines": remitted,
            "allowed_amount": _blank_money(allowed_sum, has_lines & ~no_allowed),
            "paid_amount": _blank_money(paid_sum, has_lines & ~no_paid),
            "attended_minutes": np.where(t.ehr, minutes.astype(str), "").astype(object),
        },
    )

    # weeks of EHR episodes, counted from the first day; weeks without attendance are 0
    ehr = np.flatnonzero(t.ehr)
    n_weeks = (t.end[ehr] - t.start[ehr]) // 7 + 1
    owner = np.repeat(ehr, n_weeks)
    week = np.arange(owner.size) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    w_index = np.full(n, -1, np.int64)
    w_index[ehr] = np.cumsum(n_weeks) - n_weeks
    s_week = (s_day - t.start[s_ep]) // 7
    w_minutes = np.bincount(w_index[s_ep] + s_week, weights=s_min, minlength=owner.size)
    write_table(
        truth_dir / "episode_weeks.csv",
        {
            "person_id": pids[t.person[owner]],
            "level_of_care": levels[t.level[owner]],
            "start_date": iso(t.start[owner]),
            "week_number": week + 1,
            "minutes_attended": w_minutes.astype(np.int64),
        },
    )

    # diagnoses: distinct codes per episode, principal = first code of the earliest line
    names = np.array([d.replace(".", "") for d in dx_names], dtype=object)
    codes: list[set[str]] = [set() for _ in range(n)]
    principal = np.full(n, "", dtype=object)
    claim_no = written[ln.version[fin]]
    # an X12 claim carries the diagnoses of its first line (HI is a claim segment) on every line
    dx = ln.dx.copy()
    xl = np.flatnonzero(x12[ln.version])
    xl = xl[np.lexsort((ln.line_no[xl], ln.version[xl]))]
    head = xl[np.r_[True, ln.version[xl][1:] != ln.version[xl][:-1]]] if xl.size else xl
    first_dx = np.zeros(cset.claim_no.size, ln.dx.dtype)
    first_dx[ln.version[head]] = ln.dx[head]
    dx[xl] = first_dx[ln.version[xl]]
    dx = dx[fin]
    order = np.lexsort((ln.line_no[fin], claim_no, ln.from_day[fin], ep))
    first = order[np.r_[True, ep[order][1:] != ep[order][:-1]]] if order.size else order
    for e, d in zip(ep[first], dx[first], strict=True):
        principal[e] = next((c for c in str(names[d]).split("|") if c), "")
    # distinct (episode, diagnosis combination) pairs: one per episode in practice
    pairs = np.unique(ep.astype(np.int64) * len(names) + dx)
    for e, d in zip(pairs // len(names), pairs % len(names), strict=True):
        codes[int(e)].update(c for c in str(names[d]).split("|") if c)
    co = []
    for c in codes:
        sud = any(_substance(x) for x in c)
        mh = any(x.startswith("F") and not x.startswith("F1") for x in c)
        co.append("" if not (sud or mh) else ("true" if sud and mh else "false"))
    write_table(
        truth_dir / "episode_diagnoses.csv",
        {
            **base,
            "diagnosis_codes": np.array(["|".join(sorted(c)) for c in codes], dtype=object),
            "principal_diagnosis_code": principal,
            "co_occurring": np.array(co, dtype=object),
        },
    )
    return {
        "remittance_lines": int(remits.line.size),
        "episode_weeks": int(owner.size),
        "co_occurring_episodes": int(sum(x == "true" for x in co)),
    }


def _x12_remitted(
    cset: ClaimSet, written: np.ndarray, svc: tuple[np.ndarray, np.ndarray], lines: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per claim line in `lines`: whether an X12 835 SVC matches it, and their net paid (cents).

    Matching as core.claim_lines does: CLP01 (the CLM01 as written) equals the line's claim id,
    same code (the procedure code; for a revenue-code-only line, which the writer remits with an
    SVC01 `NU:<revenue code>`, the revenue code; a line with neither matches nothing), SVC service
    date (its first day) within the line's service dates; every matching SVC counts, reversals
    too."""
    ln = cset.lines
    # the matched code: the procedure, else the revenue code past the procedures; 0 = none
    code = np.where(
        ln.proc > 0, ln.proc, np.where(ln.rev > 0, len(PROCS) + ln.rev.astype(np.int64), 0)
    ).astype(np.int64)
    assert len(PROCS) + len(REVENUE) <= 256
    s_line, s_sign = svc
    s_line, s_sign = s_line[code[s_line] > 0], s_sign[code[s_line] > 0]
    day_bits = np.int64(1) << 20

    def key(rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        claim = written[ln.version[rows]].astype(np.int64)
        return (claim * 256 + code[rows]) * day_bits + day

    s_key = key(s_line, ln.from_day[s_line].astype(np.int64))
    order = np.argsort(s_key, kind="stable")
    s_key = s_key[order]
    s_paid = np.r_[0, np.cumsum(s_sign[order] * ln.paid[s_line[order]].astype(np.int64))]
    lo = np.searchsorted(s_key, key(lines, ln.from_day[lines].astype(np.int64)), side="left")
    hi = np.searchsorted(s_key, key(lines, ln.to_day[lines].astype(np.int64)), side="right")
    matched = (hi > lo) & (code[lines] > 0)
    return matched, np.where(matched, s_paid[hi] - s_paid[lo], 0)


def _blank_money(cents: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.array(
        [_money(int(c)) if p else "" for c, p in zip(cents, present, strict=True)], dtype=object
    )
