"""Keyed pseudonyms for person ids: HMAC-SHA256 with a secret key, hex-encoded.

The same id and key always give the same pseudonym, so marts from different runs join; without
the key a pseudonym cannot be reversed or recomputed from a guessed id. `pseudonymize` is the
reference; the engines compute the same value in SQL (DuckDB: `register_pseudonymizer`, Spark:
iop/spark.py), from the key's HMAC pads, so no Python runs inside a query.
"""

from __future__ import annotations

import hashlib
import hmac


def pseudonymize(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# In-memory database of each DuckDB instance that holds the pseudonym macro: never written to a
# file, and seen by every connection of the instance (dbt-duckdb runs models on cursors).
KEY_CATALOG = "iop_keys"


def register_pseudonymizer(con, *, record: bool = True) -> None:
    """`pseudonymize(text)` on a DuckDB connection: HMAC-SHA256 with IOP_PSEUDONYM_KEY, as a SQL
    macro over the key's pads (`hmac_pads`): no Python runs in the query, and the SQL is the one
    Spark runs (iop/spark.py). Models call it as `{{ pseudonymize(...) }}` (sql/macros/
    engines.sql), i.e. `iop_keys.pseudonymize(...)`; this connection's own SQL also as
    `pseudonymize(...)`. Fails here, with a clear message, when the key is missing or weak, or is
    not the key the warehouse's person keys were made with (iop.keys; `record` writes the
    fingerprint of a warehouse that has none)."""
    from iop.keys import verify_fingerprint
    from iop.settings import pseudonym_key

    key = pseudonym_key()
    verify_fingerprint(con, key, record=record)
    inner, outer = hmac_pads(key)
    digest = f"sha256(unhex('{inner}') || encode(v))"
    con.execute(f"attach if not exists ':memory:' as {KEY_CATALOG}")
    con.execute(
        f"create or replace macro {KEY_CATALOG}.main.pseudonymize(v) as "
        f"sha256(unhex('{outer}') || unhex({digest}))"
    )
    con.execute(
        f"create or replace temporary macro pseudonymize(v) as {KEY_CATALOG}.main.pseudonymize(v)"
    )


def hmac_pads(key: bytes) -> tuple[str, str]:
    """The inner and outer HMAC-SHA256 pads of `key`, hex-encoded, so SQL computes the keyed hash
    with only sha256 and byte concatenation (RFC 2104): sha256(outer || sha256(inner || value)).
    They are as secret as the key: register them in a session, never write them into SQL files."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()
