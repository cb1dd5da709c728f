"""The outcomes report and the KPI series by month, after publication.

* `reports/outcomes_report`: the self-contained HTML outcomes report (iop/report), written to
  $IOP_DATA_DIR/reports/outcomes_<as_of>.html and latest.html; its path and file:// URL are in
  the materialization's metadata.
* `reports/kpi_by_month`: the KPIs of program_quality_monthly_overall, one partition per
  calendar month (partition key YYYY-MM-01). The report step records a materialization of each
  complete month's partition with that month's KPIs as numeric metadata, so the asset's Plots
  tab draws each KPI against the month it describes (not against the run). Provisional months
  carry no claims reconciliation rate (claims arrive late) and `provisional = 1`.
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    MonthlyPartitionsDefinition,
    asset,
)

from iop.redact import redacted_errors
from iop.settings import IopSettings

PUBLICATION_KEY = AssetKey(["publish", "marts_duckdb"])
REPORT_KEY = AssetKey(["reports", "outcomes_report"])
KPI_BY_MONTH_KEY = AssetKey(["reports", "kpi_by_month"])
# The first month a KPI can be recorded for; earlier months are left out of the series.
KPI_FIRST_MONTH = "2015-01-01"
kpi_months = MonthlyPartitionsDefinition(start_date=KPI_FIRST_MONTH)

kpi_by_month = AssetSpec(
    KPI_BY_MONTH_KEY,
    partitions_def=kpi_months,
    deps=[PUBLICATION_KEY],
    group_name="reports",
    kinds={"duckdb"},
    description=(
        "KPIs of marts.program_quality_monthly_overall, one partition per calendar month: "
        "recorded by reports/outcomes_report for every complete month, so its plots run over "
        "months. Keys <level>_<kpi> (e.g. iop_census, iop_no_show_rate), data_quality_pass_rate, "
        "provisional (1 while claims may still arrive)."
    ),
)


def kpi_materializations(
    monthly: dict[dt.date, dict[str, float | int]], now: dt.datetime | None = None
) -> list[AssetMaterialization]:
    """One materialization per month that is a partition of `kpi_months` (months before its
    start, or not yet ended, have no partition)."""
    keys = set(kpi_months.get_partition_keys(current_time=now))
    return [
        AssetMaterialization(asset_key=KPI_BY_MONTH_KEY, partition=key, metadata=values)
        for month, values in sorted(monthly.items())
        if (key := month.strftime("%Y-%m-%d")) in keys
    ]


@asset(
    key=REPORT_KEY,
    deps=[PUBLICATION_KEY],
    group_name="reports",
    kinds={"html"},
    pool="duckdb_warehouse",
    # Rebuilt after each publication (Dagster's automation sensor, on in `make dev`); the refresh
    # jobs leave it out so a refresh does not wait for it.
    automation_condition=AutomationCondition.eager(),
    description=(
        "The outcomes report: KPIs by month, length of stay beside TEDS-D, step-down flows, "
        "continuity, disparities and data quality, as one self-contained HTML file "
        "($IOP_DATA_DIR/reports/outcomes_<as_of>.html and latest.html). One file per as-of date."
    ),
)
def outcomes_report(context: AssetExecutionContext, settings: IopSettings) -> MaterializeResult:
    from iop import engine, kpis
    from iop.report import build_report

    with redacted_errors():
        report = build_report(settings, run_id=context.run.run_id)
        with engine.connect(settings) as con:
            monthly = kpis.monthly_kpis(con, settings.provisional_days)
    events = kpi_materializations(monthly)
    for event in events:
        context.log_event(event)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(report.path)),
            "latest": MetadataValue.path(str(report.latest)),
            "url": MetadataValue.url(report.latest.as_uri()),
            "as_of": report.as_of,
            "bytes": report.bytes,
            "kpi_months_recorded": len(events),
        }
    )


# Evaluates the report's automation condition (on by default: the report follows publications).
report_automation_sensor = AutomationConditionSensorDefinition(
    "outcomes_report_automation",
    target=[REPORT_KEY],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Starts reports/outcomes_report after each new publication of the marts.",
)
