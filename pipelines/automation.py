"""Schedules and sensors: a landing sensor for new files (incremental runs), a nightly incremental
catch-up and a weekly full rebuild."""

from dagster import (
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.ingest import landed_files_partitions
from iop import ingest
from iop.settings import IopSettings
from pipelines.jobs import full_refresh_job, ingest_landed_files_job, refresh_job
from pipelines.partitions import (
    NIGHTLY_REFRESH_CRON,
    NIGHTLY_REFRESH_TIMEZONE,
    WEEKLY_FULL_REFRESH_CRON,
    WEEKLY_FULL_REFRESH_TIMEZONE,
)

PARTITIONS = landed_files_partitions.name


def pending_file_keys(settings: IopSettings, known: set[str]) -> list[str]:
    """Content hashes of landed files that are neither ingested nor already a partition."""
    keys: list[str] = []
    for landed in ingest.scan_landing(settings):
        sha = landed.sha256
        if sha not in known and sha not in keys and not ingest.is_ingested(settings, sha):
            keys.append(sha)
    return keys


def partition_range_tags(instance: DagsterInstance, keys: list[str]) -> dict[str, str]:
    """Run tags for one run over the partition range that holds `keys` (in partition order)."""
    order = {key: i for i, key in enumerate(instance.get_dynamic_partitions(PARTITIONS))}
    ordered = sorted(keys, key=lambda k: order.get(k, len(order)))
    return {
        "dagster/asset_partition_range_start": ordered[0],
        "dagster/asset_partition_range_end": ordered[-1],
    }


@sensor(
    name="landing_sensor",
    job=ingest_landed_files_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Each new file in $IOP_DATA_DIR/landing/<feed>/ becomes a partition (its SHA-256) "
    "of raw/landed_files; one run ingests the new files and refreshes the marts (incrementally "
    "unless a full build is due).",
)
def landing_sensor(context: SensorEvaluationContext, settings: IopSettings):
    known = set(context.instance.get_dynamic_partitions(PARTITIONS))
    keys = pending_file_keys(settings, known)
    if not keys:
        return SkipReason("no new landed files")
    # New keys are appended to the partition order, so they form one contiguous range.
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"landed:{keys[0]}:{keys[-1]}:{len(keys)}",
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                    "iop/new_files": str(len(keys)),
                },
            )
        ],
        dynamic_partitions_requests=[landed_files_partitions.build_add_request(keys)],
    )


nightly_refresh = ScheduleDefinition(
    name="nightly_refresh",
    job=refresh_job,
    cron_schedule=NIGHTLY_REFRESH_CRON,
    execution_timezone=NIGHTLY_REFRESH_TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Monday to Saturday: refresh staging, core and marts (ingesting any file the "
    "sensor has not; incrementally unless a full build is due), run every check and publish.",
)

weekly_full_refresh = ScheduleDefinition(
    name="weekly_full_refresh",
    job=full_refresh_job,
    cron_schedule=WEEKLY_FULL_REFRESH_CRON,
    execution_timezone=WEEKLY_FULL_REFRESH_TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Sunday: rebuild staging, core and marts from raw in full (ingesting any file the "
    "sensor has not), run every check and publish.",
)
