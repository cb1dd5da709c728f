"""Jobs. The in-process executor is deliberate: every step writes the same DuckDB file, which
allows one writer at a time, and a process per step would add seconds of start-up to each."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

full_refresh_job = define_asset_job(
    name="iop_full_refresh",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Ingest landed files, build staging, core and marts, run every check, publish.",
)
