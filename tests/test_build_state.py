"""Never silently stale (issue 9, items 4 and 5): the build fingerprint, the per-run decision
(full or incremental) and the full-refresh job.

* the fingerprint changes with each input that shapes the results (a model's SQL, a macro, a seed,
  a site seed override, a rule parameter, the pseudonym key, the dbt/DuckDB versions) and with
  nothing else;
* the decision: first build full, then incremental, full after a rule parameter changed, full when
  requested, full again after a full build that did not finish; decided once per run;
* in Dagster: the steps' metadata say which; "change the gap to 31 and the marts match a full
  rebuild with 31" (every core table and published mart), the run after the change being full.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import builders as b
import duckdb
import pytest
from compare import table_differences
from conftest import TEST_KEY, query

from iop import build_state
from iop.build_state import (
    FIRST_BUILD,
    INCREMENTAL,
    REQUESTED,
    UNFINISHED,
    changed_parts,
    decide,
    fingerprint_parts,
    step_succeeded,
    stored_state,
)
from iop.settings import IopSettings

OTHER_KEY = "another-pseudonym-key-0123456789abcdef01234567"
# A person whose two visits are 31 days apart: two episodes with a gap of 30, one with 31.
BOUNDARY_CLIENT = "B-990001"
BOUNDARY_DATES = b.days(date(2025, 9, 1), 0, 1, 32)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the files that make up the dbt project, to edit."""
    root = tmp_path_factory.mktemp("project")
    source = build_state.PROJECT_DIR
    shutil.copytree(source / "sql", root / "sql")
    for name in ("dbt_project.yml", "profiles.yml", *build_state.UDF_FILES):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, root / name)
    return root


def _changed(settings: IopSettings, project: Path, base: dict[str, str]) -> list[str]:
    return changed_parts(base, fingerprint_parts(settings, project))


def test_fingerprint_changes_with_each_input_and_nothing_else(data_dir, project, monkeypatch):
    settings = IopSettings.from_env()
    base = fingerprint_parts(settings, project)
    assert set(base) == set(build_state.PARTS)
    assert _changed(settings, project, base) == []
    # settings that do not shape what dbt builds: DuckDB's resources, the freshness policy
    other = IopSettings(
        data_dir=str(data_dir), duckdb_threads=1, duckdb_memory_limit="1GB",
        marts_freshness_hours=3,
    )  # fmt: skip
    assert _changed(other, project, base) == []

    # a model's SQL, a macro, a seed, a yml doc, a new file: the dbt project
    for relative in (
        "sql/core/core__episodes.sql",
        "sql/macros/suppression.sql",
        "sql/seeds/source_code_map.csv",
        "sql/marts/marts__episodes.yml",
        "dbt_project.yml",
        "iop/dbt_plugin.py",
    ):
        path = project / relative
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert _changed(settings, project, base) == ["dbt_project"], relative
        path.write_bytes(original)
    assert _changed(settings, project, base) == []
    extra = project / "sql" / "macros" / "new_macro.sql"
    extra.write_text("{% macro nothing() %}1{% endmacro %}\n")
    assert _changed(settings, project, base) == ["dbt_project"]
    extra.unlink()

    # a site seed override (only files named like a shipped seed are read)
    seeds = settings.site_seeds_dir
    seeds.mkdir(parents=True)
    (seeds / "notes.csv").write_text("not,a,seed\n")
    assert _changed(settings, project, base) == []
    shipped = (project / "sql/seeds/source_code_map.csv").read_text()
    (seeds / "source_code_map.csv").write_text(shipped)
    with_site = fingerprint_parts(settings, project)
    assert changed_parts(base, with_site) == ["site_seeds"]
    (seeds / "source_code_map.csv").write_text(shipped + shipped.splitlines()[-1] + "\n")
    assert changed_parts(with_site, fingerprint_parts(settings, project)) == ["site_seeds"]
    (seeds / "source_code_map.csv").unlink()
    assert _changed(settings, project, base) == []

    # each rule parameter
    for field, value in (
        ("episode_gap_days", 31),
        ("transition_window_days", 45),
        ("date_floor", "2000-01-01"),
        ("future_tolerance_days", 3),
        ("power_detectable_difference_pp", 5),
    ):
        changed = IopSettings(data_dir=str(data_dir), **{field: value})
        assert _changed(changed, project, base) == ["rule_parameters"], field

    # the pseudonym key: the part changes, and neither the key nor its fingerprint is in it
    from iop.keys import fingerprint

    monkeypatch.setenv("IOP_PSEUDONYM_KEY", OTHER_KEY)
    rekeyed = fingerprint_parts(settings, project)
    assert changed_parts(base, rekeyed) == ["pseudonym_key"]
    for key in (TEST_KEY, OTHER_KEY):
        for secret in (key, fingerprint(key.encode())):
            assert all(secret not in value for value in [*base.values(), *rekeyed.values()])
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)

    # dbt, dbt-duckdb or DuckDB upgraded
    monkeypatch.setattr(build_state, "_versions", lambda: '{"dbt-core": "9.9.9"}')
    assert _changed(settings, project, base) == ["versions"]


