"""Landing sensor, nightly schedule, re-processing quarantine, and blocking vs warning checks."""

from __future__ import annotations

import hashlib
from datetime import date

import builders as b
from conftest import materialize, query
from dagster import AssetKey, DagsterInstance, SensorResult, SkipReason, build_sensor_context

MONDAY = date(2025, 1, 6)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evaluate_sensor(instance):
    from iop.settings import IopSettings
    from pipelines.automation import landing_sensor

    context = build_sensor_context(
        instance=instance, resources={"settings": IopSettings.from_env()}
    )
    return landing_sensor(context)


def test_sensor_requests_one_partition_per_new_file_and_then_nothing(data_dir):
    landing = data_dir / "landing"
    first = b.write_csv(
        landing / "attendance/w1.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0)),
    )
    roster = b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    b.write_csv(landing / "roster/r_copy.csv", "roster_standard", [b.roster_row("B-000001")])
    instance = DagsterInstance.ephemeral()

    result = _evaluate_sensor(instance)
    assert isinstance(result, SensorResult)
    [add_request] = result.dynamic_partitions_requests
    # two distinct contents; the copy of the roster has the same hash and is one partition
    assert add_request.partitions_def_name == "landed_files"
    assert sorted(add_request.partition_keys) == sorted([_sha(first), _sha(roster)])
    [run_request] = result.run_requests
    assert {
        run_request.tags["dagster/asset_partition_range_start"],
        run_request.tags["dagster/asset_partition_range_end"],
    } == set(add_request.partition_keys)

    # The daemon applies the request; the next evaluation finds nothing new.
    instance.add_dynamic_partitions("landed_files", list(add_request.partition_keys))
    assert isinstance(_evaluate_sensor(instance), SkipReason)

    # A new file lands: exactly its partition is requested.
    second = b.write_csv(
        landing / "attendance/w2.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 7)),
    )
    result = _evaluate_sensor(instance)
    assert list(result.dynamic_partitions_requests[0].partition_keys) == [_sha(second)]


def test_requested_run_ingests_partitions_and_refreshes_marts(data_dir):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "attendance/w1.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 2)),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])
    instance = DagsterInstance.ephemeral()
    from iop.runner import run_full_refresh

    result = run_full_refresh(instance)
    assert result.success
    assert result.dagster_run.job_name == "ingest_landed_files"
    partitions = set(instance.get_dynamic_partitions("landed_files"))
    assert len(partitions) == 3
    # every landed file's partition was materialized by the ingest run
    assert instance.get_materialized_partitions(AssetKey(["raw", "landed_files"])) == partitions
    assert (data_dir / "marts.duckdb").exists()

    # Nothing new: the next run is the refresh job, and ingests nothing again.
    again = run_full_refresh(instance)
    assert again.dagster_run.job_name == "iop_refresh"
    assert query(data_dir, "select count(*) from audit.landed_files")[0][0] == 3


def test_fixing_a_code_mapping_reprocesses_quarantined_rows(data_dir):
    landing = data_dir / "landing"
    rows = b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0))
    rows += b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 2), status="LATE")
    b.write_csv(landing / "attendance/w1.csv", "attendance_vendor_b", rows)
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])
    materialize()
    assert query(data_dir, "select row_number, rule from audit.quarantine") == [
        (2, "unknown_status")
    ]
    episode_end = "select end_date from core.episodes where person_id = 'client:B-000001'"
    assert query(data_dir, episode_end) == [(MONDAY,)]

    # The site learns that vendor B's "LATE" means the client attended: add the mapping, re-run.
    seeds = data_dir / "seeds"
    seeds.mkdir()
    (seeds / "source_code_map.csv").write_text(
        "layout,field,source_value,canonical_value\n"
        "attendance_vendor_b,attendance_code,LATE,attended\n"
    )
    materialize()
    assert query(data_dir, "select count(*) from audit.quarantine") == [(0,)]
    assert query(
        data_dir,
        "select rows_read, rows_accepted, rows_quarantined from audit.landed_files "
        "where feed = 'attendance'",
    ) == [(2, 2, 0)]
    assert query(data_dir, episode_end) == [(b.days(MONDAY, 2)[0],)]


def test_error_check_blocks_marts_and_warning_does_not_both_recorded(data_dir):
    landing = data_dir / "landing"
    # A roster with an unknown payer breaks a warning-level expectation only.
    b.write_csv(
        landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001", payer="Barter")]
    )
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])
    b.write_csv(
        landing / "attendance/w1.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0)),
    )
    assert materialize().success  # the warning did not block anything
    assert (data_dir / "marts.duckdb").exists()
    published = (data_dir / "marts.duckdb").stat().st_mtime_ns

    # Now the attendance feed delivers a header-only file and nothing else: the critical
    # "at least one row" expectation on staging.attendance fails and blocks everything after it.
    (landing / "attendance/w1.csv").unlink()
    b.write_csv(landing / "attendance/w2.csv", "attendance_vendor_b", [])
    import shutil

    shutil.rmtree(data_dir / "raw")  # a rebuild from scratch, so the old attendance is gone
    result = materialize(raise_on_error=False)
    assert not result.success
    assert (data_dir / "marts.duckdb").stat().st_mtime_ns == published  # previous publication kept

    results = query(
        data_dir,
        "select table_name, check_name, severity, status "
        "from audit.check_results order by checked_at, table_name, check_name",
    )
    assert ("staging.roster", "payer_in_known_payers", "warning", "failed") in results
    assert ("staging.attendance", "table_row_count_to_be_between", "critical", "failed") in results
    # history is kept: the first run's passing row count is still there
    assert ("staging.attendance", "table_row_count_to_be_between", "critical", "passed") in results
    # nothing downstream of staging.attendance ran in the blocked run
    steps = {e.step_key for e in result.all_events if e.is_successful_output}
    assert "dbt_staging" in steps  # staging itself was built (and checked) ...
    assert not steps & {"dbt_core", "dbt_marts", "publish__marts_duckdb"}  # ... nothing after it
    built = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
    assert "staging" in built and not built & {"core", "marts", "publish"}


