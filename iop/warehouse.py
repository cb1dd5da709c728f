"""The working DuckDB database: connections, schemas, seeds and raw-layer views."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from iop.layouts import LAYOUTS
from iop.pseudonym import arrow_pseudonymizer
from iop.settings import Settings, pseudonym_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
SEEDS_DIR = SQL_DIR / "seeds"
SCHEMAS = ("raw", "seeds", "staging", "core", "marts", "audit")
LINEAGE_COLUMNS = ("_source_file", "_file_sha256", "_row_number", "_landed_at")


def configure(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Resource limits, rule parameters as SQL variables, and the pseudonym function."""
    con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"set threads = {int(settings.duckdb_threads)}")
    con.execute(f"set variable episode_gap_days = {int(settings.episode_gap_days)}")
    con.execute(f"set variable transition_window_days = {int(settings.transition_window_days)}")


def register_pseudonymizer(con: duckdb.DuckDBPyConnection) -> None:
    """`pseudonymize(text)`: HMAC-SHA256 with IOP_PSEUDONYM_KEY (errors clearly when unset)."""
    con.create_function(
        "pseudonymize",
        arrow_pseudonymizer(pseudonym_key()),
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
        side_effects=False,
    )


@contextlib.contextmanager
def connect(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
    try:
        configure(con, settings)
        if not read_only:
            ensure_schemas(con)
        yield con
    finally:
        con.close()


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        """
        create table if not exists audit.landed_files (
            file_sha256 varchar primary key
            , feed varchar not null
            , layout varchar
            , source_file varchar not null
            , file_bytes bigint
            , rows_read bigint
            , rows_accepted bigint
            , rows_quarantined bigint
            , rows_superseded bigint
            , status varchar not null
            , error varchar
            , warnings varchar
            , raw_path varchar
            , landed_at timestamp
            , ingested_at timestamp
        )
        """
    )
    con.execute((SQL_DIR / "macros.sql").read_text())
    from iop.validation import CHECK_RESULTS_DDL  # local: validation imports this module

    con.execute(CHECK_RESULTS_DDL)


def load_seeds(con: duckdb.DuckDBPyConnection, local_dir: Path | None = None) -> dict[str, int]:
    """Every CSV in sql/seeds becomes table seeds.<stem>, all text (codes keep leading zeros).

    A site adds or fixes codes without editing the repository by dropping a CSV of the same name
    and columns into `$IOP_DATA_DIR/seeds/`: its rows are added to the shipped ones (e.g. a
    vendor's new attendance status in source_code_map.csv), and the next refresh re-processes
    quarantined rows with them.
    """
    counts = {}
    for path in sorted(SEEDS_DIR.glob("*.csv")):
        sources = [path]
        if local_dir is not None and (local_dir / path.name).is_file():
            sources.append(local_dir / path.name)
        listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in sources)
        con.execute(
            f"create or replace table seeds.{path.stem} as "
            f"select * from read_csv([{listing}], header = true, all_varchar = true, union_by_name = true)"
        )
        counts[path.stem] = con.execute(f"select count(*) from seeds.{path.stem}").fetchall()[0][0]
    return counts


def refresh_raw_views(
    con: duckdb.DuckDBPyConnection, settings: Settings, feed: str | None = None
) -> None:
    """raw.<layout> reads every ingested Parquet file of that layout; empty when there is none.

    Only files registered as ingested are read, so a half-written file is never seen.
    """
    for layout in LAYOUTS:
        if feed is not None and layout.feed != feed:
            continue
        paths = [
            row[0]
            for row in con.execute(
                "select raw_path from audit.landed_files "
                "where layout = ? and status = 'ingested' order by raw_path",
                [layout.name],
            ).fetchall()
        ]
        if paths:
            listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            con.execute(
                f"create or replace view raw.{layout.name} as "
                f"select * from read_parquet([{listing}], union_by_name = true)"
            )
        else:
            columns = ", ".join(f"null::varchar as {c}" for c in layout.columns)
            con.execute(
                f"create or replace view raw.{layout.name} as select {columns}"
                ", null::varchar as _source_file, null::varchar as _file_sha256"
                ", null::bigint as _row_number, null::timestamp as _landed_at limit 0"
            )
