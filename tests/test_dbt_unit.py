"""The dbt unit tests (given rows -> expected rows; sql/core/_unit_tests.yml, the marts' suppression
cases and any other layer's) run inside `make test`: every one defined in the project runs and
passes, and every core model has at least one.

dbt reads the column types of a unit test's inputs from the warehouse, so the raw sources are
created first (the registry sync on an empty landing folder, as the ingest assets do) and the
project is built with `dbt build --empty`: every seed and model is created with no rows, and each
model's unit tests run right after its parents exist (one dbt start-up instead of two). A failing
unit test skips its model, and so the unit tests downstream of it; those are reported as skipped.
Data tests are left out (meaningless on empty tables). dbt runs with a private data folder,
target and log path, so it never touches the shared target/ or another test's warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TEST_KEY

from iop.dbt_project import PROJECT_DIR, dbt_executable
from iop.ingest import sync_registry
from iop.settings import IopSettings


@dataclass(frozen=True)
class UnitTestRun:
    defined: dict[str, dict]  # unique_id -> manifest node of every unit test
    results: dict[str, dict]  # unique_id -> run_results entry of every unit test that ran
    core_models: list[str]
    log: str
    tmp: Path
    env: dict[str, str]


def _dbt(args: list[str], tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target-path", str(tmp / "target"),
         "--log-path", str(tmp / "logs"), "--no-use-colors"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def unit_test_run(tmp_path_factory) -> UnitTestRun:
    tmp = tmp_path_factory.mktemp("dbt_unit")
    settings = IopSettings(data_dir=str(tmp / "data"), duckdb_threads=2)
    settings.landing_dir.mkdir(parents=True)
    with settings.connect() as con:
        sync_registry(con, settings)  # raw.registry, empty raw.<layout> views, raw.site_<seed>

    env = {
        **{k: v for k, v in os.environ.items() if k != "IOP_DEMO"},
        **settings.dbt_env(),
        # core.persons calls pseudonymize(), registered only when a key is configured
        "IOP_PSEUDONYM_KEY": TEST_KEY,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    built = _dbt(["build", "--empty", "--exclude-resource-type", "test"], tmp, env)
    if not (tmp / "target" / "run_results.json").exists():
        pytest.fail(f"dbt build did not run:\n{built.stdout[-6000:]}\n{built.stderr[-2000:]}")

    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    run_results = json.loads((tmp / "target" / "run_results.json").read_text())
    return UnitTestRun(
        defined=dict(manifest["unit_tests"]),
        results={
            r["unique_id"]: r
            for r in run_results["results"]
            if r["unique_id"].startswith("unit_test.")
        },
        core_models=sorted(
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["schema"] == "core"
        ),
        log=built.stdout,
        tmp=tmp,
        env=env,
    )


def test_every_dbt_unit_test_runs_and_passes(unit_test_run):
    run = unit_test_run
    assert run.defined, "no dbt unit tests defined"
    by_status: dict[str, list[str]] = {}
    for uid, result in run.results.items():
        by_status.setdefault(result["status"], []).append(uid)
    failed = [
        f"{uid.split('.')[-1]} ({run.results[uid]['status']}): {run.results[uid]['message']}"
        for status, uids in by_status.items()
        if status not in ("pass", "skipped")
        for uid in uids
    ]
    skipped = sorted(uid.split(".")[-1] for uid in by_status.get("skipped", []))
    assert not failed and not skipped, (
        "dbt unit tests failed:\n"
        + "\n\n".join(failed)
        + f"\n\nskipped (downstream of a failure): {skipped}\n\n{run.log[-6000:]}"
    )
    assert sorted(by_status.get("pass", [])) == sorted(run.defined), (
        f"unit tests defined but not run: {sorted(set(run.defined) - set(run.results))}"
    )


def test_every_core_model_has_a_unit_test(unit_test_run):
    run = unit_test_run
    assert run.core_models, "no core models in the manifest"
    tested = {node["model"] for node in run.defined.values()}
    assert [m for m in run.core_models if m not in tested] == []


def test_dbt_connection_has_the_configured_memory_limit_and_threads(unit_test_run):
    """profiles.yml hands IOP_DUCKDB_MEMORY_LIMIT and IOP_DUCKDB_THREADS to DuckDB when dbt opens
    the database (config_options): the limit that keeps a large build inside the machine."""
    env = {**unit_test_run.env, "IOP_DUCKDB_MEMORY_LIMIT": "1GB", "IOP_DUCKDB_THREADS": "1"}
    shown = _dbt(
        ["show", "--output", "json", "--log-format", "json", "--inline",
         "select current_setting('memory_limit') as memory_limit, "
         "current_setting('threads') as threads, "
         "current_setting('preserve_insertion_order') as insertion_order"],
        unit_test_run.tmp, env,
    )  # fmt: skip
    previews = [
        json.loads(json.loads(line)["data"]["preview"])
        for line in shown.stdout.splitlines()
        if line.startswith("{") and "preview" in json.loads(line).get("data", {})
    ]
    assert previews, shown.stdout[-3000:]
    [row] = previews[0]
    # DuckDB reports 1GB (10^9 bytes) in binary units
    assert row == {"memory_limit": "953.6 MiB", "threads": 1, "insertion_order": False}
