"""Publication: the marts, once every check upstream has passed, as a read-only DuckDB file."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.dbt import model_key
from iop import dbt_project
from iop.publish import publish_marts
from iop.redact import redacted_errors
from iop.settings import IopSettings

MART_KEYS = [model_key(m.table) for m in dbt_project.models("marts")]


@asset(
    key=AssetKey(["publish", "marts_duckdb"]),
    deps=MART_KEYS,
    group_name="publish",
    kinds={"duckdb", "parquet"},
    pool="duckdb_warehouse",
    description=(
        "Every marts.* table copied into $IOP_DATA_DIR/marts.duckdb (swapped in atomically, "
        "readable by DuckDB 1.x) and $IOP_DATA_DIR/marts/<mart>.parquet; on Spark, from the "
        "Parquet files Spark writes of each mart."
    ),
)
def marts_publication(context: AssetExecutionContext, settings: IopSettings) -> MaterializeResult:
    with redacted_errors(), settings.connect() as con:
        if settings.on_spark:
            from iop import spark

            with spark.exported_marts(spark.session(settings), settings) as sources:
                result = publish_marts(con, settings, context.run.run_id, sources)
        else:
            result = publish_marts(con, settings, context.run.run_id)
    return MaterializeResult(
        metadata={
            "path": result["path"],
            "written": result["written"],
            **{f"rows_{t}": n for t, n in result["tables"].items()},
        }
    )
