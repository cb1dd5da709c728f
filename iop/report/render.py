"""The outcomes report as one self-contained HTML page: inline CSS and SVG, no script, no link
to anything outside the file. Every text that comes from data is escaped (html.escape).

Small cells: a count the marts suppressed (a null count: 1-10 persons, or a complementary cell)
is written "<11", never a number; a rate or statistic that is null (its counts are suppressed,
or it does not apply) is written "–". Count cells carry class="n" (persons and episodes), so a
test can find them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from html import escape

import pandas as pd

from iop.report import charts
from iop.report.data import ReportData
from iop.report.reference import (
    LOS_BINS,
    TEDS_D_2004_IOP,
    TEDS_D_2004_IOP_SOURCE,
    TEDS_D_2004_OP_MEDIAN_LOS_DAYS,
    TEDS_D_2019_LOS_SOURCE,
    national_los_shares,
)

SUPPRESSED = "<11"
MISSING = "–"
SECTIONS = (
    ("kpis", "Program KPIs by month"),
    ("los", "Length of stay"),
    ("step-down", "Step-down and step-up transitions"),
    ("continuity", "Continuity of care"),
    ("cost", "Cost of care"),
    ("intensity", "Treatment intensity"),
    ("disparities", "Utilization and outcomes by group"),
    ("data-quality", "Data quality"),
)
KPIS = (
    ("census", "Census (persons)"),
    ("admissions", "Admissions (episodes)"),
    ("attendance_rate", "Attendance rate"),
    ("no_show_rate", "No-show rate"),
    ("completion_rate", "Completion rate"),
    ("median_los", "Median LOS of discharges (days)"),
    ("claims_reconciliation_rate", "Attended days billed"),
)
RATE_KPIS = {"attendance_rate", "no_show_rate", "completion_rate", "claims_reconciliation_rate"}
COUNT_KPIS = {"census", "admissions"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #1b6ca8;padding-bottom:.2em;
margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f2f5f8}td.l,th.l{text-align:left}
tr.provisional td{color:#888;font-style:italic}
.note{color:#555;font-size:.85em}.headline{display:flex;flex-wrap:wrap;gap:.8em}
.card{border:1px solid #ccd;border-radius:6px;padding:.5em .8em;min-width:9em}
.card b{display:block;font-size:1.3em}nav a{margin-right:1em}
svg{max-width:100%;height:auto}
"""


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def count(value, suppressed: bool = True) -> str:
    """A count of persons or episodes: "<11" when null (in the marts a null count is a suppressed
    one: 1-10, or a complementary cell; pass suppressed=False where null means "does not apply")
    and for any value from 1 to 10, which the marts never publish; else the number."""
    if _missing(value):
        return SUPPRESSED if suppressed else MISSING
    number = int(value)
    if 0 < number <= 10:
        return SUPPRESSED  # never expected from a mart; a guard, not a rule
    return f"{number:,}"


def rate(value) -> str:
    return MISSING if _missing(value) else f"{float(value):.1%}"


def number(value, digits: int = 1) -> str:
    return MISSING if _missing(value) else f"{float(value):,.{digits}f}"


def interval(low, high) -> str:
    if _missing(low) or _missing(high):
        return MISSING
    return f"{float(low):.1%}–{float(high):.1%}"


