"""Run the full-refresh job in-process, as `make demo`, the benchmark and the tests do."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult


def dagster_instance(data_dir: Path) -> DagsterInstance:
    """A persistent instance under the data folder, so `make dev` shows the runs afterwards."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_full_refresh(
    instance: DagsterInstance | None = None,
    *,
    raise_on_error: bool = True,
    log_level: str = "INFO",
) -> ExecuteInProcessResult:
    from pipelines.definitions import defs
    from pipelines.resources import WarehouseResource

    job = defs.resolve_job_def("iop_full_refresh")
    return job.execute_in_process(
        instance=instance or DagsterInstance.ephemeral(),
        resources={"warehouse_db": WarehouseResource.from_env()},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
