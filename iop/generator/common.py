"""Shared vocabulary, date arithmetic and small vectorized helpers for the generator.

Dates are carried as int32 day numbers (days since 1970-01-01) everywhere: integer arrays sort,
subtract and compare fast, and are turned into strings only when a file is written (by indexing a
small per-day vocabulary, see `DateVocab`). Codes (levels, payers, statuses...) are small integers
indexing the tuples below, which keeps 20M-row tables compact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Levels of care, in the canonical spelling of sql/seeds/level_of_care.csv.
LEVELS = ("INPT", "WM", "RES", "PHP", "IOP", "OP")
INPT, WM, RES, PHP, IOP, OP = range(6)
STAYS = (INPT, WM, RES)  # 24-hour levels: seen only in institutional claims here
AMBULATORY = (PHP, IOP, OP)

# Canonical discharge reasons (truth) and the vendor-A census spelling of each.
REASONS = ("completed", "dropped_out", "terminated", "transferred", "other")
COMPLETED, DROPPED, TERMINATED, TRANSFERRED, OTHER = range(5)
CENSUS_REASONS = (
    "Completed Treatment",
    "Left Against Advice",
    "Administrative Discharge",
    "Transferred",
    "Other",
)

PAYERS = ("Medicaid", "Commercial", "Medicare", "Self-pay")
MEDICAID, COMMERCIAL, MEDICARE, SELF_PAY = range(4)
MEMBER_PREFIX = ("MCD", "COM", "MCR", "")

VENDOR_A, VENDOR_B = 0, 1
SITES = ("RIVERSIDE", "LAKEVIEW", "HILLCREST")
SITE_VENDOR = (VENDOR_A, VENDOR_A, VENDOR_B)

# Attendance status codes, with each vendor's spelling.
PRESENT, ABSENT, CANCEL_CLIENT, CANCEL_PROGRAM, EXCUSED = range(5)
STATUS_A = ("Present", "Absent", "Cancelled - Client", "Cancelled - Program", "Excused")
STATUS_B = ("A", "NS", "CC", "CP", "EX")

# Session (service) types, with each vendor's spelling.
GROUP, INDIVIDUAL, FAMILY, PSYED, MEDMGMT, ASSESS = range(6)
SERVICE_A = (
    "Group Therapy",
    "Individual Therapy",
    "Family Therapy",
    "Psychoeducation",
    "Medication Management",
    "Assessment",
)
SERVICE_B = ("GRP", "IND", "FAM", "PSYED", "MED", "ASMT")

# Level spelling per vendor (only the ambulatory levels are in the EHRs).
LEVEL_A = {PHP: "PHP", IOP: "IOP", OP: "OP"}
LEVEL_B = {PHP: "2.5", IOP: "2.1", OP: "1"}

EPISODE_GAP_DAYS = 30  # rule 2: a gap longer than this starts a new episode
TRANSITION_DAYS = 30  # rule 4: a next episode within this many days is a transition
SAME_LEVEL_MIN_GAP = 46  # planned gap between two episodes of a person at one level (> 45)

EPOCH = dt.date(1970, 1, 1)


def to_day(value: str | dt.date) -> int:
    """'2025-03-14' or a date -> day number."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return (value - EPOCH).days


