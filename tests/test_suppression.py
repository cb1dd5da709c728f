"""Small-cell suppression, attacked from the published marts alone.

CMS cell-size rule (/work/shared/DOMAIN.md): no published cell may show 1-10 persons (zero may be
shown), and no suppressed value may be derivable from totals, percentages or other cells.

The attacker opens $IOP_DATA_DIR/marts.duckdb read-only (never the warehouse) and writes down
every additive identity the marts publish:

* demographic_utilization: for a period x level, the 'all' row = the sum of the cells of each
  other dimension (persons, episodes, completion/step-down denominators, and the completions and
  step-downs that rate x denominator gives back); and, across marts, the episodes of the 'all'
  rows summed over the years of a level = length_of_stay's closed episodes + open_episodes;
* length_of_stay: the level_of_care row = the sum of the rows of each breakdown (program,
  discharge month, discharge reason, payer), for persons, episodes, episodes_with_reason and the
  completions / dropouts / transfers that rate x episodes_with_reason gives back; the
  discharge-reason breakdown's 'completed' ('dropped_out', 'transferred') row holds exactly the
  level's completions (dropouts, transfers), and its rows other than 'not_recorded' add up to
  episodes_with_reason;
The step-down and continuity marts are split by breakdown (overall, by program, by discharge
month) like the five length-of-stay marts, and program_quality_monthly into _overall and
_by_program; the attack reads each family as one table with a
`breakdown` column, as an adversary holding all of them would (combine_split).

* step_down_transitions: within a (breakdown, from-level, program/month) group the to-level rows
  add up to from_level_discharges (printed on every visible row of the group); for one from->to
  pair the program (month) rows add up to the 'all' row; the groups' from_level_discharges add
  up over programs (months) to the 'all' group's;
* program_quality_monthly (_overall, _by_program): for a month x level, the overall row = the sum
  of the programs' rows, for the census, admissions, discharges, sessions (scheduled, attended,
  no-shows, cancelled), discharges with a reason, the step-down denominator, and the completions
  and step-downs that rate x denominator gives back;
* continuity_of_care: for a measure, the 'all' row's numerator and denominator = the sums over
  the programs, and over the discharge months.

Not every identity is exact for persons (a person with two episodes in a year can be in two age
bands; two closed episodes can fall in two programs, months or discharge reasons): the attacker
still subtracts, and only a guess that equals the true value counts as a recovery.

A suppressed cell's value is pinned when an identity has a single unknown left (after the known
cells and whatever has already been pinned are substituted), or when what is left over equals
the least the unknown cells can hold (a suppressed row exists, so it has >= 1 person, >= 1
episode, >= 1 transition; other counts >= 0): two suppressed 1-person cells and a remainder of
2 are both 1. A zero pinned by an identity whose total itself is a published 0 discloses nothing
about the small cell and is not counted. The true values the guesses are checked against are
recomputed from the warehouse's unsuppressed marts.episodes and core tables (verification
only; the attacker never reads them), and are first checked to agree with every published
(unsuppressed) value.

The rule the marts apply is written once, in sql/macros/suppression.sql; every aggregate mart's
docs quote it word for word and its SQL calls the macros (test_docs_state_the_rule_the_sql_applies).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import builders as b
import duckdb
import pandas as pd
import pytest
import yaml
from conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]

GENERATED_CLIENTS = 600
GENERATED_SEED = 20251127

Key = tuple


# --------------------------------------------------------------------------------------------
# The attacker: published marts only
# --------------------------------------------------------------------------------------------


def read_published(data_dir: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        marts = {t: con.execute(f'select * from "{t}"').df() for t in tables}
    finally:
        con.close()
    if "length_of_stay_by_level" in marts:
        marts["length_of_stay"] = combined_length_of_stay(marts)
    for combined, parts in SPLIT_FAMILIES.items():
        if all(table in marts for table in parts):
            marts[combined] = combine_split(marts, parts, ("program",))
    return marts


# The five one-grain length-of-stay marts, computed together (their lines cross), and the
# breakdown each holds: the attack reads them as one table, as an adversary holding all five would.
LOS_MARTS = {
    "length_of_stay_by_level": "level_of_care",
    "length_of_stay_by_program": "program",
    "length_of_stay_by_discharge_month": "discharge_month",
    "length_of_stay_by_discharge_reason": "discharge_reason",
    "length_of_stay_by_payer": "payer",
}


# The one-grain step-down, continuity, program quality and intensity marts, each family computed
# together (its lines cross the family's marts) and read as one table by the attack, as for
# length of stay.
SPLIT_FAMILIES = {
    "step_down_transitions": {
        "step_down_transitions_overall": "all",
        "step_down_transitions_by_program": "program",
        "step_down_transitions_by_discharge_month": "discharge_month",
    },
    "continuity_of_care": {
        "continuity_of_care_overall": "all",
        "continuity_of_care_by_program": "program",
        "continuity_of_care_by_discharge_month": "discharge_month",
    },
    # program 'All': the month x level's row (program_quality_monthly_overall)
    "program_quality_monthly": {
        "program_quality_monthly_overall": "all",
        "program_quality_monthly_by_program": "program",
    },
    # program 'All': the level's row (treatment_intensity_by_level)
    "treatment_intensity": {
        "treatment_intensity_by_level": "level_of_care",
        "treatment_intensity_by_program": "program",
    },
}


def combined_length_of_stay(marts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The five marts as one frame with a `breakdown` column; 'All' (or no month) elsewhere."""
    return combine_split(marts, LOS_MARTS, ("program", "discharge_reason", "payer"))


