"""Journeys: each person's planned episodes of care, in time order, never overlapping.

The plan is built step by step for all persons at once (a loop over the handful of journey steps,
vectorized over persons). Each step picks a level, a start (after the previous episode ended plus
a step-down gap), a length of stay and a discharge reason, then chooses the next step from the
reason. Constraints the episode rules need are enforced here:

* consecutive episodes never overlap (next start >= previous planned end);
* two episodes of one person at the same level are more than 45 days apart, so the 30-day
  episode rule can never merge them;
* ambulatory episodes start and end on a day of the client's weekday pattern, so the first and
  last scheduled sessions are exactly the planned bounds.

IOP reasons and lengths of stay are calibrated to TEDS-D (DOMAIN.md): completed 38%, dropped out
23%, transferred 18%, terminated 14%, other 7%; median LOS ~41 days (completers ~50, dropouts ~26).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iop.generator.common import (
    COMPLETED,
    DROPPED,
    INPT,
    IOP,
    OP,
    OTHER,
    PHP,
    RES,
    SAME_LEVEL_MIN_GAP,
    TERMINATED,
    TRANSFERRED,
    WM,
    choice_codes,
    snap_back,
    snap_forward,
)
from iop.generator.population import PHP_MASK, Persons

MAX_STEPS = 12
ALL_DAYS = 0b1111111

IOP_REASON_P = {COMPLETED: 0.38, DROPPED: 0.23, TRANSFERRED: 0.18, TERMINATED: 0.14, OTHER: 0.07}
# Lognormal LOS (days) per IOP discharge reason: (median, sigma).
IOP_LOS = {
    COMPLETED: (50, 0.28),
    DROPPED: (27, 0.55),
    TRANSFERRED: (40, 0.45),
    TERMINATED: (33, 0.5),
    OTHER: (36, 0.5),
}
OP_REASON_P = {COMPLETED: 0.55, DROPPED: 0.30, TERMINATED: 0.05, TRANSFERRED: 0.03, OTHER: 0.07}


@dataclass
class Episodes:
    """Planned episodes, sorted by (person, start). `end` is the last scheduled day (ambulatory)
    or the last day of the stay, already cut at --end; `cut` marks episodes running past --end."""

    person: np.ndarray
    level: np.ndarray
    external: np.ndarray  # seen only in claims (another provider)
    start: np.ndarray
    end: np.ndarray
    cut: np.ndarray
    reason: np.ndarray  # -1 where not applicable

    @property
    def n(self) -> int:
        return self.person.size

    def take(self, idx: np.ndarray) -> Episodes:
        return Episodes(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})


def level_masks(level: np.ndarray, person: np.ndarray, persons: Persons) -> np.ndarray:
    """Weekday mask for each (level, person): PHP Mon-Fri, IOP the client's 3-4 days, OP weekly."""
    mask = np.full(level.size, ALL_DAYS, dtype=np.int64)
    mask[level == PHP] = PHP_MASK
    is_iop = level == IOP
    mask[is_iop] = persons.iop_mask[person[is_iop]]
    is_op = level == OP
    mask[is_op] = np.int64(1) << persons.op_weekday[person[is_op]]
    return mask


def step_gap(rng: np.random.Generator, size: int) -> np.ndarray:
    """Days from one episode's end to the next one's start in a step-down.

    0 (same day) 20%, 1-7 days 40%, 8-21 days 30%, and 10% beyond 30 days (no transition).
    """
    kind = choice_codes(rng, [0.20, 0.40, 0.30, 0.10], size)
    lo = np.array([0, 1, 8, 31])[kind]
    hi = np.array([0, 7, 21, 75])[kind]
    return rng.integers(lo, hi + 1)


def stay_los(rng: np.random.Generator, level: np.ndarray) -> np.ndarray:
    """Residential 14-45 days, withdrawal management 3-7, inpatient psychiatric 5-14."""
    lo = np.select([level == RES, level == WM], [14, 3], 5)
    hi = np.select([level == RES, level == WM], [45, 7], 14)
    return rng.integers(lo, hi + 1)


