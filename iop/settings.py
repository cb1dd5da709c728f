"""Settings read from the environment, in one place (documented in `.env.example`).

Everything the pipeline writes lives under `IOP_DATA_DIR` (default `./data`):

    landing/<feed>/        files dropped by EHR and payer feeds (attendance, roster, census, claims)
    raw/<layout>/<sha>.parquet   one immutable Parquet file per landed file, named by content hash
    warehouse.duckdb       the working database (staging, core, marts, audit schemas)
    marts.duckdb           the published, read-only marts (swapped in atomically)
    marts/<mart>.parquet   Parquet copies of the published marts
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FEEDS = ("attendance", "roster", "census", "claims")

# A fixed key only for the generated demo data; real runs must set IOP_PSEUDONYM_KEY.
DEMO_PSEUDONYM_KEY = "iop-demo-key-not-for-real-data"


class MissingPseudonymKey(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    episode_gap_days: int = 30
    transition_window_days: int = 30

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=Path(os.environ.get("IOP_DATA_DIR", "data")).resolve(),
            duckdb_memory_limit=os.environ.get("IOP_DUCKDB_MEMORY_LIMIT", "4GB"),
            duckdb_threads=int(os.environ.get("IOP_DUCKDB_THREADS", os.cpu_count() or 2)),
            episode_gap_days=int(os.environ.get("IOP_EPISODE_GAP_DAYS", 30)),
            transition_window_days=int(os.environ.get("IOP_TRANSITION_WINDOW_DAYS", 30)),
        )

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def marts_path(self) -> Path:
        return self.data_dir / "marts.duckdb"

    @property
    def marts_parquet_dir(self) -> Path:
        return self.data_dir / "marts"


def pseudonym_key() -> bytes:
    """The HMAC key for person pseudonyms. Unset is an error, except in the demo."""
    key = os.environ.get("IOP_PSEUDONYM_KEY")
    if key:
        return key.encode()
    if os.environ.get("IOP_DEMO") == "1":
        return DEMO_PSEUDONYM_KEY.encode()
    raise MissingPseudonymKey(
        "IOP_PSEUDONYM_KEY is not set. Set it to a long random secret (see .env.example); "
        "person keys in the marts are HMAC-SHA256 of internal ids with this key."
    )
