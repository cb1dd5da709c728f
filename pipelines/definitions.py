"""The code location: everything that runs, assembled in one place."""

from __future__ import annotations

from dagster import Definitions

from assets.checks import suite_checks
from assets.ingest import raw_assets, value_sets
from assets.models import model_assets
from assets.publish import marts_publication
from pipelines.automation import nightly_full_refresh
from pipelines.jobs import full_refresh_job
from pipelines.resources import WarehouseResource

defs = Definitions(
    assets=[*raw_assets, value_sets, *model_assets, marts_publication],
    asset_checks=suite_checks,
    jobs=[full_refresh_job],
    schedules=[nightly_full_refresh],
    resources={"warehouse_db": WarehouseResource.from_env()},
)
