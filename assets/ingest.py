"""Ingest assets: landing files → raw Parquet (one per landed file), and the seed value sets."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from iop import ingest, warehouse
from iop.settings import FEEDS
from pipelines.resources import WarehouseResource

SEEDS_KEY = AssetKey(["seeds", "value_sets"])


def raw_key(feed: str) -> AssetKey:
    return AssetKey(["raw", feed])


def build_raw_asset(feed: str):
    @asset(
        key=raw_key(feed),
        group_name="ingest",
        kinds={"duckdb", "parquet"},
        description=(
            f"Every landed {feed} file as delivered, one immutable Parquet file per file content "
            "(SHA-256), registered in audit.landed_files. Grain: one row per delivered row."
        ),
    )
    def _raw(context: AssetExecutionContext, warehouse_db: WarehouseResource) -> MaterializeResult:
        with warehouse_db.connect() as con:
            report = ingest.ingest_feed(con, warehouse_db.settings, feed)
            warehouse.refresh_raw_views(con, warehouse_db.settings, feed)
        for name, reason in report.rejected.items():
            context.log.warning(f"rejected file {name}: {reason}")
        return MaterializeResult(metadata=report.as_metadata())

    return _raw


raw_assets = [build_raw_asset(feed) for feed in FEEDS]


@asset(
    key=SEEDS_KEY,
    group_name="seeds",
    kinds={"duckdb", "csv"},
    description="Value sets from sql/seeds/*.csv (billing codes, code maps, TEDS-D bins) as seeds.*.",
)
def value_sets(warehouse_db: WarehouseResource) -> MaterializeResult:
    with warehouse_db.connect() as con:
        counts = warehouse.load_seeds(con)
    return MaterializeResult(metadata={f"rows_{name}": n for name, n in counts.items()})
