"""The same pipeline on Apache Spark (IOP_ENGINE=spark) and on DuckDB gives the same marts.

Generated XS data is landed in two data folders; one full refresh runs on each engine, each in
its own process (a SparkSession is bound to one data folder's catalog for its process's life),
and every published mart is compared: same columns, same rows in any order, doubles within 1e-9.
Spark runs locally (`local[2]`); it needs Java 17+, which Spark 4 requires: without it the Spark
tests skip, saying so. Pseudonyms are checked against Python's hmac on both engines.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import TEST_KEY

PROJECT = Path(__file__).resolve().parents[1]


def _java_missing() -> str | None:
    if shutil.which("java") is None:
        return "Java is not installed (Spark 4 needs a JDK 17+): the Spark engine tests skip"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: the Spark engine tests skip"
    return None


needs_spark = pytest.mark.skipif(_java_missing() is not None, reason=str(_java_missing()))
pytestmark = pytest.mark.starts_first

CLIENTS = 60
# Spark settings for a few thousand rows (README, Running on Spark): one shuffle partition, no
# adaptive re-planning, no whole-stage generated code; the plans cost more than the data here.
# Three rounds of suppression: this data settles by the second (a mart would fail otherwise).
SMALL_DATA_SPARK = {
    "IOP_SPARK_PARTITIONS": "1",
    "IOP_SPARK_SUPPRESSION_ROUNDS": "3",
    "PYSPARK_SUBMIT_ARGS": "--conf spark.sql.adaptive.enabled=false "
    "--conf spark.sql.codegen.wholeStage=false pyspark-shell",
}
RUN = (
    "import sys\n"
    "from iop.runner import run_full_refresh\n"
    "if not run_full_refresh(log_level='WARNING').success:\n"
    "    sys.exit(1)\n"
)
# After the Spark refresh, in the same process (one JVM start for both): pseudonyms of IDS under
# each of KEYS, from the session's `pseudonymize` registered with that key, written as JSON.
PSEUDONYMS = (
    "import json, os, sys\n"
    "from iop.settings import IopSettings\n"
    "from iop import spark\n"
    "keys, values, out_path = json.loads(sys.argv[1])\n"
    "session = spark.session(IopSettings.from_env())\n"
    "session.createDataFrame([(v,) for v in values], 'v string').createOrReplaceTempView('ids')\n"
    "out = {}\n"
    "for key in keys:\n"
    "    os.environ['IOP_PSEUDONYM_KEY'] = key\n"
    "    spark.register_pseudonymizer(session)\n"
    "    rows = session.sql('select v, pseudonymize(v) from ids').collect()\n"
    "    out[key] = {r[0]: r[1] for r in rows}\n"
    "open(out_path, 'w').write(json.dumps(out))\n"
)
# Keys of 64 bytes or more take HMAC's other branches (exactly one block; hashed first).
KEYS = [TEST_KEY, "k" * 64, "a-long-key-" * 12]
IDS = ["P000001", "C-42", "ñandú-7", "", "x" * 200]


def _refresh(data_dir: Path, engine: str) -> None:
    env = {
        **os.environ,
        "IOP_DATA_DIR": str(data_dir),
        "IOP_PSEUDONYM_KEY": TEST_KEY,
        "IOP_ENGINE": engine,
        "IOP_DUCKDB_THREADS": "2",
    }
    env.pop("IOP_DEMO", None)
    script, args = RUN, []
    if engine == "spark":
        env.update(SMALL_DATA_SPARK)
        script = RUN + PSEUDONYMS
        args = [json.dumps([KEYS, IDS, str(data_dir / "pseudonyms.json")])]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, (
        f"{engine} refresh failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, Path]:
    from iop.generator import generate

    generated = tmp_path_factory.mktemp("spark_generated")
    generate(generated, clients=CLIENTS, seed=11, start="2025-03-01", end="2025-12-31")
    folders = {}
    for engine in ("duckdb", "spark"):
        data_dir = tmp_path_factory.mktemp(f"engine_{engine}") / "data"
        shutil.copytree(generated / "landing", data_dir / "landing")
        _refresh(data_dir, engine)
        folders[engine] = data_dir
    return folders


@needs_spark
def test_every_published_mart_and_pseudonym_is_equal_on_spark_and_duckdb(engines):
    from compare import table_differences

    from iop import dbt_project

    on_duckdb, on_spark = (engines[e] / "marts.duckdb" for e in ("duckdb", "spark"))
    differences = table_differences(
        on_duckdb,
        on_spark,
        exclude_tables=("main._publication",),  # each publication's own run id and time
        ignore_columns=("run_id", "checked_at"),  # check_history: each engine's run
        types=False,
    )
    assert not differences, json.dumps(differences, indent=1)
    con = duckdb.connect(str(on_spark), read_only=True)
    try:
        counts = dict(con.execute("select table_name, row_count from _publication").fetchall())
    finally:
        con.close()
    assert len(counts) == len(dbt_project.models("marts"))
    # not vacuous: the generated data fills the marts
    assert sum(counts.values()) > 500
    # Spark's pseudonymize, registered with each of three keys after the run, is Python's hmac
    # (the refresh's process: one JVM start for both checks)
    on_spark = json.loads((engines["spark"] / "pseudonyms.json").read_text())
    assert on_spark == {key: _hmac(key) for key in KEYS}


def _hmac(key: str) -> dict[str, str]:
    return {v: hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest() for v in IDS}


@pytest.mark.parametrize("key", KEYS)
def test_pseudonyms_on_duckdb_are_python_hmac(monkeypatch, key):
    from iop import pseudonym

    monkeypatch.setenv("IOP_PSEUDONYM_KEY", key)
    monkeypatch.setattr("iop.keys.verify_fingerprint", lambda *a, **k: None)
    con = duckdb.connect()
    pseudonym.register_pseudonymizer(con)
    rows = con.execute("select v, pseudonymize(v) from unnest(?::string[]) as t(v)", [IDS])
    assert dict(rows.fetchall()) == _hmac(key)
    # the models' form (sql/macros/engines.sql), seen from another connection of the instance
    cursor = con.cursor()
    rows = cursor.execute("select v, iop_keys.pseudonymize(v) from unnest(?::string[]) t(v)", [IDS])
    assert dict(rows.fetchall()) == _hmac(key)