def table(header: Sequence[str], rows: Iterable[Sequence[tuple[str, str]]], **attrs) -> str:
    """rows of (text, css class) cells; text is escaped here. The first column is left-aligned."""
    head = "".join(
        f'<th class="l">{escape(h)}</th>' if i == 0 else f"<th>{escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        row_class = attrs.get("row_class", lambda r: "")(row)
        cells = "".join(
            f'<td class="{escape(css)}">{escape(text)}</td>' if css else f"<td>{escape(text)}</td>"
            for text, css in row
        )
        body.append(
            f'<tr class="{escape(row_class)}">{cells}</tr>' if row_class else f"<tr>{cells}</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _month(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m")


def kpi_section(data: ReportData) -> str:
    monthly = data.monthly
    parts = [
        f'<p class="note">Months whose last day is less than {data.provisional_days} days before '
        f"the as-of date ({escape(str(data.as_of))}) are <i>provisional</i>: claims arrive weeks "
        "after service and episodes close only after a gap without sessions, so their figures "
        "still move. They are drawn as hollow points (not joined), written in grey italics in the "
        "tables, and left out of the headline figures.</p>"
    ]
    # Headline: the latest final month of each level.
    cards = []
    for level, rows in monthly.groupby("level_of_care", sort=True):
        final = rows[~rows["provisional"]]
        if final.empty:
            continue
        last = final.iloc[-1]
        values = [
            ("census", count(last["census"])),
            ("admissions", count(last["admissions"])),
            ("attendance", rate(last["attendance_rate"])),
            ("completion", rate(last["completion_rate"])),
            ("billed days", rate(last["claims_reconciliation_rate"])),
        ]
        body = "".join(f"<div>{escape(k)}: <b>{escape(v)}</b></div>" for k, v in values)
        cards.append(
            f'<div class="card"><div>{escape(str(level))}, {escape(_month(last["month"]))}</div>'
            f"{body}</div>"
        )
    parts.append(
        "<h3>Headline: latest final month</h3>"
        f'<div class="headline">{"".join(cards) or "<p>No final month yet.</p>"}</div>'
    )
    series: dict[str, dict[str, list[tuple]]] = {}
    for kpi, _ in KPIS:
        for level, rows in monthly.groupby("level_of_care", sort=True):
            series.setdefault(kpi, {})[str(level)] = [
                (pd.Timestamp(m).to_pydatetime(), None if _missing(v) else float(v), bool(p))
                for m, v, p in zip(rows["month"], rows[kpi], rows["provisional"], strict=True)
            ]
    parts.append(charts.monthly_lines(series, KPIS))
    recent = monthly.sort_values(["level_of_care", "month"]).groupby("level_of_care").tail(12)
    rows = []
    for _, r in recent.iterrows():
        rows.append(
            [
                (str(r["level_of_care"]), "l"),
                (_month(r["month"]) + (" (provisional)" if r["provisional"] else ""), "l"),
                (count(r["census"]), "n"),
                (count(r["admissions"]), "n"),
                (count(r["discharges"]), "n"),
                (rate(r["attendance_rate"]), ""),
                (rate(r["no_show_rate"]), ""),
                (rate(r["completion_rate"]), ""),
                (number(r["median_los"]), ""),
                (rate(r["claims_reconciliation_rate"]), ""),
            ]
        )
    parts.append("<h3>The last 12 months by level of care (every EHR program)</h3>")
    parts.append(
        table(
            [
                "Level",
                "Month",
                "Census",
                "Admissions",
                "Discharges",
                "Attendance",
                "No-show",
                "Completion",
                "Median LOS",
                "Billed days",
            ],
            rows,
            row_class=lambda row: "provisional" if "(provisional)" in row[1][0] else "",
        )
    )
    return "".join(parts)


def los_section(data: ReportData) -> str:
    bins = [label for label, _, _ in LOS_BINS]
    national = national_los_shares()
    shares: dict[str, dict[str, float | None]] = {}
    parts = [
        '<p class="note">Discharged episodes by length of stay (TEDS-D LOS codes grouped: days '
        "1–30 in three bins, then the TEDS-D bands), beside the national distribution: "
        f"{escape(TEDS_D_2019_LOS_SOURCE)}. That reference mixes every setting (detox and "
        "residential included); for intensive outpatient alone, "
        f"{escape(TEDS_D_2004_IOP_SOURCE)}: median LOS {TEDS_D_2004_IOP['median_los_days']} days "
        f"(completers {TEDS_D_2004_IOP['median_los_completers_days']}, dropouts "
        f"{TEDS_D_2004_IOP['median_los_dropouts_days']}), completed "
        f"{TEDS_D_2004_IOP['completed']:.1%}, transferred {TEDS_D_2004_IOP['transferred']:.1%}, "
        f"dropped out {TEDS_D_2004_IOP['dropped_out']:.1%}; non-intensive outpatient median "
        f"{TEDS_D_2004_OP_MEDIAN_LOS_DAYS} days.</p>"
    ]
    for los in data.los:
        all_row = los.counts["All"]
        total = all_row["Total"]
        shown_total = ("All", "Total") not in los.hidden and total > 0
        shares[los.level_of_care] = {
            b: (all_row[b] / total if shown_total and ("All", b) not in los.hidden else None)
            for b in bins
        }
    if shares:
        parts.append(charts.los_distribution(bins, shares, national))
    summary_rows = []
    for _, r in data.los_summary.iterrows():
        summary_rows.append(
            [
                (str(r["level_of_care"]), "l"),
                (count(r["persons"]), "n"),
                (count(r["episodes"]), "n"),
                (count(r["open_episodes"]), "n"),
                (number(r["median_los"], 0), ""),
                (f"{number(r['p25_los'], 0)}–{number(r['p75_los'], 0)}", ""),
                (number(r["p90_los"], 0), ""),
                (rate(r["completion_rate"]), ""),
                (rate(r["dropout_rate"]), ""),
                (rate(r["transfer_rate"]), ""),
            ]
        )
    parts.append("<h3>By level of care</h3>")
    parts.append(
        table(
            [
                "Level",
                "Persons",
                "Discharged episodes",
                "Open episodes",
                "Median LOS",
                "IQR",
                "P90",
                "Completed",
                "Dropped out",
                "Transferred",
            ],
            summary_rows,
        )
    )
    for los in data.los:
        parts.append(f"<h3>{escape(los.level_of_care)}: discharged episodes by program</h3>")
        rows = []
        for program, values in los.counts.items():
            rows.append(
                [(str(program), "l")]
                + [
                    (SUPPRESSED if (program, c) in los.hidden else count(values[c]), "n")
                    for c in [*bins, "Total"]
                ]
                + [(number(los.medians.get(program), 0), "")]
            )
        parts.append(table(["Program", *bins, "Total", "Median LOS"], rows))
    return "".join(parts)


def step_down_section(data: ReportData) -> str:
    frame = data.transitions
    if frame.empty:
        return "<p>No transitions yet.</p>"
    levels = ("INPT", "WM", "RES", "PHP", "IOP", "OP")
    sources = [lvl for lvl in levels if lvl in set(frame["from_level"])]
    targets = [lvl for lvl in levels if lvl in set(frame["to_level"])]
    if "NONE" in set(frame["to_level"]):
        targets.append("NONE")
    cells: dict[tuple[str, str], str | float] = {}
    rows = []
    for _, r in frame.iterrows():
        suppressed = bool(r["suppressed"])
        key = (str(r["from_level"]), str(r["to_level"]))
        cells[key] = (
            SUPPRESSED
            if suppressed
            else (None if _missing(r["transition_rate"]) else float(r["transition_rate"]))
        )
        rows.append(
            [
                (key[0], "l"),
                ("none" if key[1] == "NONE" else key[1], "l"),
                (str(r["direction"]), "l"),
                (count(r["transitions"]), "n"),
                (count(r["from_level_discharges"]), "n"),
                (rate(r["transition_rate"]), ""),
                (number(r["median_days_to_next"], 1), ""),
                (number(r["p75_days_to_next"], 1), ""),
            ]
        )
    return (
        '<p class="note">Share of each level\'s discharges followed by each next level of care '
        '(column "NONE": no next level within the window). "&lt;11": a suppressed cell.</p>'
        + charts.matrix(sources, targets, cells)
        + "<h3>Flows and days to the next level</h3>"
        + table(
            [
                "From",
                "To",
                "Direction",
                "Transitions",
                "Discharges from",
                "Rate",
                "Median days to next",
                "P75 days",
            ],
            rows,
        )
    )


def continuity_section(data: ReportData) -> str:
    frame = data.continuity
    parts = [
        '<p class="note">Rates with 95% Wilson score intervals. follow_up_7d / 30d: a next level '
        "of care started within 7 / 30 days of a higher-level discharge; step_up_30d / 90d: a "
        "higher level within 30 / 90 days of discharge (lower is better).</p>"
    ]
    overall = frame[frame["overall"]]
    if not overall.empty:
        parts.append(
            charts.intervals(
                [str(m) for m in overall["measure"]],
                list(overall["rate"]),
                list(overall["rate_ci_low"]),
                list(overall["rate_ci_high"]),
                title="Every discharge",
            )
        )
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            [
                (str(r["measure"]), "l"),
                (str(r["program"]), "l"),
                (count(r["denominator"]), "n"),
                (count(r["numerator"]), "n"),
                (rate(r["rate"]), ""),
                (interval(r["rate_ci_low"], r["rate_ci_high"]), ""),
            ]
        )
    parts.append(table(["Measure", "Program", "Denominator", "Numerator", "Rate", "95% CI"], rows))
    return "".join(parts)


