"""dbt inside this process: `dbt build` of named nodes with dbt's programmatic API (dbtRunner),
on the engine the settings name (the DuckDB working database, or a SparkSession: iop/spark.py).

The manifest prepared by `dbt parse` (iop/dbt_project.py) is read once per process (again only
when the project's files change) and handed to every invocation, so a step pays for its SQL, not
for starting dbt and parsing the project (~4-5 s a time as a `dbt` process). Each data folder
keeps its own dbt target folder ($IOP_DATA_DIR/dbt_target: compiled SQL, run_results.json, logs).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

from iop import comments, dbt_project
from iop.ops.recovery import mark_damaged
from iop.redact import redact
from iop.settings import IopSettings

_PARSED: dict[tuple[str, float], object] = {}


@dataclass
class BuildOutcome:
    built: dict[str, dict] = field(default_factory=dict)  # unique id -> manifest node
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _common_args(target: Path) -> list[str]:
    project = str(dbt_project.PROJECT_DIR)
    return ["--project-dir", project, "--profiles-dir", project,
            "--target-path", str(target), "--log-path", str(target)]  # fmt: skip


def _parsed_manifest(engine: str):
    """The dbt Manifest object of the current project files for `engine`'s target, read from the
    manifest that `prepare_manifest` keeps up to date (target/manifest.json, target/spark/...) —
    no parsing at run time, which would cost seconds per process (and every data folder's own
    profile would make dbt parse the whole project again)."""
    from dbt.contracts.graph.manifest import Manifest, WritableManifest

    path = dbt_project.prepare_manifest(engine=engine)
    version = (engine, path.stat().st_mtime)
    if version not in _PARSED:
        _PARSED.clear()
        _PARSED[version] = Manifest.from_writable_manifest(
            WritableManifest.read_and_check_versions(str(path))
        )
    return _PARSED[version]


def _close_database() -> None:
    """dbt-duckdb keeps its DuckDB database open for the process after a run; close it, so this
    process (a check, the publication) and other processes can open the file again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _prepare_spark(settings: IopSettings) -> None:
    """On Spark, dbt-spark's session method runs on this process's SparkSession: open it (with
    `pseudonymize`) and bring the models' sources up to date (iop/spark.py)."""
    from iop import spark

    spark.mirror_sources(spark.session(settings), settings)


def build(
    settings: IopSettings,
    node_names: list[str],
    *,
    full_refresh: bool = False,
    threads: int = 1,
    run_vars: dict[str, Any] | None = None,
    write_comments: bool = True,
) -> BuildOutcome:
    """`dbt build --select <nodes>` (unit tests excluded) against this data folder; with
    `full_refresh`, `--full-refresh`: incremental models and seeds are rebuilt whole (the run's
    decision, iop/build_state.py). `threads`: how many models dbt builds at once. `run_vars`: dbt
    vars of this invocation besides the rule parameters (not part of the build fingerprint).
    On DuckDB the built models' comments are written after the build (iop/comments.py), here, or
    by the caller when `write_comments` is false (the pipeline's steps: on their own connection)."""
    from dbt.cli.main import dbtRunner

    outcome = BuildOutcome()
    if not node_names:
        return outcome
    target = settings.dbt_target_dir
    target.mkdir(parents=True, exist_ok=True)
    # dbt's console and file logs print a failing model's database error as is (DuckDB quotes
    # the value it could not convert), into captured stdout and dbt.log: they are off, and the
    # failures reach Dagster through the redacted outcome (run_results.json is redacted below).
    # --no-write-json: dbt would write the whole manifest into the target folder after every
    # invocation (0.5 s each); run_results.json is written below, redacted.
    args = ["build", "--quiet", "--log-level", "none", "--log-level-file", "none",
            "--no-write-json", "--select", " ".join(node_names),
            "--exclude-resource-type", "unit_test", *_common_args(target)]  # fmt: skip
    if full_refresh:
        args.append("--full-refresh")
    if threads > 1:
        args += ["--threads", str(threads)]
    default_rounds = IopSettings.model_fields["spark_suppression_rounds"].default
    if settings.on_spark and settings.spark_suppression_rounds != default_rounds:
        run_vars = {"suppression_rounds": settings.spark_suppression_rounds, **(run_vars or {})}
    if not settings.on_spark:  # the comments are written after the build (iop/comments.py)
        run_vars = {comments.VAR: True, **(run_vars or {})}
    if all_vars := {**settings.dbt_vars(), **(run_vars or {})}:
        args += ["--vars", json.dumps(all_vars)]
    nodes = dbt_project.manifest()["nodes"]
    # profiles.yml reads the engine, the data folder and DuckDB limits from the environment
    with patch.dict(os.environ, settings.dbt_env()):
        manifest = _parsed_manifest(settings.engine)
        started = time.perf_counter()
        if settings.on_spark:
            _prepare_spark(settings)
        try:
            result = dbtRunner(manifest=manifest).invoke(args)
        finally:
            if not settings.on_spark:
                _close_database()
    if result.exception is not None and result.result is None:
        if not settings.on_spark:
            mark_damaged(settings.warehouse_path, str(result.exception))
        # redacted, and not chained: the original's text can quote a value and would be stored
        raise RuntimeError(redact(f"dbt build could not run: {result.exception}")) from None
    for item in getattr(result.result, "results", []) or []:
        unique_id = item.node.unique_id
        status = str(item.status)
        if status in {"error", "fail", "runtime error"}:
            outcome.failures.append(redact(f"{unique_id}: {item.message}"))
        elif status == "success" and unique_id in nodes and not unique_id.startswith("operation."):
            # (an operation is the on-run-start hook: not a table)
            outcome.built[unique_id] = nodes[unique_id]
            outcome.seconds[unique_id] = item.execution_time
    if result.exception is not None:
        outcome.failures.append(redact(f"dbt: {result.exception}"))
    if write_comments and outcome.built and not settings.on_spark:
        with settings.connect() as con:
            comments.persist(con, outcome.built.values())
    for failure in outcome.failures:  # damage DuckDB reported: the next run rebuilds from raw
        if not settings.on_spark and mark_damaged(settings.warehouse_path, failure):
            break
    outcome.seconds["_total"] = time.perf_counter() - started
    if result.result is not None and hasattr(result.result, "to_dict"):
        _write_run_results(result.result.to_dict(omit_none=False), target / "run_results.json")
    return outcome


def _write_run_results(document: dict, path: Path) -> None:
    """dbt's run_results.json of the invocation, each node's message (a database error
    included) redacted."""
    for item in document.get("results", []):
        if item.get("message"):
            item["message"] = redact(item["message"])
    path.write_text(json.dumps(document, default=str))
