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


def arrow_pseudonymizer(key: bytes):
    """A vectorized DuckDB UDF body: arrow string array in, arrow string array out."""

    def udf(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else pseudonymize(v, key) for v in values.to_pylist()],
            type=pa.string(),
        )

    return udf