def money(value, digits: int = 0) -> str:
    return MISSING if _missing(value) else f"${float(value):,.{digits}f}"


def cost_section(data: ReportData) -> str:
    """Cost by level of care (marts.episode_cost_by_level): allowed amount per episode (median and
    quartiles), per day of stay and per attended hour."""
    frame = data.cost
    if frame.empty:
        return "<p>No closed episode with a claim yet.</p>"
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            [
                (str(r["level_of_care"]), "l"),
                (count(r["episodes"]), "n"),
                (count(r["costed_episodes"]), "n"),
                (count(r["episodes_without_claims"]), "n"),
                (money(r["p25_allowed_per_episode"]), ""),
                (money(r["median_allowed_per_episode"]), ""),
                (money(r["p75_allowed_per_episode"]), ""),
                (money(r["median_paid_per_episode"]), ""),
                (money(r["median_allowed_per_day"]), ""),
                (money(r["median_allowed_per_attended_hour"], 2), ""),
                (rate(r["remitted_line_share"]), ""),
            ]
        )
    shown = frame[frame["median_allowed_per_day"].notna()]
    chart = (
        charts.bars(
            [str(level) for level in shown["level_of_care"]],
            [float(v) for v in shown["median_allowed_per_day"]],
            title="Median allowed amount per day of stay",
            xlabel="US dollars per day",
        )
        if not shown.empty
        else ""
    )
    return (
        '<p class="note">Allowed amounts of each closed episode\'s final claim lines (835 '
        "remittance amounts where present, claim amounts otherwise). Per episode: 25th percentile, "
        "median and 75th percentile; per day of stay and per attended hour: medians over the "
        "costed episodes (per hour only where sessions were recorded). Episodes without claims "
        'have no cost and are left out, not counted as 0. "&lt;11": a suppressed count; the '
        "amounts of a suppressed row are not shown (–).</p>"
        + chart
        + table(
            [
                "Level of care",
                "Episodes",
                "Costed episodes",
                "Without claims",
                "P25 per episode",
                "Median per episode",
                "P75 per episode",
                "Median paid per episode",
                "Median per day",
                "Median per attended hour",
                "Lines from 835",
            ],
            rows,
        )
    )