def combine_split(
    marts: dict[str, pd.DataFrame], parts: dict[str, str], all_columns: tuple[str, ...]
) -> pd.DataFrame:
    """One family of split marts as one frame with a `breakdown` column naming each row's mart;
    the grouping columns a mart lacks hold 'All' (`all_columns`) or no month."""
    frames = []
    for table, breakdown in parts.items():
        df = marts[table].copy()
        df.insert(0, "breakdown", breakdown)
        for column in all_columns:
            if column not in df:
                df[column] = "All"
        frames.append(df)
    month = next(
        (marts[t]["discharge_month"].dtype for t in parts if "discharge_month" in marts[t]), None
    )
    columns = list(dict.fromkeys(c for df in frames for c in df.columns))
    for i, df in enumerate(frames):
        # every frame with every column, typed as in the mart that has it (no all-NA guessing)
        for column in columns:
            if column not in df:
                kind = month if column == "discharge_month" else _dtype_of(frames, column)
                df[column] = pd.Series(None, index=df.index, dtype=kind)
        frames[i] = df[columns]
    return pd.concat(frames, ignore_index=True)


def _dtype_of(frames: list[pd.DataFrame], column: str):
    return next(df[column].dtype for df in frames if column in df)


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _count_from_rate(rate, denominator) -> int | None:
    """rate (rounded to 4 decimals) x denominator gives the numerator back exactly while the
    denominator is under 5,000 (rounding error < 0.5)."""
    denominator = _int(denominator)
    if denominator is None:
        return None
    if denominator == 0:
        return 0
    if rate is None or pd.isna(rate):
        return None
    assert denominator < 5000
    return int(round(float(rate) * denominator))


def _month(value) -> str:
    return "" if value is None or pd.isna(value) else str(pd.Timestamp(value).date())


@dataclass
class Equation:
    """sum(coef * value) == 0 over the terms; `total` is the term that holds the group total."""

    label: str
    terms: list[tuple[int, Key]]
    total: Key | None = None


