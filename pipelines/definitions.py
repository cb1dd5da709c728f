"""The code location: everything that runs, assembled in one place."""

from dagster import Definitions

from assets.checks import suite_checks
from assets.dbt import check_results, dbt_core, dbt_marts, dbt_staging
from assets.ingest import landed_files_registry, raw_landed_files
from assets.publish import marts_publication
from assets.report import kpi_by_month, outcomes_report, report_automation_sensor
from iop.settings import IopSettings, pseudonym_key
from pipelines.alerts import alert_sensors
from pipelines.automation import landing_sensor, nightly_refresh, weekly_full_refresh
from pipelines.freshness import with_freshness
from pipelines.jobs import (
    full_refresh_job,
    ingest_landed_files_job,
    outcomes_report_job,
    refresh_job,
)

# Fail at load, in the UI and the CLI, on a missing or weak key or the demo key outside the demo,
# rather than after files were ingested.
pseudonym_key()

defs = Definitions(
    assets=[
        raw_landed_files,
        landed_files_registry,
        dbt_staging,
        dbt_core,
        check_results,
        # The marts and their publication: fresh within IOP_MARTS_FRESHNESS_HOURS.
        *with_freshness([dbt_marts, marts_publication]),
        outcomes_report,
        kpi_by_month,
    ],
    asset_checks=suite_checks,
    jobs=[ingest_landed_files_job, refresh_job, full_refresh_job, outcomes_report_job],
    schedules=[nightly_refresh, weekly_full_refresh],
    sensors=[landing_sensor, report_automation_sensor, *alert_sensors],
    resources={"settings": IopSettings.from_env(as_env_vars=True)},
)
