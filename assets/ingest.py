"""Ingest assets: landed files → raw Parquet (one dynamic partition per file content), the
landed-file registry in the warehouse, and the seed value sets."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    MaterializeResult,
    asset,
)

from iop import ingest, warehouse
from pipelines.resources import WarehouseResource

SEEDS_KEY = AssetKey(["seeds", "value_sets"])
RAW_FILES_KEY = AssetKey(["raw", "landed_files"])
REGISTRY_KEY = AssetKey(["audit", "landed_files"])

# One partition per landed file, keyed by the SHA-256 of its content.
landed_files_partitions = DynamicPartitionsDefinition(name="landed_files")


@asset(
    key=RAW_FILES_KEY,
    partitions_def=landed_files_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"parquet"},
    pool="landing_ingest",
    description=(
        "Each landed file as delivered: one immutable Parquet file per file content (SHA-256), "
        "every column as text plus lineage. Partition = one landed file. Writes no database, so "
        "partitions can run in parallel. Grain: one row per delivered row."
    ),
)
def raw_landed_files(
    context: AssetExecutionContext, warehouse_db: WarehouseResource
) -> MaterializeResult:
    wanted = set(context.partition_keys)
    files = [f for f in ingest.scan_landing(warehouse_db.settings) if f.sha256 in wanted]
    missing = wanted - {f.sha256 for f in files}
    if missing:
        context.log.warning(f"{len(missing)} partition(s) no longer in the landing folder")
    report = ingest.ingest_files(warehouse_db.settings, files)
    for name, reason in report.rejected.items():
        context.log.warning(f"rejected file {name}: {reason}")
    for warning in report.warnings:
        context.log.warning(warning)
    return MaterializeResult(metadata={**report.as_metadata(), "files_missing": len(missing)})


@asset(
    key=REGISTRY_KEY,
    deps=[RAW_FILES_KEY],
    group_name="ingest",
    kinds={"duckdb"},
    pool="duckdb_warehouse",
    description=(
        "audit.landed_files: one row per landed file content (hash, feed, layout, rows read, "
        "status, rejection reason, warnings), and the raw.<layout> views over the ingested "
        "Parquet files. Ingests first any landed file that no partition run has taken yet."
    ),
)
def landed_files_registry(
    context: AssetExecutionContext, warehouse_db: WarehouseResource
) -> MaterializeResult:
    settings = warehouse_db.settings
    report = ingest.ingest_files(settings, ingest.scan_landing(settings))
    for name, reason in report.rejected.items():
        context.log.warning(f"rejected file {name}: {reason}")
    with warehouse_db.connect() as con:
        registered = ingest.sync_registry(con, settings)
        by_status = dict(
            con.execute("select status, count(*) from audit.landed_files group by 1").fetchall()
        )
    return MaterializeResult(
        metadata={
            "files_registered": registered,
            "files_ingested_here": len(report.ingested),
            **{f"files_{status}": n for status, n in by_status.items()},
        }
    )


@asset(
    key=SEEDS_KEY,
    group_name="seeds",
    kinds={"duckdb", "csv"},
    pool="duckdb_warehouse",
    description=(
        "Value sets from sql/seeds/*.csv (billing codes, code maps, TEDS-D bins) as seeds.*, "
        "plus site additions from $IOP_DATA_DIR/seeds/*.csv."
    ),
)
def value_sets(warehouse_db: WarehouseResource) -> MaterializeResult:
    with warehouse_db.connect() as con:
        counts = warehouse.load_seeds(con, warehouse_db.settings.data_dir / "seeds")
    return MaterializeResult(metadata={f"rows_{name}": n for name, n in counts.items()})
