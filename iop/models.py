"""SQL models: one `select` per file under sql/<layer>/, materialized as table <layer>.<stem>.

The file is the unit (as in Tuva and SQLMesh): its stem is the table and asset name, its header
comment is the description, and the tables it reads (`schema.table` references) are its
dependencies, so adding a model never means editing a list.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from iop.warehouse import SQL_DIR

LAYERS = ("staging", "audit", "core", "marts")
_REFERENCE = re.compile(r"\b(raw|seeds|staging|core|marts|audit)\.([a-z_][a-z0-9_]*)\b")


@dataclass(frozen=True)
class Model:
    layer: str
    name: str
    path: Path
    sql: str
    description: str
    references: tuple[str, ...]

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _header(sql: str) -> str:
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return " ".join(line for line in lines if line).strip()


@cache
def discover() -> dict[str, Model]:
    models = {}
    for layer in LAYERS:
        for path in sorted((SQL_DIR / layer).glob("*.sql")):
            sql = path.read_text()
            refs = sorted(
                {f"{s}.{t}" for s, t in _REFERENCE.findall(_strip_comments(sql))}
                - {f"{layer}.{path.stem}"}
            )
            model = Model(layer, path.stem, path, sql, _header(sql), tuple(refs))
            models[model.table] = model
    return models


def model_dependencies(model: Model) -> list[str]:
    """Upstream models of this one (references to raw.* and seeds.* are not models)."""
    known = discover()
    return [ref for ref in model.references if ref in known]


def topological_order() -> list[Model]:
    models = discover()
    ordered: list[Model] = []
    seen: set[str] = set()

    def visit(table: str) -> None:
        if table in seen:
            return
        seen.add(table)
        for dep in model_dependencies(models[table]):
            visit(dep)
        ordered.append(models[table])

    for table in models:
        visit(table)
    return ordered


def run_model(con: duckdb.DuckDBPyConnection, model: Model) -> dict[str, float | int]:
    """Rebuild the model's table in one transaction: readers see the old or the new table."""
    started = time.perf_counter()
    body = model.sql.strip().rstrip(";")
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace table {model.table} as\n{body}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    rows = con.execute(f"select count(*) from {model.table}").fetchone()[0]
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}