@dataclass
class Attack:
    known: dict[Key, int] = field(default_factory=dict)  # published values
    unknown: dict[Key, int] = field(default_factory=dict)  # suppressed: key -> lower bound
    equations: list[Equation] = field(default_factory=list)

    def cell(self, key: Key, value: int | None, lower: int) -> Key:
        if value is None:
            self.unknown.setdefault(key, lower)
        else:
            self.known[key] = value
        return key

    def add(self, label: str, total: Key, parts: list[Key]) -> None:
        if parts:
            self.equations.append(Equation(label, [(1, total)] + [(-1, k) for k in parts], total))

    def solve(self) -> dict[Key, tuple[int, str, Equation]]:
        """Pin suppressed values, propagating each pinned value into the other identities."""
        pinned: dict[Key, tuple[int, str, Equation]] = {}

        def value(k):
            if k in self.known:
                return self.known[k]
            return pinned[k][0] if k in pinned else None

        changed = True
        while changed:
            changed = False
            for eq in self.equations:
                open_terms = [(c, k) for c, k in eq.terms if value(k) is None]
                if not open_terms:
                    continue
                rest = sum(c * value(k) for c, k in eq.terms if value(k) is not None)
                total = value(eq.total) if eq.total is not None else None
                if len(open_terms) == 1:
                    c, k = open_terms[0]
                    pinned[k] = (-rest // c, f"{eq.label} (single unknown; total {total})", eq)
                    changed = True
                    continue
                signs = {c for c, _ in open_terms}
                if len(signs) == 1:
                    (sign,) = signs
                    left = -rest * sign  # what the open cells add up to
                    if left == sum(self.unknown.get(k, 0) for _, k in open_terms):
                        for _, k in open_terms:
                            pinned[k] = (
                                self.unknown.get(k, 0),
                                f"{eq.label} ({len(open_terms)} unknowns, remainder "
                                f"{left} = their minimum; total {total})",
                                eq,
                            )
                        changed = True
        return pinned


def build_attack(marts: dict[str, pd.DataFrame]) -> Attack:
    attack = Attack()
    _demographic(attack, marts.get("demographic_utilization"))
    _length_of_stay(attack, marts.get("length_of_stay"))
    _step_down(attack, marts.get("step_down_transitions"))
    _program_quality(attack, marts.get("program_quality_monthly"))
    _continuity(attack, marts.get("continuity_of_care"))
    # Each aggregate mart is attacked alone, as the CMS rule is applied per publication; what one
    # can do by combining marts, or with the record-level marts.episodes, is documented in the
    # README (Privacy) instead: marts.episodes is de-identified record-level data for internal BI.
    return attack


DU_MEASURES = (
    "persons",
    "episodes",
    "completion_denominator",
    "completions",
    "step_down_denominator",
    "step_downs",
)
DU_LOWER = {"persons": 1, "episodes": 1}


def _demographic(attack: Attack, df: pd.DataFrame | None) -> None:
    if df is None:
        return
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for r in df.itertuples(index=False):
        values = {
            "persons": _int(r.persons),
            "episodes": _int(r.episodes),
            "completion_denominator": _int(r.completion_denominator),
            "completions": _count_from_rate(r.completion_rate, r.completion_denominator),
            "step_down_denominator": _int(r.step_down_denominator),
            "step_downs": _count_from_rate(r.step_down_rate, r.step_down_denominator),
        }
        cell = ("du", int(r.period), r.level_of_care, r.dimension, r.dimension_value)
        for m in DU_MEASURES:
            attack.cell(cell + (m,), values[m], DU_LOWER.get(m, 0))
        groups[(int(r.period), r.level_of_care, r.dimension)].append(cell)
    for (period, level, dimension), cells in groups.items():
        if dimension == "all":
            continue
        for m in DU_MEASURES:
            attack.add(
                f"demographic_utilization {period} {level}: 'all' {m} = sum of {dimension}",
                ("du", period, level, "all", "All persons", m),
                [c + (m,) for c in cells],
            )


LOS_MEASURES = (
    "persons",
    "episodes",
    "episodes_with_reason",
    "completions",
    "dropouts",
    "transfers",
)
LOS_BREAKDOWN_VALUE = {
    "program": "program",
    "discharge_reason": "discharge_reason",
    "payer": "payer",
}


def _los_value(r) -> str:
    if r.breakdown == "level_of_care":
        return "All"
    if r.breakdown == "discharge_month":
        return _month(r.discharge_month)
    return getattr(r, LOS_BREAKDOWN_VALUE[r.breakdown])


def _length_of_stay(attack: Attack, df: pd.DataFrame | None) -> None:
    if df is None:
        return
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for r in df.itertuples(index=False):
        values = {
            "persons": _int(r.persons),
            "episodes": _int(r.episodes),
            "episodes_with_reason": _int(r.episodes_with_reason),
            "completions": _count_from_rate(r.completion_rate, r.episodes_with_reason),
            "dropouts": _count_from_rate(r.dropout_rate, r.episodes_with_reason),
            "transfers": _count_from_rate(r.transfer_rate, r.episodes_with_reason),
        }
        cell = ("los", r.level_of_care, r.breakdown, _los_value(r))
        for m in LOS_MEASURES:
            attack.cell(cell + (m,), values[m], DU_LOWER.get(m, 0))
        if r.breakdown == "discharge_reason":
            # By definition a reason row's completions are its episodes if the reason is
            # 'completed', else 0 (likewise dropouts, transfers; episodes_with_reason is 0 only
            # for 'not_recorded'): the zeros are no news, the equalities are identities.
            for m, reason in (
                ("completions", "completed"),
                ("dropouts", "dropped_out"),
                ("transfers", "transferred"),
                ("episodes_with_reason", None),
            ):
                same = (
                    r.discharge_reason != "not_recorded"
                    if reason is None
                    else r.discharge_reason == reason
                )
                if same:
                    attack.add(
                        f"length_of_stay {r.level_of_care} '{r.discharge_reason}' row: "
                        f"{m} = episodes",
                        cell + (m,),
                        [cell + ("episodes",)],
                    )
                else:
                    attack.unknown.pop(cell + (m,), None)
                    attack.known[cell + (m,)] = 0
        if r.breakdown == "level_of_care":
            attack.cell(("los", r.level_of_care, "open_episodes"), _int(r.open_episodes), 0)
        else:
            groups[(r.level_of_care, r.breakdown)].append(cell)
    for (level, breakdown), cells in groups.items():
        total = ("los", level, "level_of_care", "All")
        for m in LOS_MEASURES:
            attack.add(
                f"length_of_stay {level}: level row {m} = sum of {breakdown} rows",
                total + (m,),
                [c + (m,) for c in cells],
            )
        if breakdown == "discharge_reason":
            reasons = {c[3]: c for c in cells}
            for reason, measure in (
                ("completed", "completions"),
                ("dropped_out", "dropouts"),
                ("transferred", "transfers"),
            ):
                if reason in reasons:
                    attack.add(
                        f"length_of_stay {level}: {measure} = episodes of the '{reason}' row",
                        total + (measure,),
                        [reasons[reason] + ("episodes",)],
                    )
            attack.add(
                f"length_of_stay {level}: episodes_with_reason = episodes of the recorded reasons",
                total + ("episodes_with_reason",),
                [c + ("episodes",) for r, c in reasons.items() if r != "not_recorded"],
            )


def _step_value(r) -> str:
    if r.breakdown == "program":
        return r.program
    if r.breakdown == "discharge_month":
        return _month(r.discharge_month)
    return "All"


def _step_down(attack: Attack, df: pd.DataFrame | None) -> None:
    if df is None:
        return
    groups: dict[tuple, list[Key]] = defaultdict(list)
    pairs: dict[tuple, list[Key]] = defaultdict(list)
    for r in df.itertuples(index=False):
        value = _step_value(r)
        key = ("sdt", r.breakdown, r.from_level, value, r.to_level, "transitions")
        attack.cell(key, _int(r.transitions), 1)
        group = ("sdt", r.breakdown, r.from_level, value, "from_level_discharges")
        fld = _int(r.from_level_discharges)
        if fld is not None:
            attack.known[group] = fld
            attack.unknown.pop(group, None)
        elif group not in attack.known:
            attack.unknown[group] = attack.unknown.get(group, 0) + 1  # >= one per row
        groups[group].append(key)
        pairs[(r.breakdown, r.from_level, r.to_level)].append(key)
    for group, cells in groups.items():
        attack.add(
            f"step_down_transitions {group[1]} {group[2]} {group[3]}: "
            "from_level_discharges = sum of to-levels",
            group,
            cells,
        )
    for (breakdown, from_level, to_level), cells in pairs.items():
        if breakdown == "all":
            continue
        attack.add(
            f"step_down_transitions {from_level}->{to_level}: 'all' = sum over {breakdown}",
            ("sdt", "all", from_level, "All", to_level, "transitions"),
            cells,
        )
    for breakdown in ("program", "discharge_month"):
        by_from = defaultdict(list)
        for group in groups:
            if group[1] == breakdown:
                by_from[group[2]].append(group)
        for from_level, parts in by_from.items():
            attack.add(
                f"step_down_transitions {from_level}: 'all' from_level_discharges = sum "
                f"over {breakdown}",
                ("sdt", "all", from_level, "All", "from_level_discharges"),
                parts,
            )


PQM_MEASURES = (
    "census",
    "admissions",
    "discharges",
    "sessions_scheduled",
    "sessions_attended",
    "sessions_no_show",
    "sessions_cancelled",
    "discharges_with_reason",
    "completions",
    "step_down_30d_denominator",
    "step_downs_30d",
)


def _program_quality(attack: Attack, df: pd.DataFrame | None) -> None:
    if df is None:
        return
    groups: dict[tuple, list[Key]] = defaultdict(list)
    for r in df.itertuples(index=False):
        values = {
            m: _int(getattr(r, m))
            for m in PQM_MEASURES
            if m not in ("completions", "step_downs_30d")
        }
        values["completions"] = _count_from_rate(r.completion_rate, r.discharges_with_reason)
        values["step_downs_30d"] = _count_from_rate(
            r.step_down_30d_rate, r.step_down_30d_denominator
        )
        cell = ("pqm", _month(r.month), r.level_of_care, r.program)
        for m in PQM_MEASURES:
            # A suppressed row has >= 1 person scheduled, admitted or discharged; the attacker
            # takes its census to be >= 1 as well (true of almost every such row), which only
            # makes it stronger: a guess that misses the true value is not counted.
            attack.cell(cell + (m,), values[m], 1 if m == "census" else 0)
        if r.program != "All":
            groups[(_month(r.month), r.level_of_care)].append(cell)
    for (month, level), cells in groups.items():
        for m in PQM_MEASURES:
            attack.add(
                f"program_quality_monthly {month} {level}: 'All' {m} = sum of programs",
                ("pqm", month, level, "All", m),
                [c + (m,) for c in cells],
            )


def _coc_value(r) -> str:
    if r.breakdown == "program":
        return r.program
    if r.breakdown == "discharge_month":
        return _month(r.discharge_month)
    return "All"


def _continuity(attack: Attack, df: pd.DataFrame | None) -> None:
    if df is None:
        return
    groups: dict[tuple, list[Key]] = defaultdict(list)
    for r in df.itertuples(index=False):
        cell = ("coc", r.measure, r.breakdown, _coc_value(r))
        attack.cell(cell + ("denominator",), _int(r.denominator), 1)
        attack.cell(cell + ("numerator",), _int(r.numerator), 0)
        if r.breakdown != "all":
            groups[(r.measure, r.breakdown)].append(cell)
    for (measure, breakdown), cells in groups.items():
        for m in ("denominator", "numerator"):
            attack.add(
                f"continuity_of_care {measure}: 'all' {m} = sum over {breakdown}",
                ("coc", measure, "all", "All", m),
                [c + (m,) for c in cells],
            )


def true_values(data_dir: Path) -> dict[Key, int]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    truth: dict[Key, int] = {}
    try:
        rows = con.execute("""
            with e as (
                select year(start_month) as period, level_of_care, person_key,
                    'All persons' as all_persons, race_ethnicity, sex, age_band, payer,
                    discharge_reason, is_open, transition_window_complete, transition_direction
                from marts.episodes
            ), long as (
                unpivot e on all_persons, race_ethnicity, sex, age_band, payer
                into name dimension value dimension_value
            )
            select period, level_of_care,
                case dimension when 'all_persons' then 'all' else dimension end, dimension_value,
                count(distinct person_key), count(*),
                count(*) filter (where discharge_reason is not null),
                count(*) filter (where discharge_reason = 'completed'),
                count(*) filter (where not is_open and transition_window_complete),
                count(*) filter (where not is_open and transition_window_complete
                                 and transition_direction = 'step_down')
            from long group by all
        """).fetchall()
        for period, level, dim, value, *counts in rows:
            for m, n in zip(DU_MEASURES, counts, strict=True):
                truth[("du", period, level, dim, value, m)] = n

        rows = con.execute("""
            with closed as (
                select level_of_care, program, discharge_month::varchar as discharge_month,
                    coalesce(discharge_reason, 'not_recorded') as discharge_reason, payer,
                    person_key, discharge_reason is not null as reason_known
                from marts.episodes where not is_open
            )
            select level_of_care,
                case when grouping(program) = 0 then 'program'
                     when grouping(discharge_month) = 0 then 'discharge_month'
                     when grouping(discharge_reason) = 0 then 'discharge_reason'
                     when grouping(payer) = 0 then 'payer' else 'level_of_care' end,
                coalesce(program, discharge_month, discharge_reason, payer, 'All'),
                count(distinct person_key), count(*), count(*) filter (where reason_known),
                count(*) filter (where discharge_reason = 'completed'),
                count(*) filter (where discharge_reason = 'dropped_out'),
                count(*) filter (where discharge_reason = 'transferred')
            from closed
            group by grouping sets ((level_of_care), (level_of_care, program),
                (level_of_care, discharge_month), (level_of_care, discharge_reason),
                (level_of_care, payer))
        """).fetchall()
        for level, breakdown, value, *counts in rows:
            for m, n in zip(LOS_MEASURES, counts, strict=True):
                truth[("los", level, breakdown, value, m)] = n
        for level, n in con.execute(
            "select level_of_care, count(*) filter (where is_open) from marts.episodes group by 1"
        ).fetchall():
            truth[("los", level, "open_episodes")] = n

        rows = con.execute("""
            with d as (
                select level_of_care as from_level,
                    coalesce(next_level_of_care, 'NONE') as to_level, program,
                    discharge_month::varchar as discharge_month
                from marts.episodes where not is_open and transition_window_complete
            )
            select case when grouping(program) = 0 then 'program'
                        when grouping(discharge_month) = 0 then 'discharge_month' else 'all' end,
                from_level, coalesce(program, discharge_month, 'All'), to_level, count(*)
            from d
            group by grouping sets ((from_level, to_level), (from_level, to_level, program),
                (from_level, to_level, discharge_month))
        """).fetchall()
        for breakdown, from_level, value, to_level, n in rows:
            truth[("sdt", breakdown, from_level, value, to_level, "transitions")] = n
            group = ("sdt", breakdown, from_level, value, "from_level_discharges")
            truth[group] = truth.get(group, 0) + n

        for month, level, program, *counts in con.execute(PQM_RECOUNT).fetchall():
            for m, n in zip(PQM_MEASURES, counts, strict=True):
                truth[("pqm", str(month), level, program, m)] = n

        for measure, breakdown, value, denominator, numerator in con.execute(
            COC_RECOUNT
        ).fetchall():
            truth[("coc", measure, breakdown, value, "denominator")] = denominator
            truth[("coc", measure, breakdown, value, "numerator")] = numerator
    finally:
        con.close()
    return truth


# The unsuppressed counts of marts.program_quality_monthly and marts.continuity_of_care,
# recounted from the core tables by the rules their docs state.
PQM_RECOUNT = """
    with as_of as (select max(session_date) as as_of_date from core.sessions)
    , levels as (select level_of_care, rank::integer as level_rank from seeds.level_of_care)
    , episodes as (
        select e.person_id, e.program, e.level_of_care, e.start_date, e.end_date, e.is_open,
            e.discharge_reason,
            coalesce(t.days_to_next <= 30 and n.level_rank < t.from_rank, false) as stepped,
            date_diff('day', e.end_date, a.as_of_date) >= 30 as complete
        from core.episodes as e
        cross join as_of as a
        join core.transitions as t using (episode_id)
        left join levels as n on n.level_of_care = t.next_level
        where e.source <> 'claims'
    )
    , events as (
        select date_trunc('month', session_date)::date as month, program, level_of_care,
            person_id, 'session' as kind, attended, attendance_status,
            null::varchar as reason, null::boolean as stepped, null::boolean as complete
        from core.sessions
        union all
        select date_trunc('month', start_date)::date, program, level_of_care, person_id,
            'admission', null, null, null, null, null
        from episodes
        union all
        select date_trunc('month', end_date)::date, program, level_of_care, person_id,
            'discharge', null, null, discharge_reason, stepped, complete
        from episodes where not is_open
    )
    select month, level_of_care, coalesce(program, 'All'),
        count(distinct person_id) filter (where kind = 'session' and attended),
        count(*) filter (where kind = 'admission'),
        count(*) filter (where kind = 'discharge'),
        count(*) filter (where kind = 'session'),
        count(*) filter (where kind = 'session' and attended),
        count(*) filter (where attendance_status = 'no_show'),
        count(*) filter (where attendance_status in ('cancelled_client', 'cancelled_program')),
        count(*) filter (where kind = 'discharge' and reason is not null),
        count(*) filter (where kind = 'discharge' and reason = 'completed'),
        count(*) filter (where kind = 'discharge' and complete),
        count(*) filter (where kind = 'discharge' and complete and stepped)
    from events
    group by grouping sets ((month, program, level_of_care), (month, level_of_care))
"""

COC_RECOUNT = """
    with levels as (select level_of_care, rank::integer as level_rank from seeds.level_of_care)
    , episodes as (
        select e.episode_id, e.person_id, e.level_of_care, l.level_rank, e.program,
            e.start_date, e.end_date, e.as_of_date,
            date_trunc('month', e.end_date)::date::varchar as discharge_month
        from core.episodes as e
        join core.persons as p using (person_id)
        join levels as l using (level_of_care)
        where not e.is_open
    )
    , acute as (
        select d.* from episodes as d
        where d.level_of_care in ('RES', 'WM', 'INPT') and not exists (
            select 1 from episodes as again
            where again.person_id = d.person_id and again.episode_id <> d.episode_id
                and again.level_of_care in ('RES', 'WM', 'INPT')
                and again.start_date between d.end_date and d.end_date + 30)
    )
    , outcomes as (
        select 'follow_up_' || w.days || 'd' as measure, d.program, d.discharge_month,
            exists (
                select 1 from core.care_spans as s join levels as l using (level_of_care)
                where s.person_id = d.person_id and l.level_rank < d.level_rank
                    and s.span_end >= d.end_date + 1 and s.span_start <= d.end_date + w.days
            ) as met
        from acute as d cross join (values (7), (30)) as w (days)
        where date_diff('day', d.end_date, d.as_of_date) >= w.days
        union all
        select 'step_up_' || w.days || 'd', d.program, d.discharge_month,
            exists (
                select 1 from episodes as nxt
                where nxt.person_id = d.person_id and nxt.level_rank > d.level_rank
                    and nxt.start_date between d.end_date and d.end_date + w.days
            )
        from episodes as d cross join (values (30), (90)) as w (days)
        where d.level_of_care = 'IOP' and date_diff('day', d.end_date, d.as_of_date) >= w.days
    )
    select measure,
        case when grouping(program) = 0 then 'program'
             when grouping(discharge_month) = 0 then 'discharge_month' else 'all' end,
        coalesce(program, discharge_month, 'All'), count(*), count(*) filter (where met)
    from outcomes
    group by grouping sets ((measure), (measure, program), (measure, discharge_month))
"""


def recovered(attack: Attack, truth: dict[Key, int]) -> list[str]:
    """Suppressed values the attacker pinned to their true value."""
    leaks = []
    for key, (guess, how, eq) in attack.solve().items():
        if key not in attack.unknown or truth.get(key, 0) != guess:
            continue
        if guess == 0 and eq.total is not None and attack.known.get(eq.total) == 0:
            continue  # the published total is 0 itself: nothing learnt about the small cell
        leaks.append(f"{key} = {guess}  <- {how}")
    return sorted(leaks)


def check_truth_matches_published(attack: Attack, truth: dict[Key, int]) -> None:
    wrong = [(k, v, truth.get(k, 0)) for k, v in attack.known.items() if truth.get(k, 0) != v]
    assert not wrong, f"the test's own recount disagrees with published values: {wrong[:10]}"


def _format(leaks: list[str], limit: int = 40) -> str:
    by_mart = defaultdict(int)
    for leak in leaks:
        by_mart[leak.split("'")[1]] += 1
    head = "\n  ".join(leaks[:limit])
    return (
        f"{len(leaks)} suppressed value(s) recovered exactly from the published marts "
        f"({dict(by_mart)}):\n  {head}" + ("\n  ..." if len(leaks) > limit else "")
    )


# --------------------------------------------------------------------------------------------
# Generated data: hundreds of clients, many small cells
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("suppression_generated") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=GENERATED_CLIENTS, seed=GENERATED_SEED)
        assert run_full_refresh().success
    marts = read_published(data_dir)
    attack = build_attack(marts)
    truth = true_values(data_dir)
    check_truth_matches_published(attack, truth)
    return data_dir, marts, attack, truth