def intensity_section(data: ReportData) -> str:
    """Share of full episode-weeks meeting the ASAM minimum, by level and program
    (marts.treatment_intensity_by_level and _by_program)."""
    frame = data.intensity
    if frame.empty:
        return "<p>No full IOP or PHP episode-week yet.</p>"
    parts = [
        '<p class="note">Full episode-weeks of IOP and PHP episodes judged against the ASAM '
        "minimum (IOP: 9 hours a week for adults, 6 for adolescents; PHP: 20), the share that met "
        "it, and attended hours in a week (a week without attendance counts as 0). Program "
        '"All": every program of the level. "&lt;11": a suppressed count.</p>'
    ]
    for level, group in frame.groupby("level_of_care", sort=True):
        programs = group[group["program"] != "All"]
        if not programs.empty:
            parts.append(
                charts.intervals(
                    [str(p) for p in group["program"]],
                    list(group["share_weeks_meeting_minimum"]),
                    [None] * len(group),
                    [None] * len(group),
                    title=f"{level}: share of weeks meeting the ASAM minimum",
                )
            )
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            [
                (str(r["level_of_care"]), "l"),
                (str(r["program"]), "l"),
                (count(r["persons"]), "n"),
                (count(r["episodes"]), "n"),
                (count(r["weeks_judged"]), "n"),
                (rate(r["share_weeks_meeting_minimum"]), ""),
                (number(r["p25_weekly_hours"], 1), ""),
                (number(r["median_weekly_hours"], 1), ""),
                (number(r["p75_weekly_hours"], 1), ""),
            ]
        )
    parts.append(
        table(
            [
                "Level of care",
                "Program",
                "Persons",
                "Episodes",
                "Weeks judged",
                "Weeks meeting minimum",
                "P25 hours/week",
                "Median hours/week",
                "P75 hours/week",
            ],
            rows,
        )
    )
    return "".join(parts)


