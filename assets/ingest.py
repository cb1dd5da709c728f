"""Ingest assets: landed files → raw Parquet (one dynamic partition per file content), and the raw
layer in the warehouse that dbt reads as sources (registry, raw.<layout> views, site value sets)."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    MaterializeResult,
    asset,
)

from assets.dbt import REGISTRY_KEY
from iop import ingest
from iop.redact import file_label, redacted_errors
from iop.settings import IopSettings

RAW_FILES_KEY = AssetKey(["raw", "landed_files"])

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
def raw_landed_files(context: AssetExecutionContext, settings: IopSettings) -> MaterializeResult:
    wanted = set(context.partition_keys)
    files = [f for f in ingest.scan_landing(settings) if f.sha256 in wanted]
    missing = wanted - {f.sha256 for f in files}
    if missing:
        context.log.warning(f"{len(missing)} partition(s) no longer in the landing folder")
    with redacted_errors(f.relative for f in files):
        report = ingest.ingest_files(settings, files)
    for name, reason in report.rejected.items():
        context.log.warning(f"rejected file {file_label(name)}: {reason}")  # reason is redacted
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
        "The raw layer dbt reads: raw.registry, one row per landed file content (hash, feed, "
        "layout, rows read, status, rejection reason, warnings) and per ignored file (lock, "
        "hidden, excluded or misplaced, with the reason); raw.deliveries, one row per "
        "delivery (path, content hash, modification and first-seen times, routing error); the "
        "raw.<layout> views over the "
        "ingested Parquet files; raw.site_<seed>, the site's value-set additions from "
        "$IOP_DATA_DIR/seeds/. Ingests first any landed file that no partition run has taken yet."
    ),
)
def landed_files_registry(
    context: AssetExecutionContext, settings: IopSettings
) -> MaterializeResult:
    with redacted_errors():
        landed = ingest.scan_landing(settings)
        report = ingest.ingest_files(settings, landed)
    for name, reason in report.rejected.items():
        context.log.warning(f"rejected file {file_label(name)}: {reason}")
    with redacted_errors(), settings.connect() as con:
        registered = ingest.sync_registry(con, settings, landed)
        for source_file, reason in con.execute(
            "select source_file, error from raw.registry where status = 'ignored' order by 1"
        ).fetchall():
            context.log.warning(f"ignored file {file_label(source_file)}: {reason}")
        by_status = dict(
            con.execute("select status, count(*) from raw.registry group by 1").fetchall()
        )
        deliveries, unrouted = con.execute(
            "select count(*), count(error) from raw.deliveries"
        ).fetchone()
        for source_file, error in con.execute(
            "select source_file, error from raw.deliveries where error is not null order by 1"
        ).fetchall():
            if (settings.landing_dir / source_file).exists():  # still waiting to be moved
                context.log.warning(f"delivery {source_file} not ingested: {error}")
    return MaterializeResult(
        metadata={
            "files_registered": registered,
            "deliveries": deliveries,
            "deliveries_not_in_a_feed_folder": unrouted,
            "files_ingested_here": len(report.ingested),
            **{f"files_{status}": n for status, n in by_status.items()},
        }
    )