AGGREGATE_MARTS = (
    "demographic_utilization",
    "length_of_stay",
    "step_down_transitions",
    "program_quality_monthly",
    "continuity_of_care",
)
# Aggregate marts of cost, intensity and diagnosis: attacked in tests/test_outcomes_depth.py.
# The cost marts apply the rule through sql/macros/cost.sql (episode_cost_summary).
OUTCOME_AGGREGATE_MARTS = (
    "episode_cost_by_level",
    "episode_cost_by_program",
    "episode_cost_by_payer",
    "episode_cost_monthly",
    "episode_cost_step_down",
    "treatment_intensity_by_level",
    "treatment_intensity_by_program",
    "diagnosis_outcomes",
)
# Record-level marts: their rows are persons (pseudonymized), so no aggregate suppression applies.
RECORD_LEVEL_MARTS = (
    "episodes",
    "reconciliation_person_day",
    "reconciliation_program_month",
    "check_history",
    "episode_cost",
)

# Every count a mart prints (not rates): 0 or 11+ wherever printed.
PRINTED_COUNTS = {
    "demographic_utilization": (
        "persons",
        "episodes",
        "completion_denominator",
        "step_down_denominator",
    ),
    "length_of_stay": ("persons", "episodes", "open_episodes", "episodes_with_reason"),
    "step_down_transitions": ("transitions", "from_level_discharges"),
    "program_quality_monthly": (
        "census",
        "admissions",
        "discharges",
        "discharges_with_reason",
        "step_down_30d_denominator",
    ),
    "continuity_of_care": ("denominator", "numerator"),
}
# Counts that a rate gives back: (rate, its denominator).
RATE_NUMERATORS = {
    "demographic_utilization": (
        ("completion_rate", "completion_denominator"),
        ("step_down_rate", "step_down_denominator"),
    ),
    "length_of_stay": (
        ("completion_rate", "episodes_with_reason"),
        ("dropout_rate", "episodes_with_reason"),
        ("transfer_rate", "episodes_with_reason"),
    ),
    "program_quality_monthly": (
        ("completion_rate", "discharges_with_reason"),
        ("step_down_30d_rate", "step_down_30d_denominator"),
    ),
}


