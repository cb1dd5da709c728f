"""Apache Spark as the engine of the dbt models (IOP_ENGINE=spark, profiles.yml target `spark`).

dbt-spark's `session` method runs the models on the SparkSession of the process that runs dbt;
`session()` opens it first, configured for this data folder, so the models find what they need:

* the catalog (a Hive metastore in `$IOP_DATA_DIR/spark/metastore_db`, tables under
  `$IOP_DATA_DIR/spark/warehouse`), which keeps staging, core, intermediate and marts between
  processes;
* `pseudonymize(text)`, a temporary SQL function of the session: HMAC-SHA256 in Spark SQL from
  the key's pads (iop/pseudonym.py), the same pseudonym DuckDB computes. The pads live only in the
  session: they are never in a model, a compiled file or a log;
* the raw layer (`mirror_raw`): the small bookkeeping tables of raw (registry, deliveries, the
  site's value-set additions) copied from the working DuckDB database, where ingest writes them,
  and one view per source layout over the same immutable raw Parquet files DuckDB reads.

Ingest, the registry and the run bookkeeping stay in the DuckDB working database on both engines;
only the dbt models (staging, audit, core, intermediate, marts) and the checks on them run where the
engine is.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from iop import warehouse
from iop.layouts import LAYOUTS
from iop.pseudonym import hmac_pads
from iop.settings import IopSettings, pseudonym_key

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCHEMAS = ("raw", "staging", "audit", "core", "intermediate", "marts", "seeds")
# Tables Python writes in the DuckDB working database that models read as sources, besides raw:
# the checks' results (program_quality_monthly_*, check_history).
CONTROL_TABLES = ("audit.check_results",)


def spark_dir(settings: IopSettings) -> Path:
    return settings.data_path / "spark"


def session(settings: IopSettings) -> SparkSession:
    """The process's SparkSession for this data folder (master `IOP_SPARK_MASTER`, default
    `local[<IOP_DUCKDB_THREADS>]`), with `pseudonymize` registered. Created once per process;
    dbt-spark's session method picks it up (`SparkSession.builder.getOrCreate()`)."""
    from pyspark.sql import SparkSession

    home = spark_dir(settings)
    home.mkdir(parents=True, exist_ok=True)
    master = settings.spark_master or f"local[{settings.duckdb_threads}]"
    builder = (
        SparkSession.builder.appName("iop-pipeline")
        .master(master)
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.spark_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.mergeSchema", "true")
        .config("spark.sql.ansi.enabled", "false")  # as dbt-spark sets it
        .config("spark.ui.enabled", "false")
        # the small-cell suppression's unrolled rounds make deep plans (sql/macros/suppression.sql)
        .config("spark.sql.analyzer.maxIterations", "2000")
        .config("spark.ui.showConsoleProgress", "false")
        .enableHiveSupport()
    )
    spark = builder.getOrCreate()
    warehouse = spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")
    if Path(warehouse) != home / "warehouse":
        # a process's SparkSession keeps its catalog: one process, one data folder
        raise RuntimeError(
            f"this process's SparkSession belongs to another data folder ({warehouse}); "
            "run each data folder in its own process"
        )
    spark.sparkContext.setLogLevel("ERROR")
    # PySpark logs every failed query with its SQL text, which can quote a value: off (dbt
    # reports the failure, redacted, iop/dbt_runner.py)
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True
    register_pseudonymizer(spark)
    return spark


def register_pseudonymizer(spark: SparkSession) -> None:
    """`pseudonymize(text)` on the session: HMAC-SHA256 with IOP_PSEUDONYM_KEY, in Spark SQL."""
    inner, outer = hmac_pads(pseudonym_key())
    digest = f"sha2(concat(unhex('{inner}'), encode(v, 'UTF-8')), 256)"
    spark.sql(
        "create or replace temporary function pseudonymize(v string) returns string "
        f"return sha2(concat(unhex('{outer}'), unhex({digest})), 256)"
    )


# What this process last copied into each Spark table or view (by warehouse folder and name):
# a table or view equal to it is not written again by the next dbt step of the same run.
_MIRRORED: dict[tuple[str, str], object] = {}


