"""A SparkSession for tests: `spark_session`, iop.spark.session on a temporary data folder.

Import the fixture into a test module (`from spark_support import spark_session  # noqa: F401`).
Tests using it skip, saying why, where Spark cannot run: pyspark not installed or no Java
(`java -version` fails). The session is one per test process (scope session): iop.spark.session
is `getOrCreate`, so a second folder in the same process would silently get the first session
anyway, and a JVM start costs seconds. Its catalog (metastore, warehouse) is the temporary
folder's; tests name their tables so that they do not meet (`create or replace`, own schemas).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TEST_KEY


def spark_unavailable() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed"
    try:
        subprocess.run(["java", "-version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "no Java runtime (`java -version` fails); Spark needs one"
    return None


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory) -> Iterator[Any]:
    reason = spark_unavailable()
    if reason is not None:
        pytest.skip(f"Spark tests skipped: {reason}")
    from iop import spark as iop_spark
    from iop.settings import IopSettings

    data_dir = tmp_path_factory.mktemp("spark") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)  # read once, when pseudonymize is registered
        mp.delenv("IOP_DEMO", raising=False)
        mp.setenv("IOP_SPARK_PARTITIONS", "2")  # tiny tables
        session = iop_spark.session(IopSettings(data_dir=str(data_dir), duckdb_threads=2))
    yield session
    session.stop()
