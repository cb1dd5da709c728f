"""The pseudonym key's lifecycle: checked before anything runs, fingerprinted in the warehouse, and
changed only on purpose.

Every person key is HMAC-SHA256(person id, IOP_PSEUDONYM_KEY). A different key gives different
person keys for everyone, so a warehouse whose keys came from one secret must never be refreshed
with another (half the marts' history would name people one way, half the other, with nothing to
tell). The warehouse records a fingerprint of the key (`audit.pseudonym_key`: an HMAC of a fixed
constant with the key, which reveals nothing about the key) and every connection that computes
person keys compares it. A rotated key is taken only by `iop-rekey`, which rebuilds staging, core
and the marts with it and says what that does to trends.

`python -m iop.keys check` (run by `make dev`) and `iop-rekey` are the command-line entries.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys

import duckdb

from iop.settings import DEMO_PSEUDONYM_KEY, IopSettings, PseudonymKeyError, pseudonym_key

FINGERPRINT_TABLE = "audit.pseudonym_key"
_FINGERPRINT_MESSAGE = b"iop pseudonym key fingerprint v1"


class PseudonymKeyChanged(PseudonymKeyError):
    pass


def fingerprint(key: bytes) -> str:
    """A keyed hash of a constant: equal for equal keys, and no help in guessing the key."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    # looked up in the catalog first: a missing table would make DuckDB look for a Python
    # variable of that name in the caller's frames (a replacement scan)
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit' "
        "and table_name = 'pseudonym_key'"
    ).fetchall()[0][0]
    if not exists:
        return None
    # fetchall: a result left unfinished would block registering the UDF on this connection
    rows = con.execute(f"select fingerprint from {FINGERPRINT_TABLE}").fetchall()
    return rows[0][0] if rows else None


def changed_key_message(recorded: str, current: str) -> str:
    return (
        f"IOP_PSEUDONYM_KEY is not the key this warehouse's person keys were made with "
        f"(key fingerprint {recorded} recorded, {current} now). Refusing to mix person keys of "
        "two keys. If the old key was lost or set by mistake, restore it. If the key was rotated "
        "on purpose, run `iop-rekey`: it rebuilds staging, core and the marts with the new key "
        "(every person key changes, so person-level trends do not join across the rotation)."
    )


def verify_fingerprint(con: duckdb.DuckDBPyConnection, key: bytes, *, record: bool) -> None:
    """Refuse `key` when the warehouse was built with another; record it when none is recorded
    (a new warehouse) and the connection may write."""
    current = fingerprint(key)
    recorded = recorded_fingerprint(con)
    if recorded is None:
        if record:
            write_fingerprint(con, current)
        return
    if recorded != current:
        raise PseudonymKeyChanged(changed_key_message(recorded, current))


def write_fingerprint(con: duckdb.DuckDBPyConnection, value: str) -> None:
    con.execute("create schema if not exists audit").fetchall()
    con.execute(
        f"create or replace table {FINGERPRINT_TABLE} as "
        "select ?::varchar as fingerprint, current_timestamp::timestamp as recorded_at",
        [value],
    ).fetchall()


def preflight(settings: IopSettings) -> bytes:
    """Fail fast, before any ingest: the key is valid and is the warehouse's (when one exists)."""
    key = pseudonym_key()
    if settings.warehouse_path.exists():
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
            try:
                recorded = recorded_fingerprint(con)
            finally:
                con.close()
        except duckdb.Error as error:
            from iop.ops.recovery import damage_reason

            if damage_reason(error) is None:
                raise
            # a damaged warehouse is rebuilt by the run (iop/ops/recovery.py), which carries the
            # fingerprint over when the file still yields it; the run's own check follows
            return key
        if recorded is not None and recorded != fingerprint(key):
            raise PseudonymKeyChanged(changed_key_message(recorded, fingerprint(key)))
    return key


def rekey(settings: IopSettings) -> tuple[str | None, str]:
    """Record the current key's fingerprint in place of the old one and rebuild everything with
    it (staging, core, marts, publication); returns (old, new) fingerprints."""
    from iop.runner import dagster_instance, run_full_refresh

    key = pseudonym_key()
    new = fingerprint(key)
    with settings.connect() as con:
        old = recorded_fingerprint(con)
        write_fingerprint(con, new)
        # failing-row samples of earlier checks name persons by the old key's pseudonyms
        con.execute("update audit.check_results set failing_sample = null")
    result = run_full_refresh(dagster_instance(settings.data_path), raise_on_error=False)
    if not result.success:
        raise RuntimeError("the rebuild with the new key failed: see the run in the Dagster UI")
    return old, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iop.keys", description=__doc__)
    parser.add_argument("command", choices=["check", "rekey"])
    args = parser.parse_args(argv)
    settings = IopSettings.from_env()
    try:
        if args.command == "check":
            key = preflight(settings)
            if key == DEMO_PSEUDONYM_KEY.encode():
                print(f"Demo mode on {settings.data_path}: the public demo pseudonym key.")
            else:
                print(f"IOP_PSEUDONYM_KEY ok (fingerprint {fingerprint(key)}).")
            return 0
        old, new = rekey(settings)
    except PseudonymKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"Re-keyed {settings.data_path}: key fingerprint {old or 'none'} -> {new}. Staging, core "
        "and the marts were rebuilt and republished with the new key: every person key changed, "
        "so person-level trends kept outside (BI extracts, saved person keys) do not join across "
        "this change; aggregate marts are unaffected."
    )
    return 0


def rekey_main() -> int:
    return main(["rekey", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
