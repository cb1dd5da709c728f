"""The tables the dbt models build, on the engine the settings name (IOP_ENGINE).

Ingest, the registry and the run's bookkeeping always live in the DuckDB working database
(`settings.connect()`); staging, audit, core, intermediate and marts live where the models run:
the same database on DuckDB, the Spark catalog on Spark (iop/spark.py). Code that reads model
tables (row counts, KPIs, checks, publication) opens them with `connect`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from iop.settings import IopSettings


@contextlib.contextmanager
def connect(settings: IopSettings) -> Iterator[Any]:
    """A read-only connection to the model tables: a DuckDB connection, or on Spark a
    `SparkConnection` (execute / fetchone / fetchall) on the process's SparkSession."""
    if settings.on_spark:
        from iop import spark

        yield spark.SparkConnection(spark.session(settings))
    else:
        with settings.connect(read_only=True) as con:
            yield con
