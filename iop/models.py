"""SQL models: one `select` per file under sql/<layer>/, materialized as table <layer>.<stem>.

The file is the unit (as in Tuva and SQLMesh): its stem is the table and asset name, its header
comment is the description, and the tables it reads (`schema.table` references) are its
dependencies, so adding a model never means editing a list. A header line
`-- materialized: view` makes it a view (for unions and filters that would only copy rows).
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
    materialized: str = "table"

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


_MATERIALIZED = re.compile(r"^materialized:\s*(table|view)\s*$")


def _header_lines(sql: str) -> list[str]:
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return lines


def _header(sql: str) -> str:
    lines = [line for line in _header_lines(sql) if not _MATERIALIZED.match(line)]
    return " ".join(line for line in lines if line).strip()


def _materialized(sql: str) -> str:
    for line in _header_lines(sql):
        if match := _MATERIALIZED.match(line):
            return match.group(1)
    return "table"


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
            model = Model(
                layer, path.stem, path, sql, _header(sql), tuple(refs), _materialized(sql)
            )
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
        existing = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = ? and table_name = ? and table_catalog = current_database()",
            [model.layer, model.name],
        ).fetchall()
        wanted = "VIEW" if model.materialized == "view" else "BASE TABLE"
        if existing and existing[0][0] != wanted:  # the model changed kind: drop the old one
            kind = "view" if existing[0][0] == "VIEW" else "table"
            con.execute(f"drop {kind} {model.table}")
        con.execute(f"create or replace {model.materialized} {model.table} as\n{body}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    rows = con.execute(f"select count(*) from {model.table}").fetchone()[0]
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 3)}
