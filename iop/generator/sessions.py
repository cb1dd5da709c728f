"""Scheduled days, attendance and session rows for ambulatory episodes; vendor-A census.

From each ambulatory episode (PHP, IOP, OP) we expand the scheduled days (the client's weekday
pattern between the planned bounds), decide day-level attendance from the client's no-show
propensity, then expand days into 1-3 session rows. External (claims-only) ambulatory episodes go
through the same day expansion; their attended days become claim lines instead of rows.

Attendance is shaped so the planted data honours the episode rules:
* vendor B: the first and the last scheduled session of an episode are attended, so truth
  start/end = first/last attended day;
* vendor A: sessions may be missed (census admit/discharge define the bounds); a dropout's last
  scheduled day or two are no-shows, then the census discharges them;
* everyone: at least one attended day in every 14-day block of an episode, so attended days are
  never more than 27 days apart and an episode cannot split under the 30-day rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iop.generator.common import (
    ABSENT,
    ASSESS,
    CANCEL_CLIENT,
    CANCEL_PROGRAM,
    DROPPED,
    EXCUSED,
    FAMILY,
    GROUP,
    INDIVIDUAL,
    IOP,
    MEDMGMT,
    OP,
    PHP,
    PRESENT,
    PSYED,
    VENDOR_A,
    choice_codes,
    expand,
    group_starts,
)
from iop.generator.journeys import Episodes, level_masks
from iop.generator.population import CLINICIANS_PER_SITE, Persons

BLOCK_DAYS = 14


@dataclass
class Days:
    """One row per scheduled day of an ambulatory episode, ordered by (episode, day)."""

    ep: np.ndarray
    day: np.ndarray
    attended: np.ndarray
    status: np.ndarray  # day-level status (PRESENT when attended)
    first: np.ndarray  # first scheduled day of its episode
    last: np.ndarray  # last scheduled day of its episode


@dataclass
class Sessions:
    """Attendance rows (EHR only), in generation order (episode, day, row-in-day)."""

    person: np.ndarray
    level: np.ndarray
    day: np.ndarray
    start_min: np.ndarray
    service: np.ndarray
    minutes: np.ndarray
    status: np.ndarray
    clinician: np.ndarray

    @property
    def n(self) -> int:
        return self.person.size

    @classmethod
    def concat(cls, parts: list[Sessions]) -> Sessions:
        names = [f for f in cls.__dataclass_fields__]
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


@dataclass
class Admissions:
    """Vendor-A census admissions, one per vendor-A EHR episode."""

    person: np.ndarray
    level: np.ndarray
    admit: np.ndarray
    discharge: np.ndarray  # -1 = not discharged by --end
    reason: np.ndarray

    @classmethod
    def concat(cls, parts: list[Admissions]) -> Admissions:
        names = [f for f in cls.__dataclass_fields__]
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


@dataclass
class Census:
    """Vendor-A admissions (sorted by admit date) and their snapshot rows."""

    person: np.ndarray
    level: np.ndarray
    admit: np.ndarray
    discharge: np.ndarray  # -1 = not discharged by --end
    reason: np.ndarray
    snapshot_days: np.ndarray  # one per snapshot file
    row_snapshot: np.ndarray  # per snapshot row: index into snapshot_days
    row_adm: np.ndarray  # per snapshot row: index into the admissions
    row_discharged: np.ndarray  # per snapshot row: discharge shown in this snapshot


def truth_starts(eps: Episodes, persons: Persons, rng: np.random.Generator, start: int):
    """Census admit dates (vendor A) and the intake flag; the start of every other episode.

    An intake admit lies 1-3 days before the first scheduled session (which is then forced
    attended, so admit is 'up to 3 days before the first attended day'), never before the
    previous episode's planned end, so episodes keep their order and days_between >= 0.
    """
    vendor_a = (~eps.external) & (persons.vendor[eps.person] == VENDOR_A)
    prev_same = np.r_[False, eps.person[1:] == eps.person[:-1]]
    prev_end = np.where(prev_same, np.r_[0, eps.end[:-1]], start)
    intake = vendor_a & (rng.random(eps.n) < 0.4)
    admit = np.where(intake, eps.start - rng.integers(1, 4, eps.n), eps.start)
    admit = np.maximum(admit, np.maximum(prev_end, start))
    intake &= admit < eps.start
    return admit, intake, vendor_a


def schedule_days(
    eps: Episodes, persons: Persons, rng: np.random.Generator, intake: np.ndarray
) -> Days:
    """Expand ambulatory episodes into scheduled days and decide who shows up each day."""
    amb = np.flatnonzero(np.isin(eps.level, (PHP, IOP, OP)))
    span = eps.end[amb] - eps.start[amb] + 1
    owner, within = expand(span)
    ep = amb[owner]
    day = eps.start[ep] + within
    mask = level_masks(eps.level[amb], eps.person[amb], persons)[owner]
    keep = ((mask >> ((day + 3) % 7)) & 1).astype(bool)
    ep, day = ep[keep], day[keep]
    n = ep.size
    starts = group_starts(ep)
    first = np.zeros(n, bool)
    first[starts] = True
    last = np.zeros(n, bool)
    last[np.r_[starts[1:] - 1, n - 1] if n else starts] = True

    person = eps.person[ep]
    attended = rng.random(n) >= persons.noshow_p[person]
    vendor = np.where(eps.external[ep], -1, persons.vendor[person])
    closed = ~eps.cut[ep]
    # Vendor-A dropouts stop coming: their last 1-2 scheduled days are no-shows.
    drop_a = (vendor == VENDOR_A) & (eps.reason[ep] == DROPPED) & closed
    tail = rng.integers(1, 3, eps.n)[ep]
    pos_from_end = np.zeros(n, dtype=np.int64)
    if n:
        ends = np.r_[starts[1:], n]
        seg_end = np.repeat(ends, np.diff(np.r_[starts, n]))
        pos_from_end = seg_end - 1 - np.arange(n)
    attended &= ~(drop_a & (pos_from_end < tail) & ~first)
    # Vendor B and external programs: first and last scheduled session attended.
    forced = first & ((vendor != VENDOR_A) | intake[ep])
    forced |= last & (vendor != VENDOR_A) & closed
    attended |= forced
    # At least one attended day per 14-day block of the episode.
    block = (day - eps.start[ep]) // BLOCK_DAYS
    key = ep * 64 + block
    bstarts = group_starts(key)
    if n:
        any_att = np.logical_or.reduceat(attended, bstarts)
        attended[bstarts[~any_att]] = True

    status = np.full(n, PRESENT, dtype=np.int8)
    missed = ~attended
    status[missed] = choice_codes(
        rng, {ABSENT: 0.55, CANCEL_CLIENT: 0.25, CANCEL_PROGRAM: 0.08, EXCUSED: 0.12}, missed.sum()
    )
    status[missed & drop_a & (pos_from_end < tail)] = ABSENT
    return Days(ep=ep, day=day, attended=attended, status=status, first=first, last=last)


# Session plans per level and rows-per-day: (service, minutes) for each row of the day.
# IOP ~3 hours (a group plus sometimes an individual session), PHP ~5-6 hours.
IOP_PLANS = {
    1: [(GROUP, 180)],
    2: [(GROUP, 120), (INDIVIDUAL, 60)],
    3: [(GROUP, 90), (PSYED, 60), (INDIVIDUAL, 30)],
}
PHP_PLANS = {
    2: [(GROUP, 180), (PSYED, 120)],
    3: [(GROUP, 150), (PSYED, 90), (INDIVIDUAL, 60)],
}
OP_PLANS = [(INDIVIDUAL, 45), (INDIVIDUAL, 60), (GROUP, 90)]  # by the client's op_kind
BREAK_MIN = 15


def session_rows(eps: Episodes, days: Days, persons: Persons, rng: np.random.Generator) -> Sessions:
    """Expand attended-or-not EHR days into 1-3 session rows with times, minutes and status."""
    sel = np.flatnonzero(~eps.external[days.ep])
    ep = days.ep[sel]
    person = eps.person[ep]
    level = eps.level[ep]
    nd = sel.size
    n_rows = np.ones(nd, dtype=np.int64)
    iop = level == IOP
    php = level == PHP
    n_rows[iop] = choice_codes(rng, {1: 0.45, 2: 0.40, 3: 0.15}, iop.sum())
    n_rows[php] = choice_codes(rng, {2: 0.5, 3: 0.5}, php.sum())

    owner, k = expand(n_rows)
    d = sel[owner]  # index into days
    lvl = level[owner]
    per = person[owner]
    nr = n_rows[owner]
    service = np.full(owner.size, GROUP, dtype=np.int8)
    minutes = np.zeros(owner.size, dtype=np.int64)
    for plans, lv in ((IOP_PLANS, IOP), (PHP_PLANS, PHP)):
        for count, plan in plans.items():
            for j, (svc, mins) in enumerate(plan):
                m = (lvl == lv) & (nr == count) & (k == j)
                service[m] = svc
                minutes[m] = mins
    op = lvl == OP
    kind = persons.op_kind[per[op]]
    service[op] = np.array([s for s, _ in OP_PLANS], dtype=np.int8)[kind]
    minutes[op] = np.array([m for _, m in OP_PLANS])[kind]
    # Variety: the third IOP/PHP row is sometimes medication management or family therapy;
    # the second IOP row is sometimes psychoeducation instead of an individual session.
    u = rng.random(owner.size)
    third = (k == 2) & (service == INDIVIDUAL)
    service[third & (u < 0.25)] = MEDMGMT
    service[third & (u >= 0.25) & (u < 0.40)] = FAMILY
    second_iop = (lvl == IOP) & (nr == 2) & (k == 1)
    service[second_iop & (u < 0.3)] = PSYED
    # The first day of an episode includes an assessment (OP: the whole session is one).
    first_day = days.first[d]
    service[first_day & (k == nr - 1) & ((nr > 1) | op)] = ASSESS
    minutes[first_day & op & (k == 0)] = 60

    base = np.where(
        lvl == PHP,
        9 * 60,
        np.where(lvl == IOP, persons.iop_start_min[per], persons.op_start_min[per]),
    )
    cum = np.cumsum(minutes + BREAK_MIN)
    row_start = np.flatnonzero(k == 0)
    before = np.repeat(cum[row_start] - (minutes[row_start] + BREAK_MIN), n_rows)
    start_min = base + (cum - (minutes + BREAK_MIN)) - before

    status = days.status[d].copy()
    # Within an attended day an extra session is occasionally cancelled or missed, never on
    # the first or last scheduled day (vendor B must attend those sessions).
    edge = days.first[d] | days.last[d]
    dev = (k > 0) & (status == PRESENT) & ~edge & (rng.random(owner.size) < 0.05)
    status[dev] = np.where(rng.random(dev.sum()) < 0.4, CANCEL_PROGRAM, ABSENT)

    site = persons.site[per].astype(np.int64)
    group_clin = site * CLINICIANS_PER_SITE + rng.integers(0, CLINICIANS_PER_SITE, eps.n)[ep[owner]]
    clinician = np.where((service == GROUP) & (lvl != OP), group_clin, persons.clinician[per])
    return Sessions(
        person=per.astype(np.int32),
        level=lvl.astype(np.int8),
        day=days.day[d].astype(np.int32),
        start_min=start_min.astype(np.int16),
        service=service,
        minutes=minutes.astype(np.int16),
        status=status.astype(np.int8),
        clinician=clinician.astype(np.int16),
    )


def last_attended_by_episode(eps: Episodes, days: Days) -> np.ndarray:
    """Last attended day per episode (-1 where none)."""
    out = np.full(eps.n, -1, dtype=np.int64)
    att = days.attended
    np.maximum.at(out, days.ep[att], days.day[att])
    return out


def census_admissions(
    eps: Episodes,
    days: Days,
    admit: np.ndarray,
    vendor_a: np.ndarray,
    rng: np.random.Generator,
    end: int,
) -> Admissions:
    """Admissions with discharge = last attended day + 0-3 days.

    The discharge is capped at the next episode's start so episodes never overlap; one that
    would fall after --end (or an episode cut at --end) stays open (blank discharge).
    """
    last_att = last_attended_by_episode(eps, days)
    same_next = np.r_[eps.person[1:] == eps.person[:-1], False]
    next_start = np.where(same_next, np.r_[admit[1:], 0], np.iinfo(np.int64).max)
    delay = np.where(rng.random(eps.n) < 0.5, 0, rng.integers(1, 4, eps.n))
    discharge = np.maximum(np.minimum(last_att + delay, next_start), admit)
    discharge = np.where(eps.cut | (discharge > end) | (last_att < 0), -1, discharge)
    a = np.flatnonzero(vendor_a)
    return Admissions(
        person=eps.person[a].astype(np.int32),
        level=eps.level[a],
        admit=admit[a].astype(np.int32),
        discharge=discharge[a].astype(np.int32),
        reason=eps.reason[a],
    )


def census_snapshots(adm: Admissions, start: int, end: int, month_ends: np.ndarray) -> Census:
    """Snapshots at each month end and at --end: every admission with admit <= snapshot day."""
    order = np.lexsort((adm.person, adm.admit))
    person, level = adm.person[order], adm.level[order]
    admit, discharge, reason = adm.admit[order], adm.discharge[order], adm.reason[order]
    snaps = np.unique(np.r_[month_ends[(month_ends >= start) & (month_ends <= end)], end])
    counts = np.searchsorted(admit, snaps, side="right")
    row_snapshot, row_adm = expand(counts)
    dis = discharge[row_adm]
    return Census(
        person=person,
        level=level,
        admit=admit,
        discharge=discharge,
        reason=reason,
        snapshot_days=snaps,
        row_snapshot=row_snapshot,
        row_adm=row_adm,
        row_discharged=(dis >= 0) & (dis <= snaps[row_snapshot]),
    )
