"""Apache Spark as the engine of the dbt models (IOP_ENGINE=spark, profiles.yml target `spark`).

dbt-spark's `session` method runs the models on the SparkSession of the process that runs dbt;
`session()` opens it first, configured for this data folder, so the models find what they need:

* the catalog (a Hive metastore in `$IOP_DATA_DIR/spark/metastore_db`, tables under
  `$IOP_DATA_DIR/spark/warehouse`), which keeps staging, core and marts between processes;
* `pseudonymize(text)`, a temporary SQL function of the session: HMAC-SHA256 in Spark SQL from
  the key's pads (iop/pseudonym.py), the same pseudonym DuckDB computes. The pads live only in the
  session: they are never in a model, a compiled file or a log;
* the raw layer (`mirror_raw`): the small bookkeeping tables of raw (registry, deliveries, the
  site's value-set additions) copied from the working DuckDB database, where ingest writes them,
  and one view per source layout over the same immutable raw Parquet files DuckDB reads.

Ingest, the registry and the run bookkeeping stay in the DuckDB working database on both engines;
only the dbt models (staging, audit, core, marts) and the checks on them run where the engine is.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from iop.layouts import LAYOUTS
from iop.pseudonym import hmac_pads
from iop.settings import IopSettings, pseudonym_key

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCHEMAS = ("raw", "staging", "audit", "core", "marts", "seeds")
# raw tables Python writes in DuckDB (iop/warehouse.py, the registry asset) that models read
RAW_TABLES = ("registry", "deliveries")


def spark_dir(settings: IopSettings) -> Path:
    return settings.data_path / "spark"


def session(settings: IopSettings) -> SparkSession:
    """The process's SparkSession for this data folder (local, `IOP_SPARK_MASTER`, default
    `local[<cores>]`), with `pseudonymize` registered. Created once per process; dbt-spark's
    session method picks it up (`SparkSession.builder.getOrCreate()`)."""
    from pyspark.sql import SparkSession

    home = spark_dir(settings)
    home.mkdir(parents=True, exist_ok=True)
    cores = settings.duckdb_threads
    builder = (
        SparkSession.builder.appName("iop-pipeline")
        .master(os.environ.get("IOP_SPARK_MASTER", f"local[{cores}]"))
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("spark.driver.memory", os.environ.get("IOP_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.shuffle.partitions", os.environ.get("IOP_SPARK_PARTITIONS", "4"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.mergeSchema", "true")
        .config("spark.sql.ansi.enabled", "false")  # as dbt-spark sets it
        .config("spark.ui.enabled", "false")
        .enableHiveSupport()
    )
    spark = builder.getOrCreate()
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


def mirror_raw(spark: SparkSession, settings: IopSettings) -> dict[str, int]:
    """The raw layer on Spark: raw.registry, raw.deliveries and raw.site_<seed> copied from the
    DuckDB working database (small), and raw.<layout> views over the ingested Parquet files.
    Returns the rows copied per table."""
    for schema in SCHEMAS:
        spark.sql(f"create database if not exists {schema}")
    counts = {}
    with settings.connect(read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
            ).fetchall()
        ]
        copies = {name: con.execute(f"select * from raw.{name}").to_arrow_table() for name in tables}
        layouts = {
            layout.name: [
                row[0]
                for row in con.execute(
                    "select raw_path from raw.registry "
                    "where layout = ? and status = 'ingested' order by raw_path",
                    [layout.name],
                ).fetchall()
            ]
            for layout in LAYOUTS
        }
    for name, table in copies.items():
        frame = spark.createDataFrame(table.to_pandas(), schema=_spark_schema(table))
        frame.write.mode("overwrite").saveAsTable(f"raw.{name}")
        counts[name] = table.num_rows
    for layout in LAYOUTS:
        spark.sql(f"drop table if exists raw.{layout.name}")
        spark.sql(f"create or replace view raw.{layout.name} as {_layout_select(layout, layouts[layout.name])}")
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


def _spark_schema(table):
    """A Spark schema for an Arrow table (pandas loses the types of all-null columns)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)