def test_decision_once_per_run_and_stored_only_after_a_whole_build(data_dir, project):
    settings = IopSettings.from_env()
    gap31 = IopSettings(data_dir=str(data_dir), episode_gap_days=31)
    con = duckdb.connect()  # a new warehouse
    all_steps = build_state.DBT_STEPS

    def run(run_id: str, settings: IopSettings, steps=all_steps, requested=False):
        decision = decide(con, settings, run_id, requested=requested, project_dir=project)
        stored = [step_succeeded(con, run_id, step) for step in steps]
        return decision, stored

    first, stored = run("r1", settings)
    assert (first.full, first.reason) == (True, FIRST_BUILD)
    assert stored == [False, False, True]  # stored after the last step only
    assert stored_state(con) == (first.fingerprint, first.parts)
    # the run's later steps see the decision taken by its first step, whatever changed since
    assert decide(con, gap31, "r1", project_dir=project) == first

    second, _ = run("r2", settings)
    assert (second.full, second.reason) == (False, INCREMENTAL)

    # a rule parameter changed; the staging checks block core: the state stays cleared
    changed, stored = run("r3", gap31, steps=["dbt_staging"])
    assert (changed.full, changed.reason) == (True, "full: rule parameter changed")
    assert stored == [False] and stored_state(con) is None
    retried, _ = run("r4", gap31)
    assert (retried.full, retried.reason) == (True, UNFINISHED)
    assert stored_state(con)[0] == retried.fingerprint != first.fingerprint
    assert run("r5", gap31)[0].reason == INCREMENTAL

    # requested (iop_full_refresh): full although nothing changed; a run that dies after
    # deciding leaves the next run full; a marts step alone never completes a build
    assert run("r6", gap31, steps=[], requested=True)[0].reason == REQUESTED
    assert stored_state(con) is None
    partial, stored = run("r7", gap31, steps=["dbt_marts"])
    assert partial.reason == UNFINISHED and stored == [False] and stored_state(con) is None
    # what each run's steps built whole (the marts read the core step's copies only after it)
    assert build_state.step_done(con, "r7", "dbt_marts")
    assert not build_state.step_done(con, "r7", "dbt_core")
    assert build_state.step_done(con, "r5", "dbt_core")
    assert not build_state.step_done(con, "no-such-run", "dbt_core")
    assert run("r8", gap31, steps=["dbt_core", "dbt_marts"])[1] == [False, False]
    assert run("r9", gap31)[1] == [False, False, True]

    # two parts changed at once: both named
    both = IopSettings(data_dir=str(data_dir), episode_gap_days=31, transition_window_days=45)
    (project / "sql/macros/naming.sql").write_bytes(
        (project / "sql/macros/naming.sql").read_bytes() + b"\n"
    )
    try:
        decision = decide(con, both, "r10", project_dir=project)
    finally:
        shutil.copy2(build_state.PROJECT_DIR / "sql/macros/naming.sql", project / "sql/macros")
    assert decision.reason == "full: model SQL, macro or seed changed, rule parameter changed"
    rows = con.execute("select run_id from audit.build_runs").fetchall()
    assert {r[0] for r in rows} == {f"r{i}" for i in range(1, 11)}
    con.close()

    assert build_state.requested({"iop/full_refresh": "true"})
    assert build_state.requested({"iop/full_refresh": "True"})
    assert not build_state.requested({"iop/full_refresh": "false"})
    assert not build_state.requested({})


# --- In Dagster: the jobs, the steps' metadata, and the gap changed to 31 ----------------------


def _reasons(result) -> dict[str, set[str]]:
    """step -> the `refresh` metadata of its materializations."""
    reasons: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        value = event.step_materialization_data.materialization.metadata.get("refresh")
        if value is not None:
            reasons.setdefault(event.step_key, set()).add(value.value)
    return reasons