def disparities_section(data: ReportData) -> str:
    frame = data.disparities
    if frame.empty:
        return "<p>No episodes yet.</p>"
    parts = [
        '<p class="note">Per year and level of care, by race/ethnicity (OMB SPD 15, 2024), sex, '
        "age band and payer. Rate ratio: the group's rate over the rate of every person of the "
        'level and year ("All persons"); intervals are 95% Wilson intervals of the rates. '
        '"&lt;11": a suppressed group (1–10 persons, or a complementary cell); "–": a rate whose '
        "counts are suppressed or that does not apply.</p>"
    ]
    latest = frame["period"].max()
    for level, rows in frame[frame["period"] == latest].groupby("level_of_care", sort=True):
        rows = rows[rows["dimension"] != "all"]
        reference = frame[
            (frame["period"] == latest)
            & (frame["level_of_care"] == level)
            & (frame["dimension"] == "all")
        ]["completion_rate"]
        parts.append(
            charts.intervals(
                [
                    f"{d}: {v}"
                    for d, v in zip(rows["dimension"], rows["dimension_value"], strict=True)
                ],
                list(rows["completion_rate"]),
                list(rows["completion_rate_ci_low"]),
                list(rows["completion_rate_ci_high"]),
                reference=None if reference.empty else reference.iloc[0],
                title=f"{level}, {latest}: completion rate by group (dashed: all persons)",
            )
        )
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            [
                (str(r["period"]), "l"),
                (str(r["level_of_care"]), "l"),
                (str(r["dimension"]), "l"),
                (str(r["dimension_value"]), "l"),
                (count(r["persons"]), "n"),
                (count(r["episodes"]), "n"),
                (number(r["sessions_per_person"]), ""),
                (number(r["median_los"], 0), ""),
                (rate(r["completion_rate"]), ""),
                (interval(r["completion_rate_ci_low"], r["completion_rate_ci_high"]), ""),
                (number(r["completion_rate_ratio"], 2), ""),
                (rate(r["step_down_rate"]), ""),
                (interval(r["step_down_rate_ci_low"], r["step_down_rate_ci_high"]), ""),
                (number(r["step_down_rate_ratio"], 2), ""),
            ]
        )
    parts.append(
        table(
            [
                "Year",
                "Level",
                "Dimension",
                "Group",
                "Persons",
                "Episodes",
                "Sessions/person",
                "Median LOS",
                "Completion",
                "95% CI",
                "Ratio",
                "Step-down",
                "95% CI",
                "Ratio",
            ],
            rows,
        )
    )
    return "".join(parts)


