"""The code location: everything that runs, assembled in one place."""

from dagster import Definitions

from assets.checks import suite_checks
from assets.ingest import landed_files_registry, raw_landed_files, value_sets
from assets.models import model_assets
from assets.publish import marts_publication
from pipelines.automation import landing_sensor, nightly_full_refresh
from pipelines.jobs import full_refresh_job, ingest_landed_files_job
from pipelines.resources import WarehouseResource

defs = Definitions(
    assets=[raw_landed_files, landed_files_registry, value_sets, *model_assets, marts_publication],
    asset_checks=suite_checks,
    jobs=[ingest_landed_files_job, full_refresh_job],
    schedules=[nightly_full_refresh],
    sensors=[landing_sensor],
    resources={"warehouse_db": WarehouseResource.from_env()},
)
