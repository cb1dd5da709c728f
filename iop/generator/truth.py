"""Ground truth, derived from what was actually planted, with the pipeline's rules.

The truth is not the journey plan: it is recomputed from the written data (attended session
rows, the census as of its latest snapshot, and the final version of every claim line), so it is
exactly what a correct pipeline must produce, defects and all:

1. service days per (person, level) = attended days U final claim line spans U census spans;
2. an episode is a maximal run of service days with gaps <= 30 days;
4. a transition links an episode to the person's next one if it starts within 30 days;
5. is_open from the census (vendor A) or end_date > as_of_date - 30;
6. discharge_reason only where the census discharged the episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iop.generator.claim_chains import ClaimSet, final_lines
from iop.generator.common import EPISODE_GAP_DAYS, LEVELS, PRESENT, REASONS, TRANSITION_DAYS
from iop.generator.sessions import Census, Sessions

KEY_SHIFT = 8  # key = person * 8 + level


@dataclass
class TruthEpisodes:
    person: np.ndarray
    level: np.ndarray
    start: np.ndarray
    end: np.ndarray
    reason: np.ndarray  # -1 blank
    is_open: np.ndarray
    ehr: np.ndarray  # source ehr (else claims)
    # transitions (one per episode)
    to_level: np.ndarray  # -1 blank
    to_start: np.ndarray
    days_between: np.ndarray


def derive_episodes(
    sessions: Sessions, census: Census, cset: ClaimSet, as_of: int, census_end: int
) -> TruthEpisodes:
    att = sessions.status == PRESENT
    a_key = sessions.person[att].astype(np.int64) * KEY_SHIFT + sessions.level[att]
    a_day = sessions.day[att].astype(np.int64)

    # Census as of its latest snapshot: discharge shown only if on or before that snapshot.
    discharged = (census.discharge >= 0) & (census.discharge <= census_end)
    c_key = census.person.astype(np.int64) * KEY_SHIFT + census.level
    c_from = census.admit.astype(np.int64)
    c_to = np.where(discharged, census.discharge, census.admit).astype(np.int64)

    fin = final_lines(cset)
    fin = fin[cset.lines.level[fin] >= 0]
    l_key = cset.lines.person[fin].astype(np.int64) * KEY_SHIFT + cset.lines.level[fin]

    key = np.concatenate([a_key, c_key, l_key])
    frm = np.concatenate([a_day, c_from, cset.lines.from_day[fin]])
    to = np.concatenate([a_day, c_to, cset.lines.to_day[fin]])
    ehr = np.concatenate([np.ones(a_key.size + c_key.size, bool), np.zeros(fin.size, bool)])
    base = int(frm.min()) if frm.size else 0
    order = np.argsort((key << 20) | (frm - base), kind="stable")  # by key, then from
    key, frm, to, ehr = key[order], frm[order], to[order], ehr[order]
    del order

    # Running max of `to` within each key: keys dominate the combined value.
    big = np.int64(1) << 24
    runmax = np.maximum.accumulate(key * big + to) - key * big
    new_key = np.r_[True, key[1:] != key[:-1]]
    prev_max = np.r_[0, runmax[:-1]]
    new_ep = new_key | (frm - prev_max > EPISODE_GAP_DAYS)
    starts = np.flatnonzero(new_ep)
    ends = np.r_[starts[1:], key.size] - 1
    ep_key = key[starts]
    ep_start = frm[starts]
    ep_end = runmax[ends]
    ep_ehr = np.logical_or.reduceat(ehr, starts) if starts.size else np.zeros(0, bool)

    # Census admissions decide reason and openness of the episode holding their admit date.
    ep_reason = np.full(starts.size, -1, dtype=np.int64)
    census_ep = np.zeros(starts.size, bool)
    census_open = np.zeros(starts.size, bool)
    comp = ep_key * big + ep_start
    pos = np.searchsorted(comp, c_key * big + c_from, side="right") - 1
    census_ep[pos] = True
    census_open[pos] = ~discharged
    ep_reason[pos[discharged]] = census.reason[discharged]
    is_open = np.where(census_ep, census_open, ep_end > as_of - EPISODE_GAP_DAYS)

    person = ep_key // KEY_SHIFT
    level = ep_key % KEY_SHIFT
    order = np.lexsort((ep_end, ep_start, person))
    person, level, ep_start, ep_end = person[order], level[order], ep_start[order], ep_end[order]
    ep_reason, is_open, ep_ehr = ep_reason[order], is_open[order], ep_ehr[order]
    same = np.r_[person[1:] == person[:-1], False]
    nxt_start = np.r_[ep_start[1:], 0]
    nxt_level = np.r_[level[1:], -1]
    gap = nxt_start - ep_end
    linked = same & (gap <= TRANSITION_DAYS)
    return TruthEpisodes(
        person=person,
        level=level,
        start=ep_start,
        end=ep_end,
        reason=ep_reason,
        is_open=is_open,
        ehr=ep_ehr,
        to_level=np.where(linked, nxt_level, -1),
        to_start=np.where(linked, nxt_start, -1),
        days_between=np.where(linked, gap, -1),
    )


def episode_columns(t: TruthEpisodes, person_ids: np.ndarray, iso) -> dict:
    """truth/episodes.csv columns."""
    levels = np.array(LEVELS, dtype=object)
    reasons = np.array([*REASONS, ""], dtype=object)
    return {
        "person_id": person_ids[t.person],
        "level_of_care": levels[t.level],
        "start_date": iso(t.start),
        "end_date": iso(t.end),
        "length_of_stay": t.end - t.start + 1,
        "discharge_reason": reasons[t.reason],
        "is_open": np.where(t.is_open, "true", "false").astype(object),
        "source": np.where(t.ehr, "ehr", "claims").astype(object),
    }


def transition_columns(t: TruthEpisodes, person_ids: np.ndarray, iso) -> dict:
    """truth/transitions.csv columns: one row per episode, to_* blank without a transition."""
    levels = np.array([*LEVELS, ""], dtype=object)
    linked = t.to_level >= 0
    to_start = iso(t.to_start)
    to_start[~linked] = ""
    days = np.where(linked, t.days_between.astype(str), "").astype(object)
    return {
        "person_id": person_ids[t.person],
        "from_level": levels[t.level],
        "from_end_date": iso(t.end),
        "to_level": levels[t.to_level],
        "to_start_date": to_start,
        "days_between": days,
    }
