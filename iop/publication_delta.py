"""Publication by change: a refresh copies into the published file only the mart rows it changed.

A mart refreshed by change scope (sql/macros/incremental.sql, `mart_scoped_config`) notes in the
working database's `audit.mart_changes` the person keys whose rows each build deleted and computed
again, or a null key when it built the mart whole; the notes stay until a publication has copied
them. A publication can then start from a copy of the published file instead of an empty one:

* a scoped mart with noted keys: its rows of those keys are deleted from the copy and copied
  again from the working mart;
* a scoped mart with no note: the copy keeps it;
* a scoped mart built whole, and every other mart (rebuilt whole by every marts step, and small):
  every row copied again, into the copy's table (which keeps its comments).

Starting from the copy is sound only when the published file is the one the working database
last published, whole and unchanged since. `audit.publication_state` keeps what the last
publication wrote: its run id, a hash of the published format (the storage version, each mart's
columns and types, the data dictionary) and the size of the last file written whole. The change
is used only when the state says the published file is of the same format, the copy's
`_publication` carries that run id, and the file has not grown past MAX_GROWTH times its size
when last written whole (a deleted row's space is not always reused: a whole publication
compacts; a small file may grow by GROWTH_SLACK_BYTES). After the copy is brought up to date,
each mart it kept or changed must have exactly the working mart's rows: the same count and the
same sum of row hashes. Anything else raises
DeltaMismatch, and the publication is written whole instead (iop/publish.py), as it is on Spark.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from iop import dbt_project, dictionary
from iop.warehouse import has_table

log = logging.getLogger(__name__)

CHANGES = "audit.mart_changes"
STATE = "audit.publication_state"
# a change of how a publication is written: the next one is written whole
FORMAT_VERSION = 1
MAX_GROWTH = 1.5
GROWTH_SLACK_BYTES = 64 * 2**20  # a small file is cheap to write whole: let it grow this much

KEEP, KEYS, WHOLE = "keep", "keys", "whole"


class DeltaMismatch(RuntimeError):
    """The copy of the published file cannot be brought to the working marts by their changes."""


@dataclass(frozen=True)
class Delta:
    published: Path
    run_id: str  # of the publication the published file should hold
    actions: dict[str, str]  # mart -> KEEP, KEYS or WHOLE

    def summary(self) -> str:
        named = {
            a: sorted(t for t, x in self.actions.items() if x == a) for a in (KEYS, KEEP, WHOLE)
        }
        return (
            f"changes: rows of {', '.join(named[KEYS]) or 'no mart'} replaced; "
            f"{len(named[KEEP])} mart(s) kept, {len(named[WHOLE])} copied whole"
        )


def publication_format(
    con: duckdb.DuckDBPyConnection,
    tables: list[str],
    docs: dict[str, dictionary.MartDoc],
    storage_version: str,
) -> str:
    """A hash of what a published file's layout depends on, besides its rows."""
    columns = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_catalog = current_database() "
        "order by table_name, ordinal_position"
    ).fetchall()
    document = {
        "version": FORMAT_VERSION,
        "storage": storage_version,
        "tables": tables,
        "columns": [list(c) for c in columns if c[0] in tables],
        "docs": {t: repr(docs.get(t)) for t in tables},
        "publication": repr(dictionary.PUBLICATION_DOC),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _scoped_marts() -> set[str]:
    return {m.table_name for m in dbt_project.models("marts") if m.materialized == "incremental"}


def plan(
    con: duckdb.DuckDBPyConnection, published: Path, tables: list[str], format_sha256: str
) -> tuple[Delta | None, str]:
    """What a publication by change would do, or None and why it is written whole."""
    if not published.exists():
        return None, "nothing is published yet"
    state = (
        con.execute(f"select run_id, format_sha256, whole_size from {STATE}").fetchall()
        if has_table(con, STATE)
        else []
    )
    if len(state) != 1:
        return None, "the working database has no record of the published file"
    run_id, recorded_format, whole_size = state[0]
    if recorded_format != format_sha256:
        return None, "the marts' tables, columns or docs changed"
    if published.stat().st_size > max(MAX_GROWTH * whole_size, whole_size + GROWTH_SLACK_BYTES):
        return None, f"the published file grew past {MAX_GROWTH} times its size when written whole"
    noted: dict[str, bool] = {}  # mart -> built whole
    if has_table(con, CHANGES):
        noted = dict(
            con.execute(
                f"select mart, bool_or(person_key is null) from {CHANGES} group by mart"
            ).fetchall()
        )
    scoped = _scoped_marts()
    actions = {}
    for table in tables:
        if table not in scoped or noted.get(table, False):
            actions[table] = WHOLE
        else:
            actions[table] = KEYS if table in noted else KEEP
    return Delta(published, run_id, actions), ""


def _fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> tuple:
    return con.execute(f"select count(*), sum(hash(r)::hugeint) from {relation} as r").fetchone()


def apply(
    con: duckdb.DuckDBPyConnection, alias: str, delta: Delta, sources: dict[str, str]
) -> None:
    """Bring the attached copy `alias` of the published file up to date: the changed rows of the
    marts by keys, every row of the marts copied whole (refilled in place: the format is the
    same, so their tables and comments stay). Raises DeltaMismatch when the copy is not the
    recorded publication, or a mart it kept or changed then differs from the working one."""
    held = con.execute(f"select distinct run_id from {alias}.main._publication").fetchall()
    if [r[0] for r in held] != [delta.run_id]:
        raise DeltaMismatch(
            "the published file is not the publication the working database recorded"
        )
    # one transaction: DuckDB checkpoints the copy once, at the commit, instead of each time its
    # WAL passes the threshold (at M, 2.5-3.1 s -> 2.35-2.55 s for the changes and the checkpoint)
    con.execute("begin")
    try:
        for table, action in delta.actions.items():
            if action == KEEP:
                continue
            target = f"{alias}.main.{table}"
            rows = ""
            if action == KEYS:
                changed = f"select person_key from {CHANGES} where mart = '{table}'"
                rows = f" where person_key in ({changed})"
            con.execute(f"delete from {target}{rows}")
            con.execute(f"insert into {target} by name select * from {sources[table]}{rows}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for table, action in delta.actions.items():
        if action in (KEEP, KEYS) and _fingerprint(con, f"{alias}.main.{table}") != _fingerprint(
            con, sources[table]
        ):
            raise DeltaMismatch(
                f"marts.{table}: the published copy and its changes differ from the mart"
            )


def record(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    format_sha256: str,
    published: Path,
    delta: Delta | None,
) -> None:
    """After a publication from the working marts is swapped in: note it, and forget the
    changes it published."""
    whole_size = published.stat().st_size
    if delta is not None and has_table(con, STATE):
        whole_size = con.execute(f"select whole_size from {STATE}").fetchone()[0]
    con.execute("create schema if not exists audit")
    con.execute(
        f"create or replace table {STATE} (run_id varchar, format_sha256 varchar, "
        "whole_size bigint, recorded_at timestamp)"
    )
    con.execute(
        f"insert into {STATE} values (?, ?, ?, now()::timestamp)",
        [run_id, format_sha256, whole_size],
    )
    if has_table(con, CHANGES):
        con.execute(f"delete from {CHANGES}")


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """The published file no longer holds the working marts (Spark published its own)."""
    con.execute(f"drop table if exists {STATE}")