@pytest.fixture(scope="module")
def gap_change(tmp_path_factory):
    """Folder `changed`: built with gap 30, refreshed again, then refreshed with gap 31 (the
    normal refresh); folder `fresh`: the same files built once with gap 31 by iop_full_refresh."""
    from dagster import DagsterInstance

    from iop.generator import generate

    base = tmp_path_factory.mktemp("gap_change")
    changed, fresh = base / "changed", base / "fresh"
    generate(changed, clients=40, seed=5, start="2025-07-01", end="2025-12-31")
    landing = changed / "landing"
    b.write_csv(
        landing / "attendance/boundary.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions(BOUNDARY_CLIENT, "IOP", BOUNDARY_DATES),
    )
    b.write_csv(landing / "roster/boundary.csv", "roster_standard", [b.roster_row(BOUNDARY_CLIENT)])
    shutil.copytree(changed, fresh)
    out: dict = {"changed": changed, "fresh": fresh}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        mp.delenv("IOP_EPISODE_GAP_DAYS", raising=False)
        mp.setenv("IOP_DATA_DIR", str(changed))
        from iop.runner import run_full_refresh

        out["first"] = run_full_refresh(log_level="WARNING")
        out["second"] = run_full_refresh(log_level="WARNING")
        out["episodes_30"] = query(changed, "select count(*) from core.episodes")[0][0]
        mp.setenv("IOP_EPISODE_GAP_DAYS", "31")
        out["after_change"] = run_full_refresh(log_level="WARNING")
        out["state"] = query(changed, "select fingerprint, run_id from audit.build_state")
        out["fingerprint_31"] = build_state.current(IopSettings.from_env())[0]

        mp.setenv("IOP_DATA_DIR", str(fresh))
        from pipelines.definitions import defs

        out["full"] = defs.resolve_job_def("iop_full_refresh").execute_in_process(
            instance=DagsterInstance.ephemeral(),
            resources={"settings": IopSettings.from_env()},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    return out


def test_runs_say_whether_they_built_in_full_and_why(gap_change):
    dbt_steps = set(build_state.DBT_STEPS)
    expected = {
        "first": ("ingest_landed_files", FIRST_BUILD),
        "second": ("iop_refresh", INCREMENTAL),
        "after_change": ("iop_refresh", "full: rule parameter changed"),
        "full": ("iop_full_refresh", REQUESTED),
    }
    for name, (job, reason) in expected.items():
        result = gap_change[name]
        assert result.success, name
        assert result.dagster_run.job_name == job, name
        # every dbt step of the run took the run's one decision
        assert _reasons(result) == {step: {reason} for step in dbt_steps}, name
    assert gap_change["full"].dagster_run.tags[build_state.FULL_REFRESH_TAG] == "true"
    assert build_state.FULL_REFRESH_TAG not in gap_change["after_change"].dagster_run.tags
    # the state stored is the gap-31 build's, by the run that rebuilt with it
    assert gap_change["state"] == [
        (gap_change["fingerprint_31"], gap_change["after_change"].run_id)
    ]


def test_changing_the_gap_to_31_matches_a_full_rebuild_with_31(gap_change):
    changed, fresh = gap_change["changed"], gap_change["fresh"]
    # with incremental models, equal marts need the refresh after the change to be full
    reason = "full: rule parameter changed"
    assert _reasons(gap_change["after_change"]) == dict.fromkeys(build_state.DBT_STEPS, {reason})
    # the boundary person makes the change visible: one episode fewer with 31
    episodes_31 = query(changed, "select count(*) from core.episodes")[0][0]
    assert episodes_31 == gap_change["episodes_30"] - 1
    assert query(fresh, "select count(*) from core.episodes")[0][0] == episodes_31
    # check_history and the publication log keep each folder's runs: not results of the rules
    warehouse = table_differences(
        changed / "warehouse.duckdb", fresh / "warehouse.duckdb",
        schemas=("core", "marts"), exclude_tables=("marts.check_history",),
    )  # fmt: skip
    assert warehouse == {}
    published = table_differences(
        changed / "marts.duckdb", fresh / "marts.duckdb",
        exclude_tables=("main.check_history", "main._publication"),
    )  # fmt: skip
    assert published == {}
    count = query(
        changed,
        "select count(*) from duckdb_tables() where schema_name in ('core', 'marts')",
    )[0][0]
    assert count > 30  # the comparison covered the tables, not an empty list


def test_a_rebuilt_warehouse_builds_in_full(data_dir, project):
    """The build state is derived, like the tables it describes: a damaged warehouse rebuilt from
    raw (iop/ops/recovery.py) does not carry it over, so its first run is full."""
    from iop.ops import recovery

    settings = IopSettings.from_env()
    database = settings.warehouse_path
    database.parent.mkdir(parents=True)
    con = duckdb.connect(str(database))
    con.execute("create schema audit")
    con.execute("create table audit.check_results as select 'r0' as run_id")
    decide(con, settings, "r1", project_dir=project)
    assert [step_succeeded(con, "r1", s) for s in build_state.DBT_STEPS][-1]
    assert decide(con, settings, "r2", project_dir=project).reason == INCREMENTAL
    con.close()
    assert recovery.mark_damaged(database, "Corrupt database file: computed checksum 1 does not "
                                 "match stored checksum 2 in block at location 3")  # fmt: skip
    con = recovery.open_writable(database, run_start=True)
    try:
        assert con.execute("select run_id from audit.check_results").fetchall() == [("r0",)]
        assert stored_state(con) is None
        assert decide(con, settings, "r3", project_dir=project).reason == FIRST_BUILD
    finally:
        con.close()