def from_day(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (day 0, 1970-01-01, was a Thursday)."""
    return (np.asarray(days) + 3) % 7


def week_number(days: np.ndarray) -> np.ndarray:
    """Monday-based week number since the epoch: days of one Mon..Sun week share it."""
    return (np.asarray(days) + 3) // 7


def month_index(days: np.ndarray, vocab: DateVocab) -> np.ndarray:
    """Months since 1970-01 for each day (via the vocabulary's lookup table)."""
    return vocab.month_of[np.asarray(days) - vocab.base]


@dataclass
class DateVocab:
    """Every date of a padded window rendered once in each layout's format.

    Rendering 20M dates with strftime would dominate the run time; instead each output date
    column is `take(vocab.<format>, day - vocab.base)`, a single C++ gather.
    """

    base: int
    iso: pa.Array  # 2025-03-14
    mdy: pa.Array  # 03/14/2025
    compact: list[str]  # 20250314 (file names)
    month_of: np.ndarray  # months since 1970-01
    month_first: np.ndarray  # day number of the first day of each day's month
    iso_week: list[str]  # 2025-W11 (file names)

    @classmethod
    def build(cls, first: int, last: int) -> DateVocab:
        days = np.arange(first, last + 1)
        d64 = days.astype("datetime64[D]")
        iso = np.datetime_as_string(d64, unit="D").astype(object)
        mdy = [f"{s[5:7]}/{s[8:10]}/{s[0:4]}" for s in iso]
        compact = [s.replace("-", "") for s in iso]
        months = d64.astype("datetime64[M]")
        month_of = months.astype(np.int64)
        month_first = months.astype("datetime64[D]").astype(np.int64)
        weeks = []
        for s in iso:
            year, week, _ = dt.date.fromisoformat(s).isocalendar()
            weeks.append(f"{year}-W{week:02d}")
        return cls(
            base=first,
            iso=pa.array(list(iso), pa.string()),
            mdy=pa.array(mdy, pa.string()),
            compact=compact,
            month_of=month_of,
            month_first=month_first,
            iso_week=weeks,
        )

    def iso_str(self, day: int) -> str:
        return self.iso[int(day) - self.base].as_py()


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts [2, 0, 3] -> owner [0, 0, 2, 2, 2], within [0, 1, 0, 1, 2].

    The workhorse of the vectorized generator: turns one row per episode into one row per day,
    one row per day into one row per session, and so on, without a Python loop.
    """
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    offsets = np.cumsum(counts) - counts
    within = np.arange(owner.size, dtype=np.int64) - offsets[owner]
    return owner, within


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal keys begins in a sorted array."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(sorted_keys.size, dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def choice_codes(rng: np.random.Generator, probs: dict[int, float] | list[float], size: int):
    """Draw integer codes with the given probabilities (normalized)."""
    if isinstance(probs, dict):
        codes = np.fromiter(probs.keys(), dtype=np.int64)
        p = np.fromiter(probs.values(), dtype=float)
    else:
        p = np.asarray(probs, dtype=float)
        codes = np.arange(p.size)
    return codes[rng.choice(p.size, size=size, p=p / p.sum())]


def affine_ids(count: int, modulus: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct, random-looking numbers in [0, modulus): an affine bijection of 0..n-1.

    Unique by construction (the multiplier is coprime to the modulus), so no rejection loop and
    no collision check is needed, and it is deterministic for the generator state.
    """
    if count > modulus:
        raise ValueError(f"cannot make {count} distinct ids below {modulus}")
    while True:
        mult = int(rng.integers(modulus // 3, modulus - 1))
        if np.gcd(mult, modulus) == 1:
            break
    shift = int(rng.integers(0, modulus))
    idx = np.arange(count, dtype=np.int64)
    return (idx * mult + shift) % modulus


def npi_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Syntactically valid NPIs: 10 digits, first digit 1, Luhn check over the 80840 prefix."""
    out: list[str] = []
    for base in affine_ids(count, 10**8, rng):
        payload = f"1{base:08d}"
        digits = [int(c) for c in "80840" + payload]
        total = 0
        for i, digit in enumerate(reversed(digits)):
            if i % 2 == 0:  # every second digit from the right, starting next to the check digit
                digit *= 2
                if digit > 9:
                    digit -= 9
            total += digit
        out.append(payload + str((10 - total % 10) % 10))
    return out


def snap_forward(days: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Earliest day >= `days` whose weekday bit is set in the 7-bit weekday mask."""
    days = np.asarray(days, dtype=np.int64)
    offsets = np.arange(7)
    cand = days[:, None] + offsets[None, :]
    ok = (np.asarray(masks)[:, None] >> weekday(cand)) & 1
    return days + np.argmax(ok.astype(bool), axis=1)


def snap_back(days: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Latest day <= `days` whose weekday bit is set in the 7-bit weekday mask."""
    days = np.asarray(days, dtype=np.int64)
    offsets = np.arange(7)
    cand = days[:, None] - offsets[None, :]
    ok = (np.asarray(masks)[:, None] >> weekday(cand)) & 1
    return days - np.argmax(ok.astype(bool), axis=1)


def in_spans(
    q_key: np.ndarray,
    q_day: np.ndarray,
    span_key: np.ndarray,
    span_start: np.ndarray,
    span_end: np.ndarray,
) -> np.ndarray:
    """Whether each (key, day) falls inside one of the non-overlapping spans of that key."""
    order = np.lexsort((span_start, span_key))
    sk, ss, se = span_key[order], span_start[order], span_end[order]
    comp = (sk.astype(np.int64) << 22) | (ss.astype(np.int64) + (1 << 21))
    q = (np.asarray(q_key, np.int64) << 22) | (np.asarray(q_day, np.int64) + (1 << 21))
    pos = np.searchsorted(comp, q, side="right") - 1
    ok = pos >= 0
    pos = np.where(ok, pos, 0)
    if sk.size == 0:
        return np.zeros(q.size, dtype=bool)
    return ok & (sk[pos] == q_key) & (q_day <= se[pos])