def test_generated_data_has_primary_and_complementary_suppressed_cells(generated):
    _, marts, attack, truth = generated
    for mart in AGGREGATE_MARTS:
        df = marts[mart]
        assert df.suppressed.any(), mart
        # every suppressed row has every count null
        counts = [c for c in PRINTED_COUNTS[mart] if c in df and c != "open_episodes"]
        assert df.loc[df.suppressed, counts].isna().all().all(), mart
    du = marts["demographic_utilization"]
    persons = [
        truth[("du", int(r.period), r.level_of_care, r.dimension, r.dimension_value, "persons")]
        for r in du[du.suppressed].itertuples()
    ]
    primary = [p for p in persons if 1 <= p <= 10]
    complementary = [p for p in persons if p > 10]
    assert primary and complementary, (len(primary), len(complementary))
    los = marts["length_of_stay"]
    persons = [
        truth[("los", r.level_of_care, r.breakdown, _los_value(r), "persons")]
        for r in los[los.suppressed].itertuples()
    ]
    assert [p for p in persons if 1 <= p <= 10] and [p for p in persons if p > 10]


def test_no_published_count_shows_1_to_10(generated):
    """Counts of persons and episodes are 0 or > 10 wherever they are printed or a rate gives
    them back (an episode count is at least its person count, and open episodes are one per
    person and level)."""
    _, marts, _, _ = generated
    small = []
    for mart, columns in PRINTED_COUNTS.items():
        df = marts[mart]
        for column in columns:
            bad = df[df[column].notna() & df[column].between(1, 10)]
            small += [f"{mart}.{column} = {v}" for v in bad[column]]
        for rate, denominator in RATE_NUMERATORS.get(mart, ()):
            for r in df[[rate, denominator]].itertuples(index=False):
                numerator = _count_from_rate(r[0], r[1])
                if numerator is not None and 1 <= numerator <= 10:
                    small.append(f"{mart}.{rate} x {denominator} = {numerator}")
    assert not small, small[:20]


