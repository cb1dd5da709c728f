"""Claims: grouping lines into claims, receipt dates, planted defects, chains and resolution.

Lines become one claim per (person, week) or per stay-month; a claim is received 5-40 days after
its last service date and is absent from the extract if that is after --end. Defects are planted
on purpose and recorded for the truth: attended-but-unbilled days (~3% of billable lines
dropped), voided claims (an original on wrong dates, then a void in a later month, then the
correct claim anew), replaced claims (wrong dates or units, then a frequency-7 replacement,
sometimes a second one) and duplicated lines (re-delivered in the same or the next month's file).
`final_lines` resolves chains exactly as the contract says, for the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iop.generator.claims import (
    ALLOWED_PCT,
    FREQ_ORIGINAL,
    FREQ_REPLACEMENT,
    FREQ_VOID,
    PAID_PCT,
    SRC_EHR,
    SRC_NOISE,
    Lines,
)
from iop.generator.common import COMMERCIAL, expand, group_starts, in_spans
from iop.generator.journeys import Episodes
from iop.generator.population import Persons

CHAIN_KINDS = ("voided", "replaced", "replaced_again")


@dataclass
class ChunkClaims:
    """One chunk's claims: lines (with chunk-local version ids) and per-version attributes."""

    lines: Lines
    v_received: np.ndarray
    v_adjudicated: np.ndarray
    v_freq: np.ndarray
    v_parent: np.ndarray  # local version this one replaces or voids, -1 none
    v_payer: np.ndarray
    dup_src: np.ndarray  # local line indices re-delivered as duplicates
    dup_delivery: np.ndarray  # day of the file carrying each duplicate
    unbilled: tuple[np.ndarray, np.ndarray, np.ndarray]  # person, level, day
    chains: dict[str, np.ndarray]  # kind (index into CHAIN_KINDS), first/related version, ...


@dataclass
class ClaimSet:
    """Every delivered claim line, all versions; duplicates as (source line, delivery day)."""

    lines: Lines  # .version indexes the per-version arrays below
    claim_no: np.ndarray  # per version: claim_id = CLM%09d
    orig_no: np.ndarray  # per version: original_claim_id number, -1 blank
    freq: np.ndarray
    received: np.ndarray
    adjudicated: np.ndarray
    dup_src: np.ndarray
    dup_delivery: np.ndarray
    unbilled: tuple[np.ndarray, np.ndarray, np.ndarray]
    chains: dict[str, np.ndarray]  # kind, claim_no, related_no, person, level, from_day, to_day

    def line_delivery(self) -> np.ndarray:
        """Per delivered row (lines, then duplicates): the day of the file carrying it."""
        return np.concatenate([self.received[self.lines.version], self.dup_delivery])


