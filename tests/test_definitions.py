"""The code location loads from workspace.yaml with the expected assets, checks, jobs, schedules."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import TEST_KEY
from dagster import AssetKey, DefaultScheduleStatus

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ASSETS = {
    "raw/landed_files",
    "raw/registry",
    "audit/landed_files",
    "audit/check_results",
    "seeds/age_bands",
    "seeds/code_labels",
    "seeds/discharge_reason",
    "seeds/known_payers",
    "seeds/known_programs",
    "seeds/level_of_care",
    "seeds/level_of_care_codes",
    "seeds/race_ethnicity_map",
    "seeds/source_code_map",
    "seeds/teds_los_bins",
    "seeds/diagnosis_groups",
    "seeds/intensity_thresholds",
    "staging/attendance_vendor_a",
    "staging/attendance_vendor_b",
    "staging/census_vendor_a",
    "staging/roster_standard",
    "staging/claims_csv",
    "staging/remittance_835",
    "staging/attendance",
    "staging/roster",
    "staging/census",
    "staging/claims",
    "audit/quarantine",
    "audit/row_accounting",
    "audit/feed_coverage",
    "audit/deliveries",
    "audit/claim_versions",
    "core/file_changes",
    "core/file_keys",
    "core/claim_scope",
    "core/change_scope",
    "core/changed_persons",
    "core/sessions_of_changed_persons",
    "core/claim_lines_of_changed_persons",
    "core/persons",
    "core/sessions",
    "core/census",
    "core/claim_lines",
    "core/care_spans",
    "core/person_episodes",
    "core/episodes",
    "core/person_transitions",
    "core/transitions",
    "core/episode_costs",
    "core/episode_weeks",
    "core/episode_diagnoses",
    "core/billed_days",
    "core/npi_person_day_counts",
    "core/own_billing_npis",
    "core/session_months",
    "core/episode_continuity",
    "core/applied_files",
    "intermediate/length_of_stay_breakdowns",
    "intermediate/continuity_breakdowns",
    "intermediate/step_down_cells",
    "intermediate/step_down_breakdowns",
    "intermediate/program_quality_cells",
    "intermediate/treatment_intensity_cells",
    "intermediate/episode_scope",
    "intermediate/person_hash_collisions",
    "marts/episodes",
    "marts/length_of_stay_by_level",
    "marts/length_of_stay_by_program",
    "marts/length_of_stay_by_discharge_month",
    "marts/length_of_stay_by_discharge_reason",
    "marts/length_of_stay_by_payer",
    "marts/step_down_transitions_overall",
    "marts/step_down_transitions_by_program",
    "marts/step_down_transitions_by_discharge_month",
    "marts/demographic_utilization",
    "marts/continuity_of_care_overall",
    "marts/continuity_of_care_by_program",
    "marts/continuity_of_care_by_discharge_month",
    "marts/program_quality_monthly_overall",
    "marts/program_quality_monthly_by_program",
    "marts/episode_cost",
    "marts/episode_cost_by_level",
    "marts/episode_cost_by_program",
    "marts/episode_cost_by_payer",
    "marts/episode_cost_monthly",
    "marts/episode_cost_step_down",
    "marts/treatment_intensity_by_level",
    "marts/treatment_intensity_by_program",
    "marts/diagnosis_outcomes",
    "marts/reconciliation_person_day",
    "marts/reconciliation_program_month",
    "marts/check_history",
    "publish/marts_duckdb",
    "reports/outcomes_report",
    "reports/kpi_by_month",
}


def _definitions_from_workspace():
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    module = importlib.import_module(target["module_name"])
    return target["location_name"], module.defs


def test_workspace_loads_expected_assets_checks_jobs_and_schedules(monkeypatch):
    # the code location refuses to load without a valid key (tests/test_keys_and_permissions.py)
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    location, defs = _definitions_from_workspace()
    assert location == "iop_pipeline"
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    checked_tables = {asset for asset, _ in checks}
    # a suite for every input and every core table
    assert checked_tables == {
        "staging/attendance",
        "staging/roster",
        "staging/census",
        "staging/claims",
        "staging/remittance_835",
        "core/persons",
        "core/sessions",
        "core/census",
        "core/claim_lines",
        "core/care_spans",
        "core/episodes",
        "core/transitions",
        "core/episode_costs",
        "core/episode_weeks",
        "core/episode_diagnoses",
        "marts/episodes",
    }
    assert ("staging/attendance", "column_values_to_not_be_null__client_id") in checks
    assert defs.resolve_job_def("iop_full_refresh").tags["iop/full_refresh"] == "true"
    assert "iop/full_refresh" not in defs.resolve_job_def("iop_refresh").tags
    assert "iop/full_refresh" not in defs.resolve_job_def("ingest_landed_files").tags
    nightly = defs.resolve_schedule_def("nightly_refresh")
    assert (nightly.cron_schedule, nightly.job_name) == ("0 2 * * 1-6", "iop_refresh")
    weekly = defs.resolve_schedule_def("weekly_full_refresh")
    assert (weekly.cron_schedule, weekly.job_name) == ("0 2 * * 0", "iop_full_refresh")
    for schedule in (nightly, weekly):
        assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert defs.resolve_sensor_def("landing_sensor").job_name == "ingest_landed_files"
    assert defs.resolve_job_def("outcomes_report") is not None
    for name in ("alert_on_run_failure", "alert_on_check_failure", "outcomes_report_automation"):
        assert defs.resolve_sensor_def(name) is not None
    raw = defs.resolve_assets_def(AssetKey(["raw", "landed_files"]))
    assert raw.partitions_def.name == "landed_files"


def test_dagster_cli_validates_the_workspace():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env={**os.environ, "IOP_PSEUDONYM_KEY": TEST_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all code locations passed validation" in (result.stdout + result.stderr).lower()


def test_dbt_steps_select_their_models_from_any_working_directory(tmp_path):
    """dbt resolves `path:` selectors against the working directory: `iop refresh` started
    elsewhere must still find every model of each step."""
    code = (
        "from assets import dbt\n"
        "print(len(dbt.dbt_staging.keys), len(dbt.dbt_core.keys), len(dbt.dbt_marts.keys))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IOP_PSEUDONYM_KEY": TEST_KEY}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    staging, core, marts = map(int, done.stdout.split())
    assert staging > 20 and core > 20 and marts > 25
