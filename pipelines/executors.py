"""The executor of the warehouse jobs, chosen by IOP_EXECUTOR (deploy/README.md):

* `in_process` (default): every step in the run worker's process, one DuckDB writer, no start-up
  per step;
* `multiprocess`: a process per step, on the run worker's machine;
* `k8s`: a Kubernetes Job per step (dagster-k8s' k8s_job_executor);
* `celery`: each step a task that a Celery worker on any machine runs (dagster-celery).

The last two need deploy/requirements.txt. IOP_EXECUTOR_CONFIG, the path of a run config file
(deploy/run_config/<executor>.yaml), configures the executor with its `execution: config:`, so the
runs of the landing sensor and the schedules have that configuration too. Every process that
loads the code location (code server, run workers, step pods, Celery workers) must see the same
two variables: a run worker rebuilds the job from them."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTORS = ("in_process", "multiprocess", "k8s", "celery")


def executor_from_env() -> ExecutorDefinition:
    executor = _executor(os.environ.get("IOP_EXECUTOR", "").strip() or "in_process")
    path = os.environ.get("IOP_EXECUTOR_CONFIG", "").strip()
    if not path:
        return executor
    config = (yaml.safe_load(Path(path).read_text()) or {}).get("execution", {}).get("config")
    return executor.configured(config or {}, name=executor.name)


def _executor(name: str) -> ExecutorDefinition:
    if name == "in_process":
        return in_process_executor
    if name == "multiprocess":
        return multiprocess_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor
    raise ValueError(f"IOP_EXECUTOR is {name!r}; it must be one of {', '.join(EXECUTORS)}")
