"""Every query the outcomes report runs, in one place (so a change of the marts' shape is a
change of this module only).

The report reads the working database read-only, inside the pipeline's warehouse pool: the marts
exactly as published in the same run, the as-of date (latest session date, as the marts define
it) and the audit tables for the data-quality section. It reads only aggregates and marts that are
already de-identified; the one table it aggregates itself (episodes by LOS bin) is suppressed in
iop/report/suppress.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from iop.report.reference import LOS_BINS
from iop.report.suppress import suppress_table

# The row that merges the programs whose totals the marts suppress (every cell of it hidden).
SUPPRESSED_PROGRAMS = "programs with suppressed totals"
MONTHLY_COLUMNS = (
    "month, level_of_care, month_complete, step_down_window_complete, suppressed, census, "
    "admissions, discharges, sessions_scheduled, sessions_attended, no_show_rate, median_los, "
    "completion_rate, step_down_30d_rate, claims_reconciliation_rate, data_quality_pass_rate"
)


@dataclass
class LosTable:
    """Discharged episodes of one level of care by program x LOS bin (with 'All' and 'Total')."""

    level_of_care: str
    counts: dict[str, dict[str, int]]
    hidden: set[tuple[str, str]]
    medians: dict[str, float | None] = field(default_factory=dict)


@dataclass
class ReportData:
    as_of: dt.date
    provisional_days: int
    monthly: pd.DataFrame  # program_quality_monthly_overall, + provisional
    los: list[LosTable]
    los_summary: pd.DataFrame  # length_of_stay_by_level
    transitions: pd.DataFrame  # step_down_transitions_overall
    continuity: pd.DataFrame  # continuity_of_care_overall ('All') + _by_program
    disparities: pd.DataFrame  # demographic_utilization
    cost: pd.DataFrame  # episode_cost_by_level
    intensity: pd.DataFrame  # treatment_intensity_by_level ('All') + _by_program
    checks_by_run: pd.DataFrame
    quarantine: pd.DataFrame
    files: pd.DataFrame


def as_of_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The data's as-of date: the latest session date (what marts.program_quality_monthly_* use)."""
    return con.execute("select max(session_date) from core.sessions").fetchone()[0]


def monthly(con: duckdb.DuckDBPyConnection, as_of: dt.date, provisional_days: int) -> pd.DataFrame:
    """KPIs by month and level of care (every program of the level). A month is provisional
    until its last day is `provisional_days` before the as-of date: claims arrive weeks after
    service and episodes close episode_gap_days after their last session, so its figures still
    move."""
    frame = con.execute(
        f"""
        select {MONTHLY_COLUMNS}
            , round(sessions_attended / nullif(sessions_scheduled, 0), 4) as attendance_rate
            , not month_complete
                or last_day(month) > ?::date - ? as provisional
        from marts.program_quality_monthly_overall
        order by level_of_care, month
        """,
        [as_of, provisional_days],
    ).df()
    return frame


def los_tables(con: duckdb.DuckDBPyConnection) -> list[LosTable]:
    """Per level of care: discharged episodes by program and LOS bin, suppressed (a cell is
    small when its episodes or its distinct persons are 1-10)."""
    case = " ".join(
        f"when teds_los between {low} and {high} then '{label}'" for label, low, high in LOS_BINS
    )
    rows = con.execute(
        f"""
        with binned as (
            select level_of_care, level_rank, program, person_key
                , case {case} end as los_bin
            from marts.episodes
            where not is_open and teds_los is not null
        )
        select level_of_care, any_value(level_rank) as level_rank
            , coalesce(program, 'All') as program, coalesce(los_bin, 'Total') as los_bin
            , count(*) as episodes, count(distinct person_key) as persons
        from binned
        group by grouping sets (
            (level_of_care, program, los_bin), (level_of_care, program)
            , (level_of_care, los_bin), (level_of_care)
        )
        order by level_rank desc, level_of_care, program, los_bin
        """
    ).fetchall()
    marts_rows = con.execute(
        """
        select level_of_care, 'level_of_care' as breakdown, 'All' as program, suppressed
            , median_los
        from marts.length_of_stay_by_level
        union all
        select level_of_care, 'program', program, suppressed, median_los
        from marts.length_of_stay_by_program
        """
    ).fetchall()
    suppressed_levels = {lvl for lvl, b, _, s, _ in marts_rows if b == "level_of_care" and s}
    suppressed_programs = {(lvl, p) for lvl, b, p, s, _ in marts_rows if b == "program" and s}
    columns = [label for label, _, _ in LOS_BINS]
    tables_in: dict[str, dict[str, dict[str, int]]] = {}
    small: dict[str, set[tuple[str, str]]] = {}
    for level, _, program, los_bin, episodes, persons in rows:
        if level in suppressed_levels:
            continue  # the marts suppress the level's total: no table for it
        if los_bin == "Total":
            continue  # row totals: published in marts.length_of_stay_by_program
        if program == "All":
            if 0 < persons <= 10:
                small.setdefault(level, set()).add(("All", los_bin))
            continue
        row = SUPPRESSED_PROGRAMS if (level, program) in suppressed_programs else program
        cells = tables_in.setdefault(level, {}).setdefault(row, {})
        cells[los_bin] = cells.get(los_bin, 0) + episodes
        if 0 < persons <= 10:
            small.setdefault(level, set()).add((row, los_bin))
    tables = []
    for level, table in tables_in.items():
        merged = (
            {(SUPPRESSED_PROGRAMS, c) for c in columns} if SUPPRESSED_PROGRAMS in table else set()
        )
        counts, hidden = suppress_table(
            table, columns, small.get(level, set()) | merged, published_totals=True
        )
        level_medians = {p: m for lvl, _, p, s, m in marts_rows if lvl == level and not s}
        tables.append(LosTable(level, counts, hidden, level_medians))
    return tables


