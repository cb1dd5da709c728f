"""Publication: a fresh, read-only marts database swapped in with one atomic rename.

BI tools never open the working database (DuckDB lets one writer block every other process).
The marts are copied into a new file beside the published one, written in a storage format that
DuckDB 1.x readers (the versions BI drivers embed) can open, and renamed over the old file:
readers that have it open keep their snapshot; new connections see the new one. In the published
file the marts are tables of its default schema, so a reader that opens `marts.duckdb` queries
`marts.episodes` (catalog `marts`, schema `main`) or just `episodes`. After a refresh by change
scope, the new file starts as a copy of the published one and takes only the marts' changed
rows, when that is provably the same (iop/publication_delta.py); otherwise it is written whole.

Safety, in order:

1. Everything is written to temporary files first: `.marts.duckdb.<token>.tmp` beside the
   published file and `marts/.<mart>.parquet.<token>.tmp` beside each Parquet copy. The database
   gets the marts, their data-dictionary comments (sql/marts/<mart>.yml) and a `_publication`
   table (run id, time, row count of every mart) so a reader can check it sees a complete
   publication. The Parquet copies are written from the marts the file is written from, in
   threads while it is written (nothing writes those marts meanwhile, and a file by change that
   does not reproduce them is written again whole), so they hold exactly what it holds, with
   their types (counts stay 64-bit integers; pandas metadata makes pandas
   read nullable counts as Int64 instead of floats), and carry the run id and time, the table's
   description and every column's description (the same docs as the comments: Arrow field
   metadata `description`, and a `column_descriptions` JSON key) as Parquet key-value metadata.
2. Each temporary file is checkpointed, closed and fsynced. Until then nothing published is
   touched: a crash or an error leaves the previous publication as it was.
3. `os.replace` swaps the database in, then each Parquet file; the directories are fsynced so
   the renames survive a power loss. (Each file swaps atomically; the Parquet set as a whole does
   not, hence the run id in each file's metadata.)
4. Temporary files of a failed attempt are deleted in a `finally`; those of a killed process
   (SIGKILL, power loss) are deleted by the next publication. That is safe because publishing
   holds the working database open read-write, which DuckDB grants to one process at a time.

The pipeline never opens marts.duckdb itself, so any number of read-only readers can use it
while a refresh runs (tests/test_publication.py reads it from other processes during refreshes).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from iop import dictionary
from iop import publication_delta as delta_
from iop.settings import IopSettings

log = logging.getLogger(__name__)

# Storage format of the published file. DuckDB 2.0.1 writes by default a format no 1.x reads;
# 'v1.0.0' (storage format 64) is the newest that every DuckDB 1.x opens. Tested 2026-11 with the
# published file (every mart, comments and _publication) opened read-only and fully queried by
# duckdb 1.0.0, 1.1.3, 1.2.2, 1.3.2, 1.4.4 and 1.5.6 from PyPI (every 1.x minor; 1.0.0 is the
# oldest 1.x there). 'v1.2.0' (format 65) and later are refused by 1.0/1.1 ("can only read
# version 64").
STORAGE_VERSION = "v1.0.0"

_TOKEN = re.compile(r"[0-9a-f]{32}")


class PublicationError(RuntimeError):
    pass


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (POSIX; a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_catalog = current_database() order by 1"
        ).fetchall()
    ]


def database_temporary(target: Path, token: str) -> Path:
    return target.with_name(f".{target.name}.{token}.tmp")


def parquet_temporary(parquet_dir: Path, table: str, token: str) -> Path:
    return parquet_dir / f".{table}.parquet.{token}.tmp"


def leftover_temporaries(settings: IopSettings) -> list[Path]:
    """Temporary files a killed publication left behind (database, its WAL, Parquet)."""
    target = settings.marts_path
    database = re.compile(rf"\.{re.escape(target.name)}\.{_TOKEN.pattern}\.tmp(\.wal)?")
    parquet = re.compile(rf"\.[a-z0-9_]+\.parquet\.{_TOKEN.pattern}\.tmp")
    found = []
    if target.parent.is_dir():
        found += [p for p in target.parent.iterdir() if database.fullmatch(p.name)]
    if settings.marts_parquet_dir.is_dir():
        found += [p for p in settings.marts_parquet_dir.iterdir() if parquet.fullmatch(p.name)]
    return sorted(found)


def remove_leftovers(settings: IopSettings) -> list[Path]:
    removed = []
    for path in leftover_temporaries(settings):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    if removed:
        log.warning("removed %d temporary file(s) of an interrupted publication", len(removed))
    return removed


def _load_docs() -> dict[str, dictionary.MartDoc]:
    # The dictionary is checked by tests; a broken sidecar must not stop the data from publishing.
    try:
        return dictionary.load_all()
    except (dictionary.DictionaryError, OSError, ValueError) as error:
        log.warning("publishing without column comments: %s", error)
        return {}


# Rows per Arrow batch written to a Parquet copy: the copy streams, whatever the mart's size.
PARQUET_BATCH_ROWS = 122_880


def parquet_schema(
    schema: pa.Schema, doc: dictionary.MartDoc | None, metadata: dict[str, str]
) -> pa.Schema:
    """`schema` with the docs: each field's description, the table's, and pandas metadata that
    makes pandas read integer columns (nullable counts) as Int64, not float64."""
    fields = []
    descriptions = {}
    for field in schema:
        text = None
        if doc is not None:
            try:
                text = doc.column(field.name).comment
            except KeyError:
                text = None
        if text:
            descriptions[field.name] = text
            field = field.with_metadata({"description": text})
        fields.append(field)
    pandas_columns = [
        {
            "name": field.name,
            "field_name": field.name,
            "pandas_type": str(field.type),
            "numpy_type": "Int64",
            "metadata": None,
        }
        for field in schema
        if pa.types.is_integer(field.type)
    ]
    kv = {
        **metadata,
        "column_descriptions": json.dumps(descriptions),
        "pandas": json.dumps(
            {"index_columns": [], "column_indexes": [], "columns": pandas_columns}
        ),
    }
    if doc is not None:
        kv["description"] = doc.comment
    return pa.schema(fields, metadata=kv)


def _write_parquet(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    path: Path,
    doc: dictionary.MartDoc | None,
    metadata: dict[str, str],
) -> None:
    reader = con.sql(f"select * from {relation}").to_arrow_reader(PARQUET_BATCH_ROWS)
    schema = parquet_schema(reader.schema, doc, metadata)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))


# Parquet copies written at once: a copy's encoding and compression run in its own thread
# (pyarrow and DuckDB release the GIL); at L the three large marts take 5.2 s one after another.
PARQUET_THREADS = 2


def _start_parquet_files(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, str],
    parquet_files: dict[str, Path],
    docs: dict[str, dictionary.MartDoc],
    metadata: dict[str, str],
) -> tuple[ThreadPoolExecutor, list[Future]]:
    """Start every mart's Parquet copy from its source relation, largest first, in threads of
    their own, while the new marts file is written: the two hold the same rows (the source is
    not written while the publication runs, and a delta that does not reproduce it is written
    again whole), and the Parquet encoding overlaps the file's copy and checkpoint."""
    sizes = {t: con.execute(f"select count(*) from {sources[t]}").fetchone()[0] for t in sources}

    def write(table: str) -> None:
        with con.cursor() as cursor:  # a connection of its own to the same database
            _write_parquet(cursor, sources[table], parquet_files[table], docs.get(table), metadata)

    pool = ThreadPoolExecutor(PARQUET_THREADS)
    order = sorted(parquet_files, key=lambda t: sizes[t], reverse=True)
    return pool, [pool.submit(write, table) for table in order]


