"""Resources, built once from environment variables (see `.env.example`)."""


import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from iop import warehouse
from iop.settings import Settings


class WarehouseResource(ConfigurableResource):
    """The working DuckDB database and the rule parameters the models read as SQL variables."""

    data_dir: str
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    episode_gap_days: int = 30
    transition_window_days: int = 30

    @classmethod
    def from_env(cls) -> "WarehouseResource":
        s = Settings.from_env()
        return cls(
            data_dir=str(s.data_dir),
            duckdb_memory_limit=s.duckdb_memory_limit,
            duckdb_threads=s.duckdb_threads,
            episode_gap_days=s.episode_gap_days,
            transition_window_days=s.transition_window_days,
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=Path(self.data_dir),
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_threads=self.duckdb_threads,
            episode_gap_days=self.episode_gap_days,
            transition_window_days=self.transition_window_days,
        )

    @contextlib.contextmanager
    def connect(self, *, pseudonyms: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.settings) as con:
            if pseudonyms:
                warehouse.register_pseudonymizer(con)
            yield con