def los_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select l.level_of_care, l.suppressed, l.persons, l.episodes, l.open_episodes
            , l.median_los, l.p25_los, l.p75_los, l.p90_los
            , l.completion_rate, l.dropout_rate, l.transfer_rate
        from marts.length_of_stay_by_level as l
        order by l.level_of_care
        """
    ).df()


def transitions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select from_level, to_level, direction, suppressed, transitions, from_level_discharges
            , transition_rate, median_days_to_next, p75_days_to_next
        from marts.step_down_transitions_overall
        order by from_level, to_level
        """
    ).df()


def continuity(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every discharge (program 'All', `overall` true) and each program, measure by measure."""
    return con.execute(
        """
        select measure, true as overall, 'All' as program, suppressed, denominator, numerator
            , rate, rate_ci_low, rate_ci_high
        from marts.continuity_of_care_overall
        union all
        select measure, false, program, suppressed, denominator, numerator
            , rate, rate_ci_low, rate_ci_high
        from marts.continuity_of_care_by_program
        order by measure, overall desc, program
        """
    ).df()


def cost(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Cost of closed episodes by level of care (marts.episode_cost_by_level): allowed amounts per
    episode (quartiles), per day of stay and per attended hour (medians)."""
    return con.execute(
        """
        select c.level_of_care, c.suppressed, c.persons, c.episodes, c.costed_episodes
            , c.episodes_without_claims, c.p25_allowed_per_episode, c.median_allowed_per_episode
            , c.p75_allowed_per_episode, c.median_paid_per_episode, c.median_allowed_per_day
            , c.median_allowed_per_attended_hour, c.remitted_line_share
        from marts.episode_cost_by_level as c
        join seeds.level_of_care as l using (level_of_care)
        order by l.rank::integer desc, c.level_of_care
        """
    ).df()


def intensity(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Share of full episode-weeks meeting the ASAM minimum, by level (IOP, PHP) and program."""
    return con.execute(
        """
        select level_of_care, 'All' as program, suppressed, persons, episodes, weeks_judged
            , share_weeks_meeting_minimum, p25_weekly_hours, median_weekly_hours
            , p75_weekly_hours
        from marts.treatment_intensity_by_level
        union all
        select level_of_care, program, suppressed, persons, episodes, weeks_judged
            , share_weeks_meeting_minimum, p25_weekly_hours, median_weekly_hours
            , p75_weekly_hours
        from marts.treatment_intensity_by_program
        order by level_of_care, program = 'All' desc, program
        """
    ).df()


def disparities(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select period, level_of_care, dimension, dimension_value, suppressed, persons, episodes
            , sessions_per_person, median_los
            , completion_denominator, completion_rate, completion_rate_ci_low
            , completion_rate_ci_high, completion_rate_ratio
            , step_down_denominator, step_down_rate, step_down_rate_ci_low
            , step_down_rate_ci_high, step_down_rate_ratio
        from marts.demographic_utilization
        order by period, level_of_care, dimension, dimension_value
        """
    ).df()


def checks_by_run(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Great Expectations results per check run (audit.check_results): passed / failed."""
    return con.execute(
        """
        select min(checked_at) as checked_at
            , count(*) filter (where status = 'passed') as passed
            , count(*) filter (where status = 'failed') as failed
            , count(*) filter (where status = 'failed' and severity = 'critical')
                as failed_critical
            , count(*) filter (where status not in ('passed', 'failed')) as not_applicable
        from audit.check_results
        group by run_id
        order by checked_at
        """
    ).df()


def quarantine(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined rows by feed and rule (counts only: the rows themselves hold identifiers)."""
    return con.execute(
        """
        select feed, rule, count(*) as rows_quarantined, count(distinct file_sha256) as files
        from audit.quarantine
        group by all
        order by rows_quarantined desc, feed, rule
        """
    ).df()


def files(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Landed file contents by feed and ingest status (no file names: they may name people)."""
    return con.execute(
        """
        select feed, status, count(*) as files, coalesce(sum(rows_read), 0) as rows_read
        from audit.landed_files
        group by all
        order by feed, status
        """
    ).df()


def load(con: duckdb.DuckDBPyConnection, provisional_days: int) -> ReportData:
    as_of = as_of_date(con)
    if as_of is None:
        raise ValueError("no sessions in core.sessions: nothing to report yet")
    return ReportData(
        as_of=as_of,
        provisional_days=provisional_days,
        monthly=monthly(con, as_of, provisional_days),
        los=los_tables(con),
        los_summary=los_summary(con),
        transitions=transitions(con),
        continuity=continuity(con),
        disparities=disparities(con),
        cost=cost(con),
        intensity=intensity(con),
        checks_by_run=checks_by_run(con),
        quarantine=quarantine(con),
        files=files(con),
    )