def _next_month_day(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A day in the month after each day's month (a later monthly file)."""
    m = np.asarray(days).astype("datetime64[D]").astype("datetime64[M]") + 1
    first = m.astype("datetime64[D]").astype(np.int64)
    return first + rng.integers(0, 28, m.size)


def _erroneous_shifts(
    lines: Lines,
    cstart: np.ndarray,
    todo: np.ndarray,
    eps: Episodes,
    rng: np.random.Generator,
    start: int,
    end: int,
) -> np.ndarray:
    """A date shift of 35-90 days (earlier or later) per claim in `todo`, 0 where none fits.

    The shifted claim must stay in the window and put at least one classified line outside the
    planned episodes (+-3 days of census slack) of that person and level, so that accepting it
    instead of resolving its chain would change the episodes.
    """
    nc = cstart.size
    shift = np.zeros(nc, dtype=np.int64)
    todo = todo.copy()
    span_key = eps.person.astype(np.int64) * 8 + eps.level
    span_s, span_e = eps.start - 3, eps.end + 3
    rows = np.flatnonzero(todo[lines.claim])  # only lines of candidate claims
    key = lines.person[rows].astype(np.int64) * 8 + lines.level[rows]
    classified = lines.level[rows] >= 0
    owner = lines.claim[rows]
    for _ in range(6):
        delta = np.where(rng.random(nc) < 0.6, -1, 1) * rng.integers(35, 91, nc)
        d = delta[owner]
        f2 = lines.from_day[rows] + d
        t2 = lines.to_day[rows] + d
        outside = classified & (
            ~in_spans(key, f2, span_key, span_s, span_e)
            | ~in_spans(key, t2, span_key, span_s, span_e)
        )
        inside_window = (f2 >= start) & (t2 <= end)
        any_out = np.bincount(owner, weights=outside, minlength=nc) > 0
        all_in = np.bincount(owner, weights=~inside_window, minlength=nc) == 0
        ok = todo & any_out & all_in
        shift[ok] = delta[ok]
        todo &= ~ok
        if not todo.any():
            break
    return shift


def assemble(
    parts: list[Lines],
    eps: Episodes,
    persons: Persons,
    rng: np.random.Generator,
    start: int,
    end: int,
) -> ChunkClaims:
    """Group lines into claims, date them, drop what arrives after --end, plant defects.

    `persons` and line/episode person indices are chunk-local here.
    """
    offset = 0
    for part in parts:
        part.claim = part.claim + offset
        offset = int(part.claim.max()) + 1 if part.n else offset
    lines = Lines.concat(parts)
    del parts
    # Within a claim: by date, the care line before an ancillary one.
    ancillary = lines.level < 0
    lines = lines.take(np.lexsort((lines.proc, ancillary, lines.from_day, lines.claim)))
    cstart = group_starts(lines.claim)
    nc = cstart.size
    svc_end = np.maximum.reduceat(lines.to_day, cstart) if nc else np.zeros(0, np.int64)
    received = svc_end + rng.integers(5, 41, nc)
    cl_dense = np.cumsum(np.r_[False, lines.claim[1:] != lines.claim[:-1]]) if lines.n else None
    # Not yet received at --end: not in the extract.
    keep = received[cl_dense] <= end if lines.n else np.zeros(0, bool)
    # Attended but unbilled: ~3% of billable attended-day lines of the EHR provider go missing.
    unbilled = (lines.source == SRC_EHR) & ~lines.bna & keep & (rng.random(lines.n) < 0.03)
    unbilled_out = (lines.person[unbilled], lines.level[unbilled], lines.from_day[unbilled])
    keep &= ~unbilled
    kept_claims, dense = np.unique(cl_dense[keep], return_inverse=True)
    received = received[kept_claims]
    lines = lines.take(np.flatnonzero(keep))
    lines.claim = dense.astype(np.int64)
    cstart = group_starts(lines.claim)
    nc = cstart.size
    ccount = np.diff(np.r_[cstart, lines.n])
    c_person = lines.person[cstart]
    c_source = lines.source[cstart]

    # --- claim versions: voids (~2% of claims) and replacements (~3%) --------------------
    u = rng.random(nc)
    eligible = c_source != SRC_NOISE
    void = eligible & (u < 0.02)
    repl = eligible & (u >= 0.02) & (u < 0.05)
    repl_units = repl & (rng.random(nc) < 0.5)
    shift = _erroneous_shifts(lines, cstart, void | (repl & ~repl_units), eps, rng, start, end)
    void &= shift != 0
    repl &= repl_units | (shift != 0)
    # The erroneous original is received after its (wrong) last date of service; corrections
    # arrive in a later month (a later file); all of it by --end or the defect is not planted.
    err_received = np.maximum(received, svc_end_of(lines, cstart) + shift + 5)
    fix1 = _next_month_day(err_received, rng)
    fix2 = _next_month_day(fix1, rng)
    void &= fix1 + 3 <= end
    repl &= fix1 <= end
    twice = repl & (rng.random(nc) < 0.2) & (fix2 <= end)
    repl_units &= repl
    plain = ~(void | repl)

    # Versions: claim, freq, parent version, received, shift, extra units, zero amounts, tweak.
    cols: dict[str, list] = {
        k: [] for k in ("c", "freq", "parent", "rec", "shift", "units", "zero", "tweak")
    }

    def add(c, freq, parent, rec, sh=0, un=0, zero=False, tweak=False) -> np.ndarray:
        first = sum(x.size for x in cols["c"])
        for k, v in (
            ("c", c),
            ("freq", freq),
            ("parent", parent),
            ("rec", rec),
            ("shift", sh),
            ("units", un),
            ("zero", zero),
            ("tweak", tweak),
        ):
            cols[k].append(np.broadcast_to(np.asarray(v), c.shape).copy())
        return first + np.arange(c.size)

    c = np.flatnonzero(plain)
    add(c, FREQ_ORIGINAL, -1, received[c])
    c = np.flatnonzero(void)
    void_err = add(c, FREQ_ORIGINAL, -1, err_received[c], shift[c])  # wrong dates
    void_v = add(c, FREQ_VOID, void_err, fix1[c], shift[c], zero=True)
    add(c, FREQ_ORIGINAL, -1, fix1[c] + rng.integers(0, 4, c.size))  # the correct claim, anew
    c = np.flatnonzero(repl)
    repl_err = add(c, FREQ_ORIGINAL, -1, err_received[c], shift[c], repl_units[c].astype(int))
    repl_r1 = add(c, FREQ_REPLACEMENT, repl_err, fix1[c])
    r1_of = np.full(nc, -1)
    r1_of[c] = repl_r1
    c2 = np.flatnonzero(twice)
    repl_r2 = add(c2, FREQ_REPLACEMENT, r1_of[c2], fix2[c2], tweak=True)
    v = {k: np.concatenate(x) for k, x in cols.items()}
    nver = v["c"].size

    owner, within = expand(ccount[v["c"]])
    out = lines.take(cstart[v["c"]][owner] + within)
    del lines
    out.version = owner.astype(np.int32)
    out.line_no = (within + 1).astype(np.int16)
    out.from_day = (out.from_day + v["shift"][owner]).astype(np.int32)
    out.to_day = (out.to_day + v["shift"][owner]).astype(np.int32)
    out.units = (out.units + v["units"][owner]).astype(np.int16)
    payer = persons.payer[out.person]
    charge = out.unit_charge.astype(np.int64) * out.units
    allowed = charge * ALLOWED_PCT[payer] // 100
    paid = allowed * PAID_PCT[payer] // 100
    tweak = v["tweak"][owner]
    paid = np.where(tweak, allowed * np.where(payer == COMMERCIAL, 90, 100) // 100, paid)
    zero = v["zero"][owner]
    out.charge = np.where(zero, 0, charge).astype(np.int32)
    out.allowed = np.where(zero, 0, allowed).astype(np.int32)
    out.paid = np.where(zero, 0, paid).astype(np.int32)

    v_adj = np.maximum(np.minimum(v["rec"] + rng.integers(0, 21, nver), end), v["rec"])
    # Duplicated lines: ~1% re-sent, in the same file or in the next month's file.
    dup = np.flatnonzero(rng.random(out.n) < 0.01)
    later = rng.random(dup.size) < 0.4
    rec_line = v["rec"][out.version[dup]]
    nxt = _next_month_day(rec_line, rng)
    dup_delivery = np.where(later & (nxt <= end), nxt, rec_line)

    vfirst = np.r_[0, np.cumsum(ccount[v["c"]])[:-1]].astype(np.int64)
    firsts = np.concatenate([void_err, repl_err, r1_of[c2]]).astype(np.int64)
    related = np.concatenate([void_v, repl_r1, repl_r2]).astype(np.int64)
    kind = np.repeat(np.arange(3), [void_err.size, repl_err.size, c2.size])
    chains = dict(
        kind=kind,
        first=firsts,
        related=related,
        person=c_person[v["c"][firsts]],
        level=out.level[vfirst[firsts]],
        from_day=np.minimum.reduceat(out.from_day, vfirst)[firsts] if nver else firsts,
        to_day=np.maximum.reduceat(out.to_day, vfirst)[firsts] if nver else firsts,
    )
    return ChunkClaims(
        lines=out,
        v_received=v["rec"].astype(np.int32),
        v_adjudicated=v_adj.astype(np.int32),
        v_freq=v["freq"].astype(np.int8),
        v_parent=v["parent"].astype(np.int64),
        v_payer=persons.payer[c_person[v["c"]]].astype(np.int8),
        dup_src=dup,
        dup_delivery=dup_delivery.astype(np.int32),
        unbilled=unbilled_out,
        chains=chains,
    )


def svc_end_of(lines: Lines, cstart: np.ndarray) -> np.ndarray:
    if cstart.size == 0:
        return np.zeros(0, np.int64)
    return np.maximum.reduceat(lines.to_day, cstart).astype(np.int64)


def merge(chunks: list[ChunkClaims], rng: np.random.Generator) -> ClaimSet:
    """Concatenate chunks (person indices already global) and number claims by receipt."""
    v_off = np.cumsum([0] + [c.v_received.size for c in chunks])
    l_off = np.cumsum([0] + [c.lines.n for c in chunks])
    for c, vo in zip(chunks, v_off[:-1], strict=False):
        c.lines.version = (c.lines.version + vo).astype(np.int32)
    lines = Lines.concat([c.lines for c in chunks])
    received = np.concatenate([c.v_received for c in chunks])
    payer = np.concatenate([c.v_payer for c in chunks])
    parent = np.concatenate(
        [
            np.where(c.v_parent >= 0, c.v_parent + vo, -1)
            for c, vo in zip(chunks, v_off, strict=False)
        ]
    )
    nver = received.size
    rank = np.lexsort((np.arange(nver), payer, received))
    claim_no = np.empty(nver, dtype=np.int64)
    claim_no[rank] = 100_001 + int(rng.integers(0, 800_000)) + np.arange(nver)
    orig_no = np.where(parent >= 0, claim_no[np.maximum(parent, 0)], -1)

    def cat(name):
        return np.concatenate([c.chains[name] for c in chunks])

    firsts = np.concatenate([c.chains["first"] + vo for c, vo in zip(chunks, v_off, strict=False)])
    related = np.concatenate(
        [c.chains["related"] + vo for c, vo in zip(chunks, v_off, strict=False)]
    )
    return ClaimSet(
        lines=lines,
        claim_no=claim_no,
        orig_no=orig_no,
        freq=np.concatenate([c.v_freq for c in chunks]),
        received=received,
        adjudicated=np.concatenate([c.v_adjudicated for c in chunks]),
        dup_src=np.concatenate([c.dup_src + lo for c, lo in zip(chunks, l_off, strict=False)]),
        dup_delivery=np.concatenate([c.dup_delivery for c in chunks]),
        unbilled=tuple(np.concatenate([c.unbilled[i] for c in chunks]) for i in range(3)),
        chains=dict(
            kind=np.array(CHAIN_KINDS, dtype=object)[cat("kind")],
            claim_no=claim_no[firsts],
            related_no=claim_no[related],
            person=cat("person"),
            level=cat("level"),
            from_day=cat("from_day"),
            to_day=cat("to_day"),
        ),
    )


def final_versions(cset: ClaimSet) -> np.ndarray:
    """Per version: whether its lines count (the final, non-void version of its chain).

    Follows the contract: the final version is the last of its chain by received date, then
    frequency code, then claim id; a chain whose final version is a void has no lines.
    """
    nver = cset.claim_no.size
    order_no = np.argsort(cset.claim_no)
    parent = np.arange(nver)
    has = cset.orig_no >= 0
    parent[has] = order_no[np.searchsorted(cset.claim_no[order_no], cset.orig_no[has])]
    root = parent.copy()
    for _ in range(10):  # chains are short (original -> replacement -> replacement)
        nxt = parent[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    order = np.lexsort((cset.claim_no, cset.freq, cset.received, root))
    last_of_root = np.r_[root[order][1:] != root[order][:-1], True]
    winners = order[last_of_root]
    final = np.zeros(nver, bool)
    final[winners[cset.freq[winners] != FREQ_VOID]] = True
    return final


def final_lines(cset: ClaimSet) -> np.ndarray:
    """Indices of the lines that count (duplicates, being re-deliveries, never count twice)."""
    return np.flatnonzero(final_versions(cset)[cset.lines.version])