def test_no_suppressed_value_is_recoverable_from_totals_in_generated_marts(generated):
    _, _, attack, truth = generated
    leaks = recovered(attack, truth)
    assert not leaks, _format(leaks)


MONDAY = date(2025, 1, 6)
# 30 IOP clients in 2025, all aged 26-34 (birth date 1990-05-01), each with one IOP episode of
# Jan 6-10 and nothing after it: sex M 1 / F 29; race Asian 3, Black 12, White 15; payer
# Medicare 1, Commercial 1, Medicaid 28; program NORTHSIDE 1, EASTGATE 1, HILLCREST 28.
HAND_BUILT = (
    [("M", "White", "Medicare", "NORTHSIDE"), ("F", "White", "Commercial", "EASTGATE")]
    + [("F", "Asian", "Medicaid", "HILLCREST")] * 3
    + [("F", "Black or African American", "Medicaid", "HILLCREST")] * 12
    + [("F", "White", "Medicaid", "HILLCREST")] * 13
)
# In every aggregate mart, a line holding two 1-person cells (the clients of NORTHSIDE and
# EASTGATE, or of Medicare and Commercial) and a published total of 30: with the 28 of the third
# cell published, 30 - 28 = 2 pins both to 1. Key prefix of the attack -> (total, the two cells).
PAIRS = {
    "demographic_utilization": (
        ("du", 2025, "IOP", "all", "All persons", "persons"),
        [("du", 2025, "IOP", "payer", p, "persons") for p in ("Medicare", "Commercial")],
    ),
    "length_of_stay": (
        ("los", "IOP", "level_of_care", "All", "persons"),
        [("los", "IOP", "program", p, "persons") for p in ("NORTHSIDE", "EASTGATE")],
    ),
    "step_down_transitions": (
        ("sdt", "all", "IOP", "All", "NONE", "transitions"),
        [("sdt", "program", "IOP", p, "NONE", "transitions") for p in ("NORTHSIDE", "EASTGATE")],
    ),
    "program_quality_monthly": (
        ("pqm", "2025-01-01", "IOP", "All", "census"),
        [("pqm", "2025-01-01", "IOP", p, "census") for p in ("NORTHSIDE", "EASTGATE")],
    ),
    "continuity_of_care": (
        ("coc", "step_up_30d", "all", "All", "denominator"),
        [("coc", "step_up_30d", "program", p, "denominator") for p in ("NORTHSIDE", "EASTGATE")],
    ),
}


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("suppression_hand_built") / "data"
    landing = data_dir / "landing"
    clients = [f"B-{i:06d}" for i in range(1, len(HAND_BUILT) + 1)]
    sessions, roster = [], []
    for client, (sex, race, payer, program) in zip(clients, HAND_BUILT, strict=True):
        sessions += [
            {**row, "program_code": program}
            for row in b.vendor_b_sessions(client, "IOP", b.days(MONDAY, 0, 2, 4))
        ]
        roster.append(
            b.roster_row(
                client, "", payer=payer, sex=sex, race=race, ethnicity="Not Hispanic or Latino"
            )
        )
    sessions += b.vendor_b_sessions("B-000099", "OP", b.days(MONDAY, 200))
    roster.append(b.roster_row("B-000099"))
    b.write_csv(landing / "attendance/w1.csv", "attendance_vendor_b", sessions)
    b.write_csv(landing / "roster/r.csv", "roster_standard", roster)
    # a claim whose procedure is no level of care: the claims feed is present, no episode
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [b.claim_line("X1", "MCD-OTHER", MONDAY, procedure="99213")],
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.runner import run_full_refresh

        assert run_full_refresh().success
    marts = read_published(data_dir)
    du = marts["demographic_utilization"]
    cells = {
        (r.dimension, r.dimension_value): r
        for r in du[(du.period == 2025) & (du.level_of_care == "IOP")].itertuples()
    }
    return data_dir, marts, cells


