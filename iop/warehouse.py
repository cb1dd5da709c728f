"""The working DuckDB database: connections, schemas and the raw layer dbt reads as sources
(raw.registry, one raw.<layout> view per source layout, raw.site_<seed> value-set additions)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from iop.files import make_private
from iop.layouts import LAYOUTS
from iop.ops import recovery
from iop.settings import IopSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
SEEDS_DIR = SQL_DIR / "seeds"
SCHEMAS = ("raw", "audit")
LINEAGE_COLUMNS = ("_source_file", "_file_sha256", "_row_number", "_landed_at")


def configure(con: duckdb.DuckDBPyConnection, settings: IopSettings) -> None:
    """Resource limits, as dbt's profile sets them."""
    con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"set threads = {int(settings.duckdb_threads)}")


@contextlib.contextmanager
def connect(
    settings: IopSettings, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the working database. Read-write, it is the way in for every writer: a
    damaged file is rebuilt from raw first (iop/ops/recovery.py)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    if read_only:
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        except duckdb.Error as error:
            recovery.mark_damaged(settings.warehouse_path, error)
            raise
    else:
        con = recovery.open_writable(settings.warehouse_path)
    make_private(settings.warehouse_path)  # DuckDB creates it with the umask: it holds PHI
    try:
        configure(con, settings)
        if not read_only:
            ensure_schemas(con)
            recovery.sync_recoveries(con, settings.data_path)
        yield con
    except duckdb.Error as error:
        # a bad block shows when it is read: the next writer rebuilds the file from raw
        recovery.mark_damaged(settings.warehouse_path, error)
        raise
    finally:
        con.close()


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """The schemas Python writes (dbt creates its own): raw (registry, views) and audit
    (check results)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    from iop.validation import CHECK_RESULTS_DDL  # local: validation imports this module

    con.execute(CHECK_RESULTS_DDL)


def _listing(paths: list[str]) -> str:
    return ", ".join("'" + p.replace("'", "''") + "'" for p in paths)


def refresh_site_seeds(con: duckdb.DuckDBPyConnection, settings: IopSettings) -> dict[str, int]:
    """raw.site_<seed>: the rows a site adds to a shipped value set, from
    `$IOP_DATA_DIR/seeds/<seed>.csv` (same columns, all text); empty when the site has none.

    A site adds or fixes codes without editing the repository (e.g. a vendor's new attendance
    status in source_code_map.csv); the next refresh re-processes quarantined rows with them.
    """
    counts = {}
    for shipped in sorted(SEEDS_DIR.glob("*.csv")):
        site = settings.site_seeds_dir / shipped.name
        source = site if site.is_file() else shipped
        relation = f"read_csv({_listing([str(source)])}, header = true, all_varchar = true)"
        limit = "" if site.is_file() else " limit 0"
        con.execute(
            f"create or replace table raw.site_{shipped.stem} as select * from {relation}{limit}"
        )
        counts[shipped.stem] = con.execute(
            f"select count(*) from raw.site_{shipped.stem}"
        ).fetchone()[0]
    return counts


def ingested_paths(con: duckdb.DuckDBPyConnection, layout: str) -> list[str]:
    """The raw Parquet files of a layout registered as ingested (the registry's raw_path)."""
    return [
        row[0]
        for row in con.execute(
            "select raw_path from raw.registry "
            "where layout = ? and status = 'ingested' order by raw_path",
            [layout],
        ).fetchall()
    ]


def refresh_raw_views(
    con: duckdb.DuckDBPyConnection, settings: IopSettings, feed: str | None = None
) -> None:
    """raw.<layout> reads every ingested Parquet file of that layout; empty when there is none.

    Only files registered as ingested are read, so a half-written file is never seen.
    """
    for layout in LAYOUTS:
        if feed is not None and layout.feed != feed:
            continue
        paths = ingested_paths(con, layout.name)
        if paths:
            con.execute(
                f"create or replace view raw.{layout.name} as "
                f"select * from read_parquet([{_listing(paths)}], union_by_name = true)"
            )
        else:
            columns = ", ".join(f"null::varchar as {c}" for c in layout.columns)
            con.execute(
                f"create or replace view raw.{layout.name} as select {columns}"
                ", null::varchar as _source_file, null::varchar as _file_sha256"
                ", null::bigint as _row_number, null::timestamp as _landed_at limit 0"
            )


def has_table(con: duckdb.DuckDBPyConnection, qualified: str, *, or_view: bool = False) -> bool:
    """Whether `schema.table` is a table (or, with `or_view`, a view) of the database `con`
    works in."""
    schema, name = qualified.split(".")
    kinds = ["BASE TABLE", "VIEW"] if or_view else ["BASE TABLE"]
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = "
            "current_database() and table_schema = ? and table_name = ? "
            "and list_contains(?, table_type)",
            [schema, name, kinds],
        ).fetchone()[0]
    )