def test_a_suite_that_cannot_run_fails_its_layer_step_after_the_others_are_recorded(
    data_dir, monkeypatch
):
    """The core suites run in one step (gx_core): one suite raising does not hide the others'
    results, the step fails naming the suite, the error's text is redacted, and nothing after
    the layer runs."""
    from iop import validation_incremental

    landing = data_dir / "landing"
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    b.write_csv(
        landing / "attendance/w1.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0)),
    )
    real = validation_incremental.validate_incrementally

    def breaks_on_census(con, table, *args, **kwargs):
        if table == "core.census":  # a conversion error quotes a value: it must not be shown
            raise ValueError("Could not convert string 'B-000001' to INT32")
        return real(con, table, *args, **kwargs)

    monkeypatch.setattr(validation_incremental, "validate_incrementally", breaks_on_census)
    from iop.runner import run_full_refresh

    instance = DagsterInstance.ephemeral()
    result = run_full_refresh(instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "gx_core"
    message = failure.event_specific_data.error.message
    assert "core.census" in message and "B-000001" not in message
    logged = [r.user_message for r in instance.all_logs(result.run_id) if r.step_key == "gx_core"]
    assert any("core.census: the suite could not run" in m for m in logged)
    assert not any("B-000001" in m for m in logged)
    # every other core suite ran and was recorded for this run; census's was not
    checked = {
        table
        for (table,) in query(
            data_dir,
            "select distinct table_name from audit.check_results where run_id = ?",
            [result.run_id],
        )
    }
    assert {"core.sessions", "core.persons", "core.episodes"} <= checked
    assert "core.census" not in checked
    from assets.dbt import model_key

    evaluated = {e.asset_key for e in result.get_asset_check_evaluations()}
    assert {model_key("core.sessions"), model_key("core.persons")} <= evaluated
    assert model_key("core.census") not in evaluated
    steps = {e.step_key for e in result.all_events if e.is_successful_output}
    assert "dbt_core" in steps and not steps & {"dbt_marts", "publish__marts_duckdb"}


def test_corrected_reexport_under_the_same_name_supersedes_the_earlier_file(data_dir):
    landing = data_dir / "landing"
    day = landing / "attendance/vendor_b_sessions_2025-W02.csv"
    b.write_csv(
        day, "attendance_vendor_b", b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 1, 2))
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001")])
    b.write_csv(landing / "claims/c.csv", "claims_csv", [b.claim_line("C1", "M1", MONDAY)])
    materialize()
    assert query(data_dir, "select count(*) from core.sessions") == [(3,)]

    # The EHR re-exports the week: day 2's session was entered in error and is gone.
    import os

    b.write_csv(
        day, "attendance_vendor_b", b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 1))
    )
    os.utime(day, (day.stat().st_atime + 60, day.stat().st_mtime + 60))
    materialize()

    assert query(data_dir, "select session_date from core.sessions order by 1") == [
        (d,) for d in b.days(MONDAY, 0, 1)
    ]
    assert query(
        data_dir,
        "select status, rows_read, rows_accepted, rows_quarantined, "
        "rows_superseded from audit.landed_files where feed = 'attendance' "
        "order by landed_at",
    ) == [("superseded", 3, 0, 0, 3), ("ingested", 2, 2, 0, 0)]
    assert query(data_dir, "select bool_and(reconciled) from audit.row_accounting") == [(True,)]


def test_models_built_at_once_follow_the_data_size_and_duckdb_threads(tmp_path, monkeypatch):
    from assets import dbt as dbt_assets
    from iop.build_state import Decision
    from iop.settings import IopSettings

    def threads(step: str, full: bool, ingested: int, duckdb_threads: int = 2) -> int:
        settings = IopSettings(data_dir=str(tmp_path), duckdb_threads=duckdb_threads)
        monkeypatch.setattr(dbt_assets, "_ingested_bytes", lambda _settings: ingested)
        return dbt_assets._threads(settings, step, Decision(full=full, reason="", fingerprint=""))

    small, large = dbt_assets.SMALL_BUILD_BYTES - 1, dbt_assets.SMALL_BUILD_BYTES
    # small data: four at a time, whatever the step
    for step in ("dbt_core", "dbt_marts"):
        assert threads(step, True, small) == threads(step, False, small) == 4
    # more data: a refresh and the marts step, as many as DuckDB's threads (at most four)
    assert threads("dbt_core", False, large) == 2
    assert threads("dbt_marts", True, large) == 2
    assert threads("dbt_marts", False, large, duckdb_threads=1) == 1
    assert threads("dbt_marts", False, large, duckdb_threads=16) == dbt_assets.PARALLEL_THREADS
    # a full build of staging or core over more data: one at a time
    assert threads("dbt_core", True, large) == 1
    assert threads("dbt_staging", True, large, duckdb_threads=16) == 1