def mirror_sources(spark: SparkSession, settings: IopSettings) -> dict[str, int]:
    """The models' sources on Spark, before each dbt step: the tables of raw (the registry, the
    deliveries, the site's value-set additions) and audit.check_results, copied from the DuckDB
    working database (small), and raw.<layout> views over the ingested Parquet files. Returns the
    rows of each table it copied: a table or view this process already mirrored with the same
    content is left as it is (a run's later steps copy only the check results that changed)."""
    home = str(spark_dir(settings))
    if not any(key[0] == home for key in _MIRRORED):
        for schema in SCHEMAS:
            spark.sql(f"create database if not exists {schema}")
    counts = {}
    with settings.connect(read_only=True) as con:
        tables = [
            f"raw.{name}"
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
            ).fetchall()
        ] + list(CONTROL_TABLES)
        copies = {name: con.sql(f"select * from {name}").to_arrow_table() for name in tables}
        layouts = {layout.name: warehouse.ingested_paths(con, layout.name) for layout in LAYOUTS}
    for name, table in copies.items():
        if _MIRRORED.get((home, name)) == table:  # pyarrow compares the tables' contents
            continue
        spark.createDataFrame(table).write.mode("overwrite").saveAsTable(name)
        _MIRRORED[home, name] = table
        counts[name] = table.num_rows
    for layout in LAYOUTS:
        name = f"raw.{layout.name}"
        select = _layout_select(layout, layouts[layout.name])
        if _MIRRORED.get((home, name)) == select:
            continue
        spark.sql(f"drop table if exists {name}")
        spark.sql(f"create or replace view {name} as {select}")
        _MIRRORED[home, name] = select
    return counts


def _layout_select(layout, paths: list[str]) -> str:
    """Every column of the layout as text (null where a file lacks it) and the lineage columns,
    of the layout's ingested Parquet files: what DuckDB's read_parquet(union_by_name) gives. One
    read of the layout's folder (schemas merged), kept to the files registered as ingested."""
    typed_lineage = (
        "cast(_source_file as string) as _source_file, "
        "cast(_file_sha256 as string) as _file_sha256, "
        "cast(_row_number as bigint) as _row_number, cast(_landed_at as timestamp) as _landed_at"
    )
    if not paths:
        columns = ", ".join(f"cast(null as string) as `{c}`" for c in layout.columns)
        return (
            f"select {columns}, cast(null as string) as _source_file, "
            "cast(null as string) as _file_sha256, cast(null as bigint) as _row_number, "
            "cast(null as timestamp) as _landed_at where false"
        )
    import pyarrow.parquet as pq

    present = set().union(*(pq.read_schema(path).names for path in paths))
    columns = ", ".join(
        f"cast(`{c}` as string) as `{c}`" if c in present else f"cast(null as string) as `{c}`"
        for c in layout.columns
    )
    folder = str(Path(paths[0]).parent).replace("`", "``")
    return (
        f"select {columns}, {typed_lineage} from parquet.`{folder}` "
        "where _file_sha256 in (select file_sha256 from raw.registry "
        f"where layout = '{layout.name}' and status = 'ingested')"
    )


@contextlib.contextmanager
def exported_marts(spark: SparkSession, settings: IopSettings) -> Iterator[dict[str, str]]:
    """Every marts.* table of the Spark catalog written by Spark as Parquet, one folder per mart,
    in a private temporary folder under $IOP_DATA_DIR/spark/export; yields mart -> the DuckDB
    relation that reads it (for iop/publish.py, which builds marts.duckdb and the Parquet copies
    from them exactly as on DuckDB). The folder is removed on exit."""
    export = spark_dir(settings) / "export" / uuid.uuid4().hex
    export.mkdir(parents=True)
    try:
        sources = {}
        tables = spark.sql("show tables in marts").collect()
        for table in sorted(row.tableName for row in tables if not row.isTemporary):
            folder = export / table
            spark.table(f"marts.{table}").write.parquet(str(folder))
            sources[table] = f"read_parquet('{folder}/*.parquet')"
        yield sources
    finally:
        shutil.rmtree(export, ignore_errors=True)


class SparkConnection:
    """The few DuckDB-connection calls the pipeline makes on the engine's tables (row counts, KPI
    reads, the report's queries), on a SparkSession: `execute(sql, params)` with `?` markers,
    `fetchone`, `fetchall`, `df`."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._rows: list[tuple] = []

    def execute(self, sql: str, params: list | None = None) -> SparkConnection:
        self._frame = self.spark.sql(sql, args=list(params)) if params else self.spark.sql(sql)
        self._rows = [tuple(row) for row in self._frame.collect()]
        return self

    def df(self):
        """The last result as a pandas DataFrame."""
        return self._frame.toPandas()

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None