def data_quality_section(data: ReportData) -> str:
    parts = []
    runs = data.checks_by_run
    if not runs.empty:
        decided = runs["passed"] + runs["failed"]
        pass_rate = (runs["passed"] / decided.where(decided > 0)).fillna(1.0)
        parts.append(
            charts.line(
                [pd.Timestamp(t).to_pydatetime() for t in runs["checked_at"]],
                list(pass_rate),
                title="Great Expectations checks passed, per run",
                ylabel="pass rate",
            )
        )
        rows = [
            [
                (pd.Timestamp(r["checked_at"]).strftime("%Y-%m-%d %H:%M"), "l"),
                (f"{int(r['passed']):,}", "q"),
                (f"{int(r['failed']):,}", "q"),
                (f"{int(r['failed_critical']):,}", "q"),
                (f"{int(r['not_applicable']):,}", "q"),
            ]
            for _, r in runs.tail(20).iterrows()
        ]
        parts.append("<h3>Check runs (latest 20)</h3>")
        parts.append(table(["Run started", "Passed", "Failed", "Failed (critical)", "N/A"], rows))
    parts.append("<h3>Quarantined rows by rule</h3>")
    quarantine = data.quarantine
    if quarantine.empty:
        parts.append("<p>No row is quarantined.</p>")
    else:
        parts.append(
            charts.bars(
                [f"{f}: {r}" for f, r in zip(quarantine["feed"], quarantine["rule"], strict=True)],
                list(quarantine["rows_quarantined"]),
                title="Quarantined rows",
                xlabel="rows",
            )
        )
        parts.append(
            table(
                ["Feed", "Rule", "Rows", "Files"],
                [
                    [
                        (str(r["feed"]), "l"),
                        (str(r["rule"]), "l"),
                        (f"{int(r['rows_quarantined']):,}", "q"),
                        (f"{int(r['files']):,}", "q"),
                    ]
                    for _, r in quarantine.iterrows()
                ],
            )
        )
    parts.append("<h3>Landed files by status</h3>")
    files = data.files
    rejected = (
        int(files.loc[files["status"] == "rejected", "files"].sum()) if not files.empty else 0
    )
    parts.append(f"<p>Files rejected: <b>{rejected:,}</b>.</p>")
    parts.append(
        table(
            ["Feed", "Status", "Files", "Rows read"],
            [
                [
                    (str(r["feed"]), "l"),
                    (str(r["status"]), "l"),
                    (f"{int(r['files']):,}", "q"),
                    (f"{int(r['rows_read']):,}", "q"),
                ]
                for _, r in files.iterrows()
            ],
        )
    )
    return "".join(parts)


def render(data: ReportData, *, run_id: str | None = None, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    builders = {
        "kpis": kpi_section,
        "los": los_section,
        "step-down": step_down_section,
        "continuity": continuity_section,
        "cost": cost_section,
        "intensity": intensity_section,
        "disparities": disparities_section,
        "data-quality": data_quality_section,
    }
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in SECTIONS)
    body = "".join(
        f'<section id="{key}"><h2>{escape(title)}</h2>{builders[key](data)}</section>'
        for key, title in SECTIONS
    )
    run = f", run {escape(run_id)}" if run_id else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Outcomes report, data as of {escape(str(data.as_of))}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<h1>Outcomes report</h1><p class="note">Data as of {escape(str(data.as_of))} (latest '
        f"session date); generated {escape(now.strftime('%Y-%m-%d %H:%M UTC'))}{run}. "
        "De-identified aggregates of the published marts: no count of 1–10 persons is shown. "
        '"&lt;11" marks every suppressed cell: a count of 1–10, or a cell hidden with it so that '
        "it cannot be worked out from the totals (such a cell may hold more).</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
