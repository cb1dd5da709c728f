"""Publication: the marts, once every check upstream has passed, as a read-only DuckDB file."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.dbt import model_key
from iop import dbt_project
from iop.publish import publish_marts
from iop.settings import IopSettings

MART_KEYS = [model_key(m.table) for m in dbt_project.models("marts")]
# Core tables too: a failing critical check on a core table (run after core and marts are built
# in one dbt invocation) must keep the marts built from it unpublished.
CORE_KEYS = [model_key(m.table) for m in dbt_project.models("core")]


@asset(
    key=AssetKey(["publish", "marts_duckdb"]),
    deps=MART_KEYS + CORE_KEYS,
    group_name="publish",
    kinds={"duckdb", "parquet"},
    pool="duckdb_warehouse",
    description=(
        "Every marts.* table copied into $IOP_DATA_DIR/marts.duckdb (swapped in atomically, "
        "readable by DuckDB 1.x) and $IOP_DATA_DIR/marts/<mart>.parquet."
    ),
)
def marts_publication(context: AssetExecutionContext, settings: IopSettings) -> MaterializeResult:
    with settings.connect() as con:
        result = publish_marts(con, settings, context.run.run_id)
    return MaterializeResult(
        metadata={"path": result["path"], **{f"rows_{t}": n for t, n in result["tables"].items()}}
    )
