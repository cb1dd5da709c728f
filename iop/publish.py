"""Publication: a fresh, read-only marts database swapped in with one atomic rename.

BI tools never open the working database (DuckDB lets one writer block every other process).
The marts are copied into a new file beside the published one, written in a storage format that
DuckDB 1.x readers (the versions BI drivers embed) can open, and renamed over the old file:
readers that have it open keep their snapshot; new connections see the new one. In the published
file the marts are tables of its default schema, so a reader that opens `marts.duckdb` queries
`marts.episodes` (catalog `marts`, schema `main`) or just `episodes`. A crash at any
point before the rename leaves the previous publication untouched. Parquet copies follow the same
write-then-rename pattern.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from iop.settings import Settings

# Readable by DuckDB 1.0 and later (BI drivers embed their own DuckDB version).
STORAGE_VERSION = "v1.0.0"


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_catalog = current_database() order by 1"
        ).fetchall()
    ]


def publish_marts(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict:
    tables = mart_tables(con)
    target = settings.marts_path
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    published_at = datetime.now(UTC).replace(tzinfo=None)
    counts = {}
    con.execute(f"attach '{temporary}' as publication (storage_version '{STORAGE_VERSION}')")
    try:
        for table in tables:
            con.execute(f"create table publication.main.{table} as from marts.{table}")
            counts[table] = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
        con.execute(
            "create table publication.main._publication as select ? as run_id, "
            "?::timestamp as published_at, ? as tables",
            [run_id, published_at, ",".join(tables)],
        )
    finally:
        con.execute("detach publication")
    _fsync(temporary)
    os.replace(temporary, target)

    parquet_dir = settings.marts_parquet_dir
    parquet_dir.mkdir(parents=True, exist_ok=True)
    for table in tables:
        final = parquet_dir / f"{table}.parquet"
        partial = parquet_dir / f".{table}.{uuid.uuid4().hex}.tmp"
        con.execute(f"copy marts.{table} to '{partial}' (format parquet, compression zstd)")
        os.replace(partial, final)
    return {"path": str(target), "tables": counts, "published_at": published_at.isoformat()}
