"""Schedules and sensors."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from pipelines.jobs import full_refresh_job
from pipelines.partitions import NIGHTLY_REFRESH_CRON, NIGHTLY_REFRESH_TIMEZONE

nightly_full_refresh = ScheduleDefinition(
    name="nightly_full_refresh",
    job=full_refresh_job,
    cron_schedule=NIGHTLY_REFRESH_CRON,
    execution_timezone=NIGHTLY_REFRESH_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Ingest whatever has landed and rebuild, validate and publish every mart.",
)
