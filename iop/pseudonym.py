"""Keyed pseudonyms for person ids: HMAC-SHA256 with a secret key, hex-encoded.

The same id and key always give the same pseudonym, so marts from different runs join; without
the key a pseudonym cannot be reversed or recomputed from a guessed id.
"""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa


def pseudonymize(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def register_pseudonymizer(con, *, record: bool = True) -> None:
    """`pseudonymize(text)` on a DuckDB connection: HMAC-SHA256 with IOP_PSEUDONYM_KEY, vectorized
    over Arrow arrays. Fails here, with a clear message, when the key is missing or weak, or is not
    the key the warehouse's person keys were made with (iop.keys; `record` writes the fingerprint
    of a warehouse that has none)."""
    from iop.keys import verify_fingerprint
    from iop.settings import pseudonym_key

    key = pseudonym_key()
    verify_fingerprint(con, key, record=record)

    def udf(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else pseudonymize(v, key) for v in values.to_pylist()],
            type=pa.string(),
        )

    con.create_function(
        "pseudonymize", udf, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
    )


def hmac_pads(key: bytes) -> tuple[str, str]:
    """The inner and outer HMAC-SHA256 pads of `key`, hex-encoded, so SQL computes the keyed hash
    with only sha256 and byte concatenation (RFC 2104): sha256(outer || sha256(inner || value)).
    They are as secret as the key: register them in a session, never write them into SQL files."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()
