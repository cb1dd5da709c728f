"""Run the pipeline in-process the way the landing sensor would: newly landed files become
partitions and one run ingests them and refreshes everything; with nothing new, a full refresh.
Used by `make demo`, the benchmark and the tests."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult

INSTANCE_CONFIG = """\
# Written by the IOP pipeline for local runs. Assets that write the DuckDB warehouse share the
# pool `duckdb_warehouse`; a limit of 1 keeps runs started side by side from colliding on it.
concurrency:
  pools:
    default_limit: 1
"""
# Runs log Dagster's events at INFO (its default, DEBUG, prints ~290 lines per refresh in
# `make dev`); set DEBUG here to see every event again.
LOGGING_CONFIG = """python_logs:
  python_log_level: INFO
"""


def dagster_instance(data_dir: Path) -> DagsterInstance:
    """A persistent instance under the data folder, so `make dev` shows the runs afterwards."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG + LOGGING_CONFIG)
    elif (
        config.read_text().startswith(INSTANCE_CONFIG) and "python_logs:" not in config.read_text()
    ):
        # a file this pipeline wrote before the log level was set there
        config.write_text(config.read_text() + LOGGING_CONFIG)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_full_refresh(
    instance: DagsterInstance | None = None,
    *,
    raise_on_error: bool = True,
    log_level: str = "INFO",
) -> ExecuteInProcessResult:
    from iop.keys import preflight
    from iop.settings import IopSettings
    from pipelines.automation import PARTITIONS, partition_range_tags, pending_file_keys
    from pipelines.definitions import defs

    settings = IopSettings.from_env()
    preflight(settings)  # a missing, weak or changed key stops here, before anything is ingested
    instance = instance or DagsterInstance.ephemeral()
    known = set(instance.get_dynamic_partitions(PARTITIONS))
    keys = pending_file_keys(settings, known)
    tags: dict[str, str] = {}
    if keys:
        instance.add_dynamic_partitions(PARTITIONS, [k for k in keys if k not in known])
        job = defs.resolve_job_def("ingest_landed_files")
        tags = partition_range_tags(instance, keys)
    else:
        job = defs.resolve_job_def("iop_full_refresh")
    return job.execute_in_process(
        instance=instance,
        resources={"settings": settings},
        raise_on_error=raise_on_error,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