def _finish(pool: ThreadPoolExecutor, writes: list[Future]) -> None:
    """Wait for the Parquet copies; the first error is raised (the others are waited for)."""
    try:
        for done in writes:
            done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _copy_table(con: duckdb.DuckDBPyConnection, alias: str, table: str, source: str) -> None:
    con.execute(f"create or replace table {alias}.main.{table} as from {source}")


def _comment(
    con: duckdb.DuckDBPyConnection, alias: str, table: str, docs: dict[str, dictionary.MartDoc]
) -> None:
    if table in docs:
        missing = dictionary.apply_comments(con, f"{alias}.main.{table}", docs[table])
        if missing:
            log.warning("marts.%s: documented columns not in the table: %s", table, missing)
    else:
        log.warning("marts.%s has no data dictionary sidecar; published uncommented", table)


def _write_publication(
    con: duckdb.DuckDBPyConnection,
    database: Path,
    parquet_files: dict[str, Path],
    run_id: str,
    published_at: datetime,
    sources: dict[str, str],
    docs: dict[str, dictionary.MartDoc],
    delta: delta_.Delta | None = None,
) -> dict[str, int]:
    """Write the new marts file and the Parquet copies (all temporaries), durable on return.
    `sources`: the relation each mart is read from. With `delta`, the new file starts as a copy
    of the published one and only what changed is written into it (`publication_delta.apply`);
    a copy that does not then hold exactly the marts raises DeltaMismatch."""
    metadata = {"run_id": run_id, "published_at": published_at.isoformat()}
    pool, writes = _start_parquet_files(con, sources, parquet_files, docs, metadata)
    try:
        counts = _write_database(con, database, sources, delta, docs, (run_id, published_at))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the file's error is the one raised
        raise
    _finish(pool, writes)
    for path in (database, *parquet_files.values()):
        _fsync(path)
    return counts


