"""Publication: the marts, once every check upstream has passed, as a read-only DuckDB file."""


from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.models import model_key
from iop.models import discover
from iop.publish import publish_marts
from pipelines.resources import WarehouseResource

MART_KEYS = [model_key(table) for table, m in discover().items() if m.layer == "marts"]


@asset(
    key=AssetKey(["publish", "marts_duckdb"]),
    deps=MART_KEYS,
    group_name="publish",
    kinds={"duckdb", "parquet"},
    pool="duckdb_warehouse",
    description=(
        "Every marts.* table copied into $IOP_DATA_DIR/marts.duckdb (swapped in atomically, "
        "readable by DuckDB 1.x) and $IOP_DATA_DIR/marts/<mart>.parquet."
    ),
)
def marts_publication(
    context: AssetExecutionContext, warehouse_db: WarehouseResource
) -> MaterializeResult:
    with warehouse_db.connect() as con:
        result = publish_marts(con, warehouse_db.settings, context.run.run_id)
    return MaterializeResult(
        metadata={"path": result["path"], **{f"rows_{t}": n for t, n in result["tables"].items()}}
    )
