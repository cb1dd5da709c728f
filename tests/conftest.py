"""Shared fixtures: an isolated data folder per test, and an in-process Dagster run."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

TEST_KEY = "test-pseudonym-key-0123456789abcdef0123456789"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NO_SHARED_DATA = "the public X12 samples (../shared/data beside this clone) are not here"
# Tests that read the public corpus skip, with this reason, in a plain clone (no ../shared).
requires_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=NO_SHARED_DATA)


def pytest_collection_modifyitems(items):
    """Tests marked `starts_first` (the Spark equality test, 3 of the suite's ~10 minutes) are
    collected first: pytest-xdist hands tests out in collection order, so it starts at once on one
    worker while the other gets through the short tests, instead of starting near the end and
    leaving a worker idle until it finishes."""
    items.sort(key=lambda item: item.get_closest_marker("starts_first") is None)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("IOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.setenv("IOP_DUCKDB_THREADS", "2")
    monkeypatch.delenv("IOP_DEMO", raising=False)
    return tmp_path / "data"


def materialize(raise_on_error: bool = True):
    from iop.runner import run_full_refresh

    return run_full_refresh(raise_on_error=raise_on_error)


def query(data_dir: Path, sql: str, params=None, database: str = "warehouse.duckdb"):
    con = duckdb.connect(str(data_dir / database), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def published_small(tmp_path_factory) -> Path:
    """A small generated dataset built and published once per session (the data folder), for
    tests that only read the published marts (test_analyst_marts.py, test_bi_reflection.py)."""
    data_dir = tmp_path_factory.mktemp("published_small") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=150, seed=3, start="2025-07-01", end="2025-12-31")
        assert run_full_refresh(log_level="WARNING").success
    return data_dir