def test_hand_built_totals_and_zero_shown_as_zero(hand_built):
    _, _, cells = hand_built
    total = cells[("all", "All persons")]
    assert not total.suppressed
    assert (total.persons, total.episodes) == (30, 30)
    assert (total.step_down_denominator, total.step_down_rate) == (30, 0.0)  # zero: shown
    assert total.completion_denominator == 0  # zero: shown
    assert not cells[("age_band", "26-34")].suppressed
    assert cells[("age_band", "26-34")].persons == 30
    assert not cells[("race_ethnicity", "White")].suppressed
    assert cells[("race_ethnicity", "White")].persons == 15
    # A value with nobody (sex X, U) is either absent or shown as 0, never suppressed.
    for value in ("X", "U"):
        row = cells.get(("sex", value))
        assert row is None or (not row.suppressed and row.persons == 0)


def test_hand_built_one_person_cell_is_suppressed_with_every_statistic(hand_built):
    _, marts, cells = hand_built
    male = cells[("sex", "M")]
    assert male.suppressed
    du = marts["demographic_utilization"]
    stats = [
        c
        for c in du.columns
        if c not in ("period", "level_of_care", "dimension", "dimension_value", "suppressed")
        and not c.endswith(("_label", "_suppressed", "_not_applicable"))
    ]
    row = du[
        (du.period == 2025)
        & (du.level_of_care == "IOP")
        & (du.dimension == "sex")
        & (du.dimension_value == "M")
    ]
    assert row[stats].isna().all().all(), row[stats].to_dict("records")
    # each of its measures says it is suppressed, none that it is not applicable
    flags = [c for c in du.columns if c.endswith("_suppressed")]
    assert flags and row[flags].all().all(), row[flags].to_dict("records")
    not_applicable = [c for c in du.columns if c.endswith("_not_applicable")]
    assert not_applicable and not row[not_applicable].any().any()


def test_hand_built_single_primary_cell_gets_complementary_suppression(hand_built):
    _, _, cells = hand_built
    # sex: M (1) primary -> F (29), the only other cell, complementary
    assert cells[("sex", "F")].suppressed
    # race: Asian (3) primary -> Black (12), the smallest other cell, complementary; White shown
    assert cells[("race_ethnicity", "Asian")].suppressed
    assert cells[("race_ethnicity", "Black or African American")].suppressed
    assert not cells[("race_ethnicity", "White")].suppressed


@pytest.mark.parametrize("mart", AGGREGATE_MARTS)
def test_hand_built_pair_of_one_person_cells_is_hidden_with_a_complement(hand_built, mart):
    """Each mart's pair line: both 1-person cells suppressed, the total of 30 published, and the
    third cell (28) suppressed as well, so that the remainder 30 pins nothing."""
    data_dir, marts, _ = hand_built
    attack = build_attack(marts)
    truth = true_values(data_dir)
    total, pair = PAIRS[mart]
    assert attack.known.get(total) == 30, (mart, total)
    for cell in pair:
        assert cell in attack.unknown and truth[cell] == 1, (mart, cell)
    line = next(
        eq for eq in attack.equations if eq.total == total and {k for _, k in eq.terms} >= set(pair)
    )
    others = [k for _, k in line.terms if k != total and k not in pair]
    assert others and all(k in attack.unknown for k in others), (mart, line.label, others)
    assert sum(truth[k] for k in others) == 28