def plan_journeys(persons: Persons, rng: np.random.Generator, start: int, end: int) -> Episodes:
    n = persons.n
    ehr = persons.is_ehr
    member = persons.has_member
    chunks: list[dict[str, np.ndarray]] = []
    last_end = np.full((n, 6), -(10**6), dtype=np.int64)

    # Entry. EHR clients: an external WM/INPT/RES stay (seen only in claims, so only for clients
    # with a member id) ~35%, PHP ~20%, IOP ~45%. Claims-only members: a stay or external IOP.
    u = rng.random(n)
    ext_entry = ehr & member & (u < 0.35)
    first_ehr = np.where(
        ext_entry,
        np.where(rng.random(n) < 0.35, PHP, IOP),
        np.where(rng.random(n) < 0.20 / 0.65, PHP, IOP),
    )
    member_entry = choice_codes(rng, {RES: 0.28, WM: 0.17, INPT: 0.10, IOP: 0.45}, n)
    level = np.where(ehr, first_ehr, member_entry).astype(np.int64)
    external = ~ehr
    person_all = np.arange(n)
    t = snap_forward(persons.anchor, level_masks(level, person_all, persons))

    # Pre-entry stays for EHR clients, placed backwards from the first EHR admission:
    # RES alone, WM alone, WM then RES, or INPT alone. Stays that would begin before --start are
    # dropped (the client then simply enters at the EHR level).
    idx = np.flatnonzero(ext_entry)
    kind = choice_codes(rng, [0.45, 0.20, 0.15, 0.20], idx.size)
    stay1 = np.select([kind == 0, kind == 1, kind == 2], [RES, WM, RES], INPT)
    end1 = t[idx] - step_gap(rng, idx.size)
    start1 = end1 - stay_los(rng, stay1) + 1
    ok1 = start1 >= start
    has_wm = (kind == 2) & ok1
    end0 = start1 - rng.integers(0, 3, idx.size)
    start0 = end0 - stay_los(rng, np.full(idx.size, WM)) + 1
    ok0 = has_wm & (start0 >= start)
    for ok, lvl, s, e in ((ok0, np.full(idx.size, WM), start0, end0), (ok1, stay1, start1, end1)):
        chunks.append(
            dict(
                person=idx[ok],
                level=lvl[ok],
                external=np.ones(ok.sum(), bool),
                start=s[ok],
                end=e[ok],
                cut=np.zeros(ok.sum(), bool),
                reason=np.full(ok.sum(), -1),
            )
        )
        last_end[idx[ok], lvl[ok]] = e[ok]

    active = np.ones(n, dtype=bool)
    for _ in range(MAX_STEPS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        lvl, ext, m = level[idx], external[idx], idx.size
        mask = level_masks(lvl, idx, persons)
        s = t[idx]
        # Same-level spacing: push the start past the previous episode at this level.
        floor = last_end[idx, lvl] + SAME_LEVEL_MIN_GAP
        s = np.where(s < floor, floor + rng.integers(0, 31, m), s)
        s = snap_forward(s, mask)
        alive = s <= end
        active[idx[~alive]] = False
        idx, lvl, ext, mask, s, m = (
            idx[alive],
            lvl[alive],
            ext[alive],
            mask[alive],
            s[alive],
            alive.sum(),
        )
        if m == 0:
            break

        reason = np.full(m, -1, dtype=np.int64)
        nxt = np.full(m, -1, dtype=np.int64)  # next level, -1 = journey ends
        nxt_ext = ext.copy()
        gap = step_gap(rng, m)
        los = np.ones(m, dtype=np.int64)
        has_mem = member[idx]
        is_ehr = ehr[idx]

        # Stays (external, claims only).
        st = np.isin(lvl, (INPT, WM, RES))
        los[st] = stay_los(rng, lvl[st])
        down = choice_codes(rng, [0.30, 0.70], m)  # PHP / IOP after a stay (EHR clients)
        member_next = np.where(
            lvl == WM,
            choice_codes(rng, {RES: 0.40, IOP: 0.35, -1: 0.25}, m),
            choice_codes(rng, {IOP: 0.60, OP: 0.15, -1: 0.25}, m),
        )
        nxt = np.where(st & is_ehr, np.where(down == 0, PHP, IOP), nxt)
        nxt_ext = np.where(st & is_ehr, False, nxt_ext)
        nxt = np.where(st & ~is_ehr, member_next, nxt)

        # PHP: 2-5 weeks; ~65% step down to IOP (reason completed, or transferred).
        ph = lvl == PHP
        los[ph] = rng.integers(14, 36, ph.sum())
        to_iop = rng.random(m) < 0.65
        php_reason = np.where(
            to_iop,
            np.where(rng.random(m) < 0.85, COMPLETED, TRANSFERRED),
            choice_codes(rng, {DROPPED: 0.5, TERMINATED: 0.15, TRANSFERRED: 0.2, OTHER: 0.15}, m),
        )
        reason = np.where(ph, php_reason, reason)
        nxt = np.where(ph & to_iop, IOP, nxt)

        # IOP: TEDS-D reasons and lengths of stay; the reason drives what follows.
        io = lvl == IOP
        iop_reason = choice_codes(rng, IOP_REASON_P, m)
        med = np.array([IOP_LOS[r][0] for r in range(5)])[iop_reason]
        sig = np.array([IOP_LOS[r][1] for r in range(5)])[iop_reason]
        iop_los = np.clip(np.round(med * np.exp(sig * rng.standard_normal(m))), 3, 150)
        los = np.where(io, iop_los.astype(np.int64), los)
        reason = np.where(io, iop_reason, reason)
        v = rng.random(m)
        w = rng.random(m)
        # completed -> OP for ~55%: EHR OP, or an external OP (claims only) for some members.
        to_op = io & (iop_reason == COMPLETED) & (v < 0.55)
        op_external = ext | (has_mem & (w < 0.30))
        nxt = np.where(to_op, OP, nxt)
        nxt_ext = np.where(to_op, op_external, nxt_ext)
        # transferred -> step up (PHP or external RES) for 8/18 of them (~8% of discharges).
        step_up = io & (iop_reason == TRANSFERRED) & (v < 8 / 18)
        up_res = ext | (has_mem & (w < 0.5))
        nxt = np.where(step_up, np.where(up_res, RES, PHP), nxt)
        nxt_ext = np.where(step_up, up_res, nxt_ext)
        gap = np.where(step_up, rng.integers(0, 8, m), gap)
        # dropped out / terminated -> some are re-admitted to IOP after more than 45 days.
        readmit = io & (
            ((iop_reason == DROPPED) & (v < 0.30)) | ((iop_reason == TERMINATED) & (v < 0.15))
        )
        nxt = np.where(readmit, IOP, nxt)
        gap = np.where(readmit, rng.integers(SAME_LEVEL_MIN_GAP, 181, m), gap)

        # OP: weekly, 8-20 weeks (shorter when the client drops out); journey ends.
        o = lvl == OP
        op_reason = choice_codes(rng, OP_REASON_P, m)
        weeks = np.where(
            np.isin(op_reason, (DROPPED, TERMINATED)),
            rng.integers(3, 11, m),
            rng.integers(8, 21, m),
        )
        reason = np.where(o, op_reason, reason)
        if not np.all(np.isin(nxt[o], (-1,))):
            raise AssertionError("OP must end the journey")

        e = s + los - 1
        amb = np.isin(lvl, (PHP, IOP))
        e = np.where(amb, np.maximum(snap_back(e, mask), s), e)
        e = np.where(o, s + 7 * (weeks - 1), e)
        cut = e > end
        e_cut = np.where(amb | o, np.maximum(snap_back(np.full(m, end), mask), s), end)
        e = np.where(cut, np.minimum(e, e_cut), e)

        chunks.append(
            dict(person=idx, level=lvl, external=ext, start=s, end=e, cut=cut, reason=reason)
        )
        last_end[idx, lvl] = e
        go = (nxt >= 0) & ~cut
        active[idx[~go]] = False
        t[idx] = e + gap
        level[idx] = np.where(go, nxt, lvl)
        external[idx] = np.where(go, nxt_ext, ext)

    cols = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    order = np.lexsort((cols["start"], cols["person"]))
    return Episodes(
        person=cols["person"][order].astype(np.int64),
        level=cols["level"][order].astype(np.int8),
        external=cols["external"][order].astype(bool),
        start=cols["start"][order].astype(np.int64),
        end=cols["end"][order].astype(np.int64),
        cut=cols["cut"][order].astype(bool),
        reason=cols["reason"][order].astype(np.int8),
    )
