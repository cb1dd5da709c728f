"""Jobs. The in-process executor is the default: every step writes the same DuckDB file, which
allows one writer at a time, and a process per step would add seconds of start-up to each. A
deployment across machines picks another for the warehouse jobs with IOP_EXECUTOR
(pipelines/executors.py, deploy/README.md). Assets that write the warehouse also share the
`duckdb_warehouse` concurrency pool, so runs launched side by side (sensor, schedule, UI) and
steps on other machines never write it at the same time."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from assets.ingest import RAW_FILES_KEY
from assets.report import REPORT_KEY
from iop.build_state import FULL_REFRESH_TAG
from pipelines.executors import executor_from_env

# The refreshes leave out the outcomes report: its own job, started after each publication by its
# automation condition (it would add seconds to every refresh, tests included).
REFRESHED = AssetSelection.all() - AssetSelection.assets(REPORT_KEY)

# A run retried after its process died (run monitoring + run_retries, iop/runner.py) runs every
# step again: the warehouse may have been rebuilt from raw since the steps that had succeeded.
RETRY_TAGS = {"dagster/retry_strategy": "ALL_STEPS"}

# Launched with a partition range of newly landed files (the landing sensor, `iop refresh`): ingest
# them, then refresh everything downstream, incrementally unless the run is tagged full or what
# shapes the results changed (iop/build_state.py).
ingest_landed_files_job = define_asset_job(
    name="ingest_landed_files",
    selection=REFRESHED,
    executor_def=executor_from_env(),
    tags=RETRY_TAGS,
    description="Ingest the landed files of the run's partition range, then refresh every table "
    "downstream (incrementally unless a full build is due), run every check and publish.",
)

# Catch up on any landed file no partition run took and refresh staging, core and marts: only what
# changed, unless a full build is due (a model, seed, site seed override, rule parameter or the
# key changed; a new or rebuilt warehouse; the last full build did not finish).
refresh_job = define_asset_job(
    name="iop_refresh",
    selection=REFRESHED - AssetSelection.assets(RAW_FILES_KEY),
    executor_def=executor_from_env(),
    tags=RETRY_TAGS,
    description="Refresh staging, core and marts (incrementally unless a full build is due), run "
    "every check, publish.",
)

# The same, every dbt step with --full-refresh: staging, core and marts rebuilt from raw. Also the
# way to re-process quarantined rows after a rule or code mapping is fixed (a change the build
# fingerprint already sees makes the next refresh full anyway).
full_refresh_job = define_asset_job(
    name="iop_full_refresh",
    selection=REFRESHED - AssetSelection.assets(RAW_FILES_KEY),
    executor_def=executor_from_env(),
    tags={**RETRY_TAGS, FULL_REFRESH_TAG: "true"},
    description="Rebuild staging, core and marts from raw in full, run every check, publish.",
)

# The outcomes report (and the KPI series by month) from the published marts: `make report`, the
# demo, and the report asset's automation condition after each publication.
outcomes_report_job = define_asset_job(
    name="outcomes_report",
    selection=AssetSelection.assets(REPORT_KEY),
    executor_def=in_process_executor,
    description="Rebuild the outcomes report ($IOP_DATA_DIR/reports/) from the published marts.",
)