def test_hand_built_no_suppressed_value_is_recoverable(hand_built):
    """Every aggregate mart holds a line with two 1-person cells (PAIRS): with only those two
    suppressed, total 30 - published 28 = 2 over two cells of >= 1 person pins both to 1."""
    data_dir, marts, _ = hand_built
    attack = build_attack(marts)
    truth = true_values(data_dir)
    check_truth_matches_published(attack, truth)
    assert {eq.label.split()[0] for eq in attack.equations} == set(AGGREGATE_MARTS)
    leaks = recovered(attack, truth)
    assert not leaks, _format(leaks)


def test_hand_built_pairs_are_recovered_without_complementary_suppression(hand_built):
    """The attack is not toothless: publish what complementary suppression hid (every suppressed
    count of 11 or more) and it pins both 1-person cells of every mart's pair line."""
    data_dir, marts, _ = hand_built
    attack = build_attack(marts)
    truth = true_values(data_dir)
    for key in [k for k in attack.unknown if truth.get(k, 0) >= 11]:
        attack.known[key] = truth[key]
        del attack.unknown[key]
    pinned = attack.solve()
    for mart, (_, pair) in PAIRS.items():
        for cell in pair:
            assert cell in pinned and pinned[cell][0] == 1, (mart, cell)


def _rule_text() -> str:
    """The RULE paragraph of sql/macros/suppression.sql, as one line of text."""
    macros = (ROOT / "sql" / "macros" / "suppression.sql").read_text()
    match = re.search(r"^-- RULE: (.*?)\n--\n", macros, flags=re.S | re.M)
    assert match, "sql/macros/suppression.sql has no RULE paragraph"
    return " ".join(line.removeprefix("--").strip() for line in match.group(1).splitlines())


def _sidecar(mart: str) -> dict:
    return yaml.safe_load((ROOT / "sql" / "marts" / f"marts__{mart}.yml").read_text())["models"][0]


def test_docs_state_the_rule_the_sql_applies():
    """One rule, written once: every aggregate mart quotes the macro file's RULE paragraph word for
    word in its description and in its `suppressed` column, and its SQL applies it through the
    macros, with no hand-written cell-size test of its own. Every mart is one or the other."""
    rule = _rule_text()
    assert "1-10 persons" in rule and "11 or more" in rule
    marts = {
        p.name.removeprefix("marts__").removesuffix(".sql")
        for p in (ROOT / "sql" / "marts").glob("marts__*.sql")
    }
    combined = {"length_of_stay", *SPLIT_FAMILIES}
    aggregate = [m for m in AGGREGATE_MARTS if m not in combined] + list(LOS_MARTS)
    aggregate += [
        m
        for family, parts in SPLIT_FAMILIES.items()
        if family != "treatment_intensity"  # with the outcome marts
        for m in parts
    ]
    assert marts == set(aggregate) | set(OUTCOME_AGGREGATE_MARTS) | set(RECORD_LEVEL_MARTS)
    # the length-of-stay marts share one macro that applies the rule to the five together, and so
    # do the step-down marts and the continuity marts, three by three, and the monthly KPI and
    # treatment-intensity marts, two by two: each family is computed once by an intermediate
    # model calling its macro, and each of its marts selects its rows from that model
    family_macros = {
        "length_of_stay": ("length_of_stay.sql", "length_of_stay_breakdowns"),
        "step_down_transitions": ("step_down.sql", "step_down_breakdowns"),
        "continuity_of_care": ("continuity.sql", "continuity_breakdowns"),
        "treatment_intensity": ("intensity.sql", "treatment_intensity_cells"),
        "program_quality_monthly": ("program_quality.sql", "program_quality_cells"),
    }
    family_of = {m: f for f, parts in SPLIT_FAMILIES.items() for m in parts}
    family_of |= {m: "length_of_stay" for m in LOS_MARTS}
    los_macro = (ROOT / "sql" / "macros" / "length_of_stay.sql").read_text()
    assert "{{ suppress_rows(" in los_macro and "{{ suppress_counts(" in los_macro
    cost_macro = (ROOT / "sql" / "macros" / "cost.sql").read_text()
    assert "{{ suppress_rows(" in cost_macro
    for mart in aggregate + list(OUTCOME_AGGREGATE_MARTS):
        sql = (ROOT / "sql" / "marts" / f"marts__{mart}.sql").read_text()
        if mart in family_of:
            macro_file, macro = family_macros[family_of[mart]]
            assert f"{{{{ ref('intermediate__{macro}') }}}}" in sql, mart
            assert "suppress_" not in sql, f"{mart}: selects its rows of the family, as suppressed"
            model = (ROOT / "sql" / "intermediate" / f"intermediate__{macro}.sql").read_text()
            assert f"{{{{ {macro}() }}}}" in model, macro
            sql = (ROOT / "sql" / "macros" / macro_file).read_text()
        assert "{{ suppress_rows(" in sql or "{{ episode_cost_summary(" in sql, mart
        assert not re.search(r"between\s+1\s+and\s+10|[<>]=?\s*1[01]\b", sql), mart
        doc = _sidecar(mart)
        assert rule in " ".join(doc["description"].split()), f"{mart}: description lacks the rule"
        suppressed = next(c for c in doc["columns"] if c["name"] == "suppressed")
        assert "small-cell rule" in suppressed["description"], mart
    for mart in RECORD_LEVEL_MARTS:
        sql = (ROOT / "sql" / "marts" / f"marts__{mart}.sql").read_text()
        assert "suppress_" not in sql, mart
        assert "not suppressed" in _sidecar(mart)["description"], mart
