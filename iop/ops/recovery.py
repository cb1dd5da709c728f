"""A damaged working database is rebuilt from raw, by itself.

`warehouse.duckdb` is derived: raw Parquet and the registry (`raw/`) are the source of truth, and
every refresh rebuilds staging, core and the marts from them. So when DuckDB cannot open the file
or reports it damaged (a checksum mismatch, a truncated file, not a DuckDB file, a WAL it cannot
replay), the file (with its WAL) is moved to `$IOP_DATA_DIR/recovery/` and a new one is started;
the refresh under way rebuilds everything. What is not derived is carried over when the damaged
file still yields it: the check history (`audit.check_results`) and the pseudonym key's
fingerprint (`audit.pseudonym_key`). Each rebuild is recorded: a warning in the log, a record
`recovery/events/<time>.json` and a row of `audit.warehouse_recoveries` (kept across rebuilds).

Damage that does not show when the file is opened (a bad data block is only read when its table
is) is looked for after a crash: a process that opens the warehouse for writing leaves a marker
(`recovery/writer.json`, its pid) that it removes when it exits normally. A marker whose process is
gone means the last writer died (SIGKILL, OOM killer, power loss): every table is then read in
full once before the run uses the file.

Lock conflicts, a full disk or a permission error are not damage: they are raised as they are.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from iop.files import make_private, private_dir, write_private_text
from iop.redact import redact

log = logging.getLogger(__name__)

# What DuckDB (2.0.1) says about a damaged file, lower case, matched outside quoted text (a value
# quoted in a data error, 'corrupt' say, must never look like damage): phrase -> reason
DAMAGE_SIGNS = {
    "failure while replaying wal": "write-ahead log unreadable",
    "corrupt wal file": "write-ahead log unreadable",
    "corrupt database file": "block checksum mismatch",
    "does not match stored checksum": "block checksum mismatch",
    "not a valid duckdb database file": "not a DuckDB database file",
    "could not read enough bytes": "truncated database file",
    "database has been invalidated": "database invalidated by a fatal error",
    "input/output error": "I/O error reading the file",
}
NOT_DAMAGE = ("could not set lock", "conflicting lock", "no space left", "permission denied")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"")
CARRIED_OVER = ("audit.check_results", "audit.pseudonym_key")
KEEP_DAMAGED_COPIES = 1
RECOVERIES_DDL = """
create table if not exists audit.warehouse_recoveries (
    recovered_at timestamp
    , reason varchar
    , detail varchar
    , moved_to varchar
    , carried_over varchar
    , pid bigint
)
"""

_CLAIMED: set[Path] = set()


def damage_reason(error: BaseException) -> str | None:
    """A short reason when `error` says the database file is damaged, else None."""
    text = _QUOTED.sub("", str(error)).lower()
    if any(sign in text for sign in NOT_DAMAGE):
        return None
    return next((reason for sign, reason in DAMAGE_SIGNS.items() if sign in text), None)


def recovery_dir(data_path: Path) -> Path:
    return data_path / "recovery"


def events_dir(data_path: Path) -> Path:
    return recovery_dir(data_path) / "events"


def _marker(database: Path) -> Path:
    return recovery_dir(database.parent) / "writer.json"


def _damage_flag(database: Path) -> Path:
    return recovery_dir(database.parent) / "damaged.json"


def damage_reported(database: Path) -> bool:
    return _damage_flag(database).exists()


def mark_damaged(database: Path, error: BaseException | str) -> bool:
    """Remember that DuckDB reported damage while the warehouse was in use (a bad block read by a
    model or a check): the next writer rebuilds it. True when `error` is damage."""
    reason = damage_reason(error if isinstance(error, BaseException) else RuntimeError(error))
    if reason is None:
        return False
    flag = _damage_flag(database)
    private_dir(flag.parent)
    first_line = str(error).splitlines()[0] if str(error) else reason
    record = {"reason": reason, "detail": redact(first_line), "pid": os.getpid()}
    write_private_text(flag, json.dumps(record))
    log.warning("warehouse.duckdb reported damage (%s): the next run rebuilds it", reason)
    return True


def _release_markers() -> None:
    for marker in list(_CLAIMED):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(marker.read_text()).get("pid") == os.getpid():
                marker.unlink()


atexit.register(_release_markers)


def _claim(database: Path) -> None:
    marker = _marker(database)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(marker.read_text()).get("pid") == os.getpid():
            return
    private_dir(marker.parent)
    write_private_text(marker, json.dumps({"pid": os.getpid(), "at": time.time()}))
    _CLAIMED.add(marker)


def last_writer_died(database: Path) -> bool:
    """The marker of a writer that did not exit normally (its process is gone)."""
    from iop.ops.runs import Worker, process_alive

    try:
        record = json.loads(_marker(database).read_text())
        worker = Worker(int(record["pid"]), float(record["at"]))
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        return True  # a marker cut short by the crash
    return worker.pid != os.getpid() and not process_alive(worker)


def read_every_table(con: duckdb.DuckDBPyConnection) -> int:
    """Read every column of every table (checksums are verified as blocks are read)."""
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = current_database() and not temporary order by all"
    ).fetchall()
    for schema, table in tables:
        con.execute(f'select count(hash(t)) from "{schema}"."{table}" as t').fetchall()
    return len(tables)


def _damaged_copies(data_path: Path) -> list[Path]:
    folder = recovery_dir(data_path)
    return sorted(folder.glob("warehouse-*.duckdb")) if folder.is_dir() else []


def _move_aside(database: Path, stamp: str) -> Path:
    folder = private_dir(recovery_dir(database.parent))
    target = folder / f"warehouse-{stamp}.duckdb"
    os.replace(database, target)
    wal = database.with_name(database.name + ".wal")
    if wal.exists():
        os.replace(wal, target.with_name(target.name + ".wal"))
    # a damaged copy holds PHI and can be large: keep only the latest for a post-mortem
    for old in _damaged_copies(database.parent)[:-KEEP_DAMAGED_COPIES]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".wal").unlink(missing_ok=True)
    return target


def _carry_over(con: duckdb.DuckDBPyConnection, damaged: Path) -> list[str]:
    """Copy the tables that are not derived from raw out of the damaged file, where it yields
    them whole; the rest of the history is lost with the file."""
    kept: list[str] = []
    try:
        con.execute(f"attach '{str(damaged).replace(chr(39), chr(39) * 2)}' as damaged (read_only)")
    except duckdb.Error as error:
        log.warning("damaged warehouse does not open read-only (%s): no history kept", type(error))
        return kept
    try:
        for table in CARRIED_OVER:
            try:
                con.execute("begin")
                con.execute(f"create or replace table {table} as from damaged.{table}")
                con.execute("commit")
                kept.append(table)
            except duckdb.Error:
                with contextlib.suppress(duckdb.Error):
                    con.execute("rollback")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("detach damaged")
    return kept


def _record(data_path: Path, event: dict) -> None:
    folder = private_dir(events_dir(data_path))
    name = event["recovered_at"].replace(":", "").replace(" ", "T")
    write_private_text(folder / f"{name}-{os.getpid()}.json", json.dumps(event, indent=1))


def recovery_events(data_path: Path) -> list[dict]:
    folder = events_dir(data_path)
    if not folder.is_dir():
        return []
    events = []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            events.append(json.loads(path.read_text()))
    return events


def sync_recoveries(con: duckdb.DuckDBPyConnection, data_path: Path) -> None:
    """audit.warehouse_recoveries ← the recorded events (the file outlives any one warehouse)."""
    con.execute(RECOVERIES_DDL)
    table = "audit.warehouse_recoveries"
    known = {r[0] for r in con.execute(f"select moved_to from {table}").fetchall()}
    rows = [
        [e["recovered_at"], e["reason"], e["detail"], e["moved_to"], e["carried_over"], e["pid"]]
        for e in recovery_events(data_path)
        if e.get("moved_to") not in known
    ]
    if rows:
        con.executemany("insert into audit.warehouse_recoveries values (?, ?, ?, ?, ?, ?)", rows)


def rebuild(database: Path, error: BaseException, reason: str) -> duckdb.DuckDBPyConnection:
    """Move the damaged file aside, start a new one, carry over what is not derived, record it."""
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    moved = _move_aside(database, stamp) if database.exists() else None
    con = duckdb.connect(str(database))
    make_private(database)
    con.execute("create schema if not exists audit")
    kept = _carry_over(con, moved) if moved else []
    detail = redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
    event = {
        "recovered_at": now.isoformat(sep=" "),
        "reason": reason,
        "detail": detail,
        "moved_to": str(moved.relative_to(database.parent)) if moved else f"(none) {stamp}",
        "carried_over": ", ".join(kept) or None,
        "pid": os.getpid(),
    }
    _record(database.parent, event)
    log.warning(
        "warehouse.duckdb was damaged (%s: %s): moved to %s and started anew; this refresh "
        "rebuilds it from raw (kept: %s)",
        reason,
        detail,
        event["moved_to"],
        event["carried_over"] or "nothing",
    )
    return con


def _flagged(database: Path) -> dict | None:
    flag = _damage_flag(database)
    if not flag.exists():
        return None
    try:
        return json.loads(flag.read_text())
    except (OSError, ValueError):
        return {}


def open_writable(database: Path, *, run_start: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse opened read-write; rebuilt first if DuckDB reports it damaged now or did
    during an earlier run, or if the last writer died and reading every table shows damage.

    Damage flagged by this process is acted on only at the start of a run (`run_start`, the
    in-process runner): the later steps of the run that met it must not find an empty warehouse.
    A run worker is a process of its own, so its first connection starts the run."""
    flagged = _flagged(database)
    if flagged is not None and not run_start and flagged.get("pid") == os.getpid():
        flagged = None
    con = None
    try:
        # opening takes DuckDB's lock first: a file another process is using is never moved
        con = duckdb.connect(str(database))
        if flagged is None and last_writer_died(database):
            count = read_every_table(con)
            log.warning("the last writer of warehouse.duckdb died: read %d tables, intact", count)
    except duckdb.Error as error:
        reason = damage_reason(error)
        if con is not None:
            with contextlib.suppress(duckdb.Error):
                con.close()
        if reason is None:
            raise
        con = rebuild(database, error, reason)
    else:
        if flagged is not None:
            con.close()
            detail = flagged.get("detail") or "damage reported during an earlier run"
            con = rebuild(database, RuntimeError(detail), flagged.get("reason") or "damage")
    if flagged is not None:
        _damage_flag(database).unlink(missing_ok=True)
    _claim(database)
    return con
