"""Runs whose process died: found by the process id Dagster records, marked failed, their pool
slots freed, so the next run is not left waiting for a slot no one will give back.

Dagster records the pid of every run worker as an engine event (`Started process for run (pid:
N)` from the code server, `Executing steps in process (pid: N)` from the in-process executor, the
one this project's jobs use). A run in progress whose last recorded process no longer exists —
gone, a zombie, or the pid reused by a process started after the run — died without ending its
run: a SIGKILL, the OOM killer, a power loss. Two callers act on that:

* Dagster's run monitoring (the daemon under `make dev`): `IopRunLauncher` is the default run
  launcher plus this health check, so the monitoring daemon marks such a run failed, and
  `free_slots_after_run_end_seconds` then frees the pool slots it held (instance config in
  `iop/runner.py`).
* `iop refresh` and every in-process run (`recover_dead_runs`, before the run starts), for cron
  and terminals where no daemon runs.

The check reads this machine's process table: the instance lives in the data folder, on the
machine that runs the pipeline. A run tagged `iop/host` with another host name is left alone.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

log = logging.getLogger(__name__)

HOST_TAG = "iop/host"
IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# A process that started this long after its run's pid event is another process with the same pid
PID_REUSE_SLACK_SECONDS = 5.0


@dataclass(frozen=True)
class Worker:
    pid: int
    recorded_at: float  # when Dagster recorded the pid (epoch seconds)


def run_worker(instance: DagsterInstance, run_id: str) -> Worker | None:
    """The last process Dagster recorded for the run, or None before any was recorded."""
    worker = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event else None
        pid = (data.metadata or {}).get("pid") if data else None
        if pid is None:
            continue
        try:
            worker = Worker(int(getattr(pid, "value", pid)), float(entry.timestamp))
        except (TypeError, ValueError):
            continue
    return worker


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state, start time in epoch seconds) from /proc (Linux); None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except FileNotFoundError:
        return ("gone", 0.0)
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    fields = text[text.rfind(")") + 2 :].split()
    boot = _boot_time()
    if boot is None:
        return None
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(worker: Worker) -> bool:
    """Whether the worker's process still exists and is that process (not a reused pid)."""
    if worker.pid == os.getpid():
        return True
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(worker.pid)
    if stat is None:
        return True  # no /proc: existence is all we can tell
    state, started_at = stat
    if state in {"gone", "Z", "X"}:  # a zombie has exited; its parent has not reaped it yet
        return False
    return started_at <= worker.recorded_at + PID_REUSE_SLACK_SECONDS


def worker_status(instance: DagsterInstance, run) -> tuple[bool | None, str]:
    """(alive, explanation); alive is None when it cannot be told (no pid yet, another host)."""
    host = run.tags.get(HOST_TAG)
    if host and host != socket.gethostname():
        return None, f"run worker on another host ({host})"
    worker = run_worker(instance, run.run_id)
    if worker is None:
        return None, "no run worker process recorded yet"
    if process_alive(worker):
        return True, f"run worker process {worker.pid} is running"
    return False, f"run worker process {worker.pid} is gone (killed or crashed)"


class IopRunLauncher(DefaultRunLauncher):
    """Dagster's default run launcher, plus a run worker health check for run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        alive, message = worker_status(self._instance, run)
        if alive is False:
            return CheckRunHealthResult(WorkerStatus.FAILED, message)
        # unknown is not failure: a run that has not recorded its process yet is starting
        return CheckRunHealthResult(WorkerStatus.RUNNING, message)


@dataclass
class Recovery:
    failed_runs: list[str]
    freed_slot_runs: list[str]


def recover_dead_runs(instance: DagsterInstance) -> Recovery:
    """Mark failed every run in progress whose process is gone, then free the pool slots held by
    runs that have ended (those just marked, and any a killed worker left behind)."""
    failed: list[str] = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        alive, message = worker_status(instance, run)
        if alive is not False:
            continue
        instance.report_run_failed(run, f"{message}: marked failed so the next run can start")
        log.warning("run %s: %s; marked failed", run.run_id, message)
        failed.append(run.run_id)
    freed: list[str] = []
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        for run_id in sorted(holders):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                log.warning("freed the pool slots held by ended run %s", run_id)
                freed.append(run_id)
    return Recovery(failed, freed)
