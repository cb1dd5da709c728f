"""BI access through SQLAlchemy (how Superset lists columns, how pandas.read_sql_table reads): with
the pinned SQLAlchemy and duckdb-engine, every published mart reflects with its columns, types and
comments (the data dictionary) once iop.bi's work-around is installed; without it, reflection
fails (if that test starts failing, a release fixed it upstream: drop the work-around)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from sqlalchemy import MetaData, inspect

from iop import bi, dbt_project, dictionary

MARTS = sorted(m.table_name for m in dbt_project.models("marts"))


# duckdb-engine warns on every reflection that it does not reflect indexes (the marts have none).
pytestmark = pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection")


@pytest.fixture(scope="module")
def engine(published_small):
    engine = bi.create_engine(published_small / "marts.duckdb")
    yield engine
    engine.dispose()


def test_every_mart_reflects_with_its_columns_and_comments(engine):
    inspector = inspect(engine)
    assert set(MARTS) | {"_publication"} == set(inspector.get_table_names())
    for mart in MARTS:
        doc = dictionary.load(mart)
        columns = inspector.get_columns(mart)
        assert [c["name"] for c in columns] == [c.name for c in doc.columns], mart
        for column in columns:
            assert column["comment"] == doc.column(column["name"]).comment, (mart, column["name"])
        assert inspector.get_table_comment(mart)["text"] == doc.comment, mart


def test_reflected_types_follow_the_documented_ones(engine):
    table = MetaData()
    table.reflect(engine, only=["length_of_stay_by_level", "episodes"])
    los = table.tables["length_of_stay_by_level"]
    assert los.c.persons.type.python_type is int
    assert los.c.median_los.type.python_type is float
    assert los.c.suppressed.type.python_type is bool
    assert table.tables["episodes"].c.start_month.type.python_type.__name__ == "date"


@pytest.mark.parametrize("mart", MARTS)
def test_pandas_reads_every_mart_by_name(engine, mart):
    frame = pd.read_sql_table(mart, engine, dtype_backend="numpy_nullable")
    with engine.connect() as con:
        rows = con.exec_driver_sql(f'select count(*) from "{mart}"').scalar()
        described = con.exec_driver_sql(f'describe "{mart}"').fetchall()
    assert len(frame) == rows
    counts = [r[0] for r in described if r[1] == "BIGINT"]
    assert counts, mart
    for column in counts:
        if frame[column].isna().all():
            continue  # pandas infers a dtype from the values read: a column of nulls has none
        assert str(frame[column].dtype) == "Int64", (mart, column)


def test_plain_duckdb_engine_still_needs_the_work_around(published_small):
    """In a fresh process without iop.bi, the pinned duckdb-engine fails on column reflection."""
    script = (
        "import sys\n"
        "from sqlalchemy import create_engine, inspect\n"
        f"e = create_engine('duckdb:///{published_small / 'marts.duckdb'}', "
        "connect_args={'read_only': True})\n"
        "try:\n"
        "    inspect(e).get_columns('episodes')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, str(error).splitlines()[0])\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 3, (
        "duckdb-engine reflects without iop.bi now: remove the work-around " + result.stdout
    )
    assert "pg_collation" in result.stdout or "pg_catalog" in result.stdout, result.stdout
