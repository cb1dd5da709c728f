"""The dbt project (dbt_project.yml, models/seeds/macros in sql/) as Python sees it: its manifest,
prepared by `dbt parse` when missing or older than any project file, and its models by layer.

The manifest is a build product (target/, git-ignored): `make` prepares it, and so does the first
import of the code location after a model, macro, seed or yml changes, so Dagster never loads a
stale asset graph.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_DIR / "sql"
TARGET_DIR = PROJECT_DIR / "target"
MANIFEST_PATH = TARGET_DIR / "manifest.json"  # parsed for the default engine, duckdb
LAYERS = ("staging", "audit", "core", "intermediate", "marts")


def _project_files() -> list[Path]:
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    return files + [p for p in SQL_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".csv"}]


def manifest_path(engine: str = "duckdb") -> Path:
    """The manifest parsed for `engine`'s dbt target: relations name a database on DuckDB only
    (dbt-spark refuses one), so each engine runs from its own (Dagster's asset graph reads the
    DuckDB one: the same nodes and names)."""
    return MANIFEST_PATH if engine == "duckdb" else TARGET_DIR / engine / "manifest.json"


def manifest_is_stale(engine: str = "duckdb") -> bool:
    path = manifest_path(engine)
    if not path.exists():
        return True
    built = path.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _project_files())


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def prepare_manifest(force: bool = False, engine: str = "duckdb") -> Path:
    """`dbt parse` (about 4 s) when the manifest is missing or older than the project's files.

    Parses into a private folder and moves the artifacts into target/ one by one (each an atomic
    rename), under a file lock, so processes starting side by side never read a half-written
    manifest.
    """
    path = manifest_path(engine)
    if not (force or manifest_is_stale(engine)):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with (TARGET_DIR / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or manifest_is_stale(engine):
            scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=TARGET_DIR))
            try:
                _parse_into(scratch, engine)
                for name in ("partial_parse.msgpack", "semantic_manifest.json", "manifest.json"):
                    if (scratch / name).exists():
                        os.replace(scratch / name, path.parent / name)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            manifest.cache_clear()
    return path


def _parse_into(target: Path, engine: str) -> None:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.setdefault("IOP_DATA_DIR", str(PROJECT_DIR / "data"))
    done = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target-path", str(target),
         "--log-path", str(target), "--target", engine],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")


@cache
def manifest() -> dict:
    prepare_manifest()
    return json.loads(MANIFEST_PATH.read_text())


@dataclass(frozen=True)
class DbtModel:
    """A model as the rest of the project names it: `layer.table` (= schema.alias)."""

    name: str  # dbt node name, <layer>__<table>
    layer: str
    table_name: str
    path: Path
    description: str
    grain: str | None
    materialized: str

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.table_name}"


def models(layer: str | None = None) -> list[DbtModel]:
    found = []
    for node in manifest()["nodes"].values():
        if node["resource_type"] != "model" or node["package_name"] != "iop":
            continue
        if layer is not None and node["schema"] != layer:
            continue
        found.append(
            DbtModel(
                name=node["name"],
                layer=node["schema"],
                table_name=node["alias"],
                path=PROJECT_DIR / node["original_file_path"],
                description=node.get("description") or "",
                grain=(node.get("meta") or {}).get("grain")
                or (node.get("config", {}).get("meta") or {}).get("grain"),
                materialized=node["config"]["materialized"],
            )
        )
    return sorted(found, key=lambda m: (LAYERS.index(m.layer), m.table_name))


def model_node(table: str) -> dict:
    """The manifest node of `layer.table`."""
    layer, name = table.split(".")
    for node in manifest()["nodes"].values():
        if node["resource_type"] == "model" and node["schema"] == layer and node["alias"] == name:
            return node
    raise KeyError(table)


if __name__ == "__main__":
    print(f"dbt manifest: {prepare_manifest(force=True)}")
