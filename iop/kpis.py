"""Headline KPIs of the latest complete month, for Dagster asset metadata.

`latest_kpis(con)` reads marts.program_quality_monthly_overall (every EHR program of a level of
care together) and returns plain numbers keyed `<level>_<kpi>` (e.g. `iop_census`,
`php_no_show_rate`), plus `kpi_month` (YYYYMM of the month they describe) and
`data_quality_pass_rate`. The step-down rate (`<level>_step_down_30d_rate`) is that of the latest
month whose discharges have all had their 30-day window observed (`step_down_kpi_month`): in the
latest complete month most windows are still open, and the rate would read as near zero. Likewise
the claims reconciliation rate (`<level>_claims_reconciliation_rate`) is that of the latest month
no longer provisional (`claims_kpi_month`): claims arrive weeks after service, so the latest
month's rate reads far too low. Attached to a materialization as metadata, Dagster plots each key
over runs. `con` is a connection to the model tables on either engine (iop/engine.py).

`monthly_kpis(con, provisional_days)` gives the same keys for every complete month, keyed by month:
the report asset records them as materializations of the monthly-partitioned asset
`reports/kpi_by_month`, one per month, so the Dagster UI plots each KPI against the month it
describes (partition key `YYYY-MM-01`). No identifiers: only counts and rates; suppressed (null)
values are left out.
"""

from __future__ import annotations

import datetime as dt

TABLE = "marts.program_quality_monthly_overall"
COUNTS = ("census", "admissions", "discharges", "sessions_scheduled")
RATES = ("no_show_rate", "median_los", "completion_rate", "claims_reconciliation_rate")


def _exists(con, table: str) -> bool:
    """Whether `table` can be read (on DuckDB or Spark: iop/engine.py)."""
    try:
        con.execute(f"select 1 from {table} limit 0")
    except Exception:  # DuckDB's CatalogException, Spark's AnalysisException
        return False
    return True


def latest_kpis(
    con, table: str = TABLE, provisional_days: int | None = None
) -> dict[str, float | int]:
    """The latest complete month's KPIs for all programs, by level of care.

    A month is complete when the data's as-of date (latest session date) reaches its last day.
    Returns {} when the mart is missing or has no complete month yet.
    """
    if not _exists(con, table):
        return {}
    columns = ", ".join(("month", "level_of_care", *COUNTS, *RATES, "data_quality_pass_rate"))
    rows = con.execute(
        f"""
        select {columns}
        from {table}
        where month = (select max(month) from {table} where month_complete)
        order by level_of_care
        """
    ).fetchall()
    if not rows:
        return {}
    kpis: dict[str, float | int] = {"kpi_month": rows[0][0].year * 100 + rows[0][0].month}
    for row in rows:
        level = str(row[1]).lower()
        values = dict(zip((*COUNTS, *RATES), row[2:-1], strict=True))
        for name, value in values.items():
            if value is None:
                continue
            kpis[f"{level}_{name}"] = int(value) if name in COUNTS else float(value)
    quality = rows[0][-1]
    if quality is not None:
        kpis["data_quality_pass_rate"] = float(quality)
    if provisional_days is None:
        from iop.settings import IopSettings

        provisional_days = IopSettings.from_env().provisional_days
    claims = con.execute(
        f"""
        select month, level_of_care, claims_reconciliation_rate
        from {table}
        where month = (
                select max(month) from {table}
                where month_complete
                    and last_day(month) <= (select max(session_date) from core.sessions) - ?
            )
        order by level_of_care
        """,
        [provisional_days],
    ).fetchall()
    for key in [k for k in kpis if k.endswith("_claims_reconciliation_rate")]:
        del kpis[key]
    if claims:
        kpis["claims_kpi_month"] = claims[0][0].year * 100 + claims[0][0].month
    for _, level, rate in claims:
        if rate is not None:
            kpis[f"{str(level).lower()}_claims_reconciliation_rate"] = float(rate)
    step_down = con.execute(
        f"""
        select month, level_of_care, step_down_30d_rate
        from {table}
        where month = (select max(month) from {table} where step_down_window_complete)
        order by level_of_care
        """
    ).fetchall()
    if step_down:
        kpis["step_down_kpi_month"] = step_down[0][0].year * 100 + step_down[0][0].month
    for _, level, rate in step_down:
        if rate is not None:
            kpis[f"{str(level).lower()}_step_down_30d_rate"] = float(rate)
    return kpis


def monthly_kpis(
    con, provisional_days: int, table: str = TABLE
) -> dict[dt.date, dict[str, float | int]]:
    """KPIs of every complete month, by month: `<level>_<kpi>` and `data_quality_pass_rate` as in
    latest_kpis. A month's step-down rate only once its 30-day windows are complete, its claims
    reconciliation rate only once it is no longer provisional (`provisional_days` after its last
    day); each month also gets `provisional` (1 or 0)."""
    if not _exists(con, table):
        return {}
    columns = ", ".join(("month", "level_of_care", *COUNTS, *RATES, "step_down_30d_rate"))
    rows = con.execute(
        f"""
        with as_of as (select max(session_date) as as_of_date from core.sessions)
        select {columns}, step_down_window_complete
            , last_day(month) > as_of.as_of_date - ? as provisional
            , data_quality_pass_rate
        from {table}, as_of
        where month_complete
        order by month, level_of_care
        """,
        [provisional_days],
    ).fetchall()
    names = (*COUNTS, *RATES, "step_down_30d_rate")
    months: dict[dt.date, dict[str, float | int]] = {}
    for row in rows:
        month, level = row[0], str(row[1]).lower()
        window_complete, provisional, quality = row[-3:]
        kpis = months.setdefault(month, {"provisional": int(bool(provisional))})
        for name, value in zip(names, row[2:-3], strict=True):
            if value is None:
                continue
            if name == "step_down_30d_rate" and not window_complete:
                continue
            if name == "claims_reconciliation_rate" and provisional:
                continue
            kpis[f"{level}_{name}"] = int(value) if name in COUNTS else float(value)
        if quality is not None:
            kpis["data_quality_pass_rate"] = float(quality)
    return months