def _write_database(
    con: duckdb.DuckDBPyConnection,
    database: Path,
    sources: dict[str, str],
    delta: delta_.Delta | None,
    docs: dict[str, dictionary.MartDoc],
    stamp: tuple[str, datetime],
) -> dict[str, int]:
    """The new marts file (each mart's rows returned): a copy of the published one with the
    changes applied (`delta`), or every mart of `sources` copied whole; its `_publication` table
    says the run and time (`stamp`)."""
    alias = f"publication_{uuid.uuid4().hex[:12]}"
    counts: dict[str, int] = {}
    if delta is not None:
        shutil.copyfile(delta.published, database)
    path = dictionary.sql_literal(str(database))
    con.execute(f"attach {path} as {alias} (storage_version '{STORAGE_VERSION}')")
    try:
        if delta is not None:
            delta_.apply(con, alias, delta, sources)
            con.execute(f"drop table {alias}.main._publication")
        for table in sorted(sources):
            if delta is None:
                _copy_table(con, alias, table, sources[table])
                _comment(con, alias, table, docs)
            counts[table] = con.execute(f"select count(*) from {alias}.main.{table}").fetchone()[0]
        con.execute(
            f"create table {alias}.main._publication (run_id varchar not null, published_at "
            "timestamp not null, table_name varchar not null, row_count bigint not null)"
        )
        con.executemany(
            f"insert into {alias}.main._publication values (?, ?, ?, ?)",
            [[*stamp, table, n] for table, n in counts.items()],
        )
        dictionary.apply_comments(con, f"{alias}.main._publication", dictionary.PUBLICATION_DOC)
        con.execute(f"checkpoint {alias}")
    finally:
        con.execute(f"detach {alias}")
    return counts


def publish_marts(
    con: duckdb.DuckDBPyConnection,
    settings: IopSettings,
    run_id: str,
    sources: dict[str, str] | None = None,
) -> dict:
    """Publish every marts.* table of the working database `con`, or the marts of `sources`
    (mart -> a relation `con` reads, e.g. the Parquet files Spark wrote: iop/spark.py
    `export_marts`); see the module docstring."""
    from_working = sources is None
    if sources is None:
        sources = {table: f"marts.{table}" for table in mart_tables(con)}
    tables = sorted(sources)
    if not tables:
        raise PublicationError("there is no marts.* table to publish")
    target = settings.marts_path
    parquet_dir = settings.marts_parquet_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(settings)

    docs = _load_docs()
    delta, why_whole = None, "the marts come from Spark"
    if from_working:
        layout = delta_.publication_format(con, tables, docs, STORAGE_VERSION)
        delta, why_whole = delta_.plan(con, target, tables, layout)
    token = uuid.uuid4().hex
    database = database_temporary(target, token)
    parquet_files = {table: parquet_temporary(parquet_dir, table, token) for table in tables}
    temporaries = [database, database.with_name(database.name + ".wal"), *parquet_files.values()]
    published_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        args = (con, database, parquet_files, run_id, published_at, sources, docs)
        try:
            counts = _write_publication(*args, delta)
        except delta_.DeltaMismatch as mismatch:
            log.warning("publishing whole: %s", mismatch)
            delta, why_whole = None, str(mismatch)
            for path in temporaries:
                path.unlink(missing_ok=True)
            counts = _write_publication(*args)
        # The new publication is complete and durable: swap it in.
        os.replace(database, target)
        _fsync_dir(target.parent)
        for table, path in parquet_files.items():
            os.replace(path, parquet_dir / f"{table}.parquet")
        _fsync_dir(parquet_dir)
    finally:
        for path in temporaries:
            path.unlink(missing_ok=True)
    if from_working:
        delta_.record(con, run_id, layout, target, delta)
    else:
        delta_.forget(con)
    return {
        "path": str(target),
        "tables": counts,
        "published_at": published_at.isoformat(),
        "written": delta.summary() if delta is not None else f"whole: {why_whole}",
    }
