"""Freshness checks on the published marts: each mart and the publication itself must have been
materialized within IOP_MARTS_FRESHNESS_HOURS (default 26: a nightly refresh and some slack).

Dagster's last-update freshness checks (`build_last_update_freshness_checks`), evaluated by
their sensor every few minutes (and after each refresh, as checks of the assets a job
materializes); a stale mart shows as a failed check on the asset in the UI, and the check-failure
alert (pipelines/alerts.py) reports it. (Dagster 1.12 introduced `FreshnessPolicy` on asset specs
as the successor; in 1.13 it is still a preview that needs `freshness: enabled` in dagster.yaml,
so the pipeline uses the checks, which run in open source without flags.)
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    DefaultSensorStatus,
    SensorDefinition,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

from iop.settings import IopSettings


def freshness_checks(keys: list[AssetKey], max_lag: dt.timedelta) -> list[AssetChecksDefinition]:
    """Error-severity (alerted, not blocking) freshness checks of `keys`."""
    return list(
        build_last_update_freshness_checks(
            assets=keys, lower_bound_delta=max_lag, severity=AssetCheckSeverity.ERROR
        )
    )


def published_marts_freshness(
    keys: list[AssetKey], settings: IopSettings | None = None
) -> tuple[list[AssetChecksDefinition], SensorDefinition]:
    settings = settings or IopSettings.from_env()
    checks = freshness_checks(keys, dt.timedelta(hours=settings.marts_freshness_hours))
    sensor = build_sensor_for_freshness_checks(
        freshness_checks=checks,
        minimum_interval_seconds=300,
        name="marts_freshness_sensor",
        default_status=DefaultSensorStatus.RUNNING,
    )
    return checks, sensor
