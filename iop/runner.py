"""Run the pipeline in-process the way the landing sensor would: newly landed files become
partitions and one run ingests them and refreshes everything; with nothing new, the refresh job
(`iop_refresh`). Incremental unless a full build is due (iop/build_state.py); `full=True` makes
it a full rebuild (`iop_full_refresh`, or the ingest run tagged iop/full_refresh=true).
Used by `iop refresh [--full]`, `make demo`, the benchmark and the tests."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult

INSTANCE_HEADER = "# Written by the IOP pipeline for local runs."
INSTANCE_CONFIG = f"""\
{INSTANCE_HEADER} Assets that write the DuckDB warehouse share the
# pool `duckdb_warehouse`; a limit of 1 keeps runs started side by side from colliding on it.
concurrency:
  pools:
    default_limit: 1
# Runs whose process died (SIGKILL, OOM killer, power loss) must not hold the pool for ever: the
# launcher adds a run worker health check (the recorded pid still exists) to Dagster's default
# launcher; run monitoring (the daemon of `make dev`) marks such runs failed, and frees the pool
# slots of ended runs after a few seconds. Dagster cannot resume these runs: the next run (the
# landing sensor, the nightly schedule, `iop refresh`) redoes the work.
run_launcher:
  module: iop.ops.runs
  class: IopRunLauncher
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
  free_slots_after_run_end_seconds: 15
# A run that died that way is then run again once, whole (the jobs carry the tag
# dagster/retry_strategy ALL_STEPS: a rebuilt warehouse has none of the killed run's tables); a
# run whose steps failed is not retried.
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
# The data folder holds PHI; nothing about its runs leaves the machine.
telemetry:
  enabled: false
"""
# Runs log Dagster's events at INFO (its default, DEBUG, prints ~290 lines per refresh in
# `make dev`); set DEBUG here to see every event again.
LOGGING_CONFIG = """python_logs:
  python_log_level: INFO
"""


def write_instance_config(home: Path) -> Path:
    """dagster.yaml in `home`: written when missing, rewritten when it is an older version of the
    one this project writes; a file someone else wrote is left as it is."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = INSTANCE_CONFIG + LOGGING_CONFIG
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(INSTANCE_HEADER) and current != wanted):
        # written whole or not at all: a process killed here must not leave half a config
        temporary = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        temporary.write_text(wanted)
        os.replace(temporary, config)
    return config


def dagster_instance(data_dir: Path) -> DagsterInstance:
    """A persistent instance under the data folder, so `make dev` shows the runs afterwards."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home")
    write_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_full_refresh(
    instance: DagsterInstance | None = None,
    *,
    full: bool = False,
    raise_on_error: bool = True,
    log_level: str = "INFO",
) -> ExecuteInProcessResult:
    """One run: ingest what is new and refresh everything downstream, publish. `full`: every dbt
    step rebuilds in full (--full-refresh); otherwise the run builds incrementally unless a full
    build is due. (The name is historical: the refresh is incremental by default.)"""
    from iop.build_state import FULL_REFRESH_TAG
    from iop.keys import preflight
    from iop.ops.runs import HOST_TAG, recover_dead_runs
    from iop.settings import IopSettings
    from pipelines.automation import PARTITIONS, partition_range_tags, pending_file_keys
    from pipelines.definitions import defs

    settings = IopSettings.from_env()
    if settings.warehouse_path.exists():
        # a damaged warehouse is rebuilt from raw here, before the key is checked against it
        from iop.ops.recovery import open_writable

        open_writable(settings.warehouse_path, run_start=True).close()
    preflight(settings)  # a missing, weak or changed key stops here, before anything is ingested
    instance = instance or DagsterInstance.ephemeral()
    # A run killed earlier may still be STARTED, holding the warehouse pool: without a daemon
    # (cron, a terminal) nothing else would notice, and this run would wait for ever.
    recover_dead_runs(instance)
    known = set(instance.get_dynamic_partitions(PARTITIONS))
    keys = pending_file_keys(settings, known)
    # the daemon's run retries re-launch through a code server, which an in-process run has not:
    # the next in-process run (cron, `iop refresh`) redoes a killed one instead
    tags: dict[str, str] = {HOST_TAG: socket.gethostname(), "dagster/max_retries": "0"}
    if keys:
        instance.add_dynamic_partitions(PARTITIONS, [k for k in keys if k not in known])
        job = defs.resolve_job_def("ingest_landed_files")
        tags.update(partition_range_tags(instance, keys))
        if full:
            tags[FULL_REFRESH_TAG] = "true"
    else:
        job = defs.resolve_job_def("iop_full_refresh" if full else "iop_refresh")
    return job.execute_in_process(
        instance=instance,
        resources={"settings": settings},
        raise_on_error=raise_on_error,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
