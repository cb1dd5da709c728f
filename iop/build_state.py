"""Never silently stale: whether a run's dbt steps build incrementally or in full.

A refresh builds incrementally only when everything that shapes the results is what the warehouse
was last completely built with. That is a *build fingerprint*, a hash over five parts:

* `dbt_project`: every file of the dbt project (sql/: models, macros, seeds, yml docs;
  dbt_project.yml, profiles.yml) and the code of the `pseudonymize` UDF dbt registers;
* `site_seeds`: the site's value-set additions ($IOP_DATA_DIR/seeds/<seed>.csv);
* `rule_parameters`: the dbt vars (IopSettings.dbt_vars(): episode gap, transition window, ...);
* `pseudonym_key`: the key's keyed fingerprint (iop/keys.py; the key itself is never stored);
* `versions`: dbt-core, dbt-duckdb and DuckDB.

The decision is taken once per run, by the first dbt step that runs (`decide`), recorded in
`audit.build_runs` under the run id and read back by the run's later steps, so staging, core and
the marts of one run all build the same way. A run builds in full when it asks to (the tag
`iop/full_refresh=true`, which the `iop_full_refresh` job carries), when no complete build is
recorded (a new or rebuilt warehouse, or a full build that did not finish), or when the
fingerprint differs from the recorded one. A full decision clears the recorded state in the same
transaction; the state (`audit.build_state`, one row) is written again only when the run's last
dbt step (dbt_marts) succeeds after its staging and core steps succeeded whole in the same run
(`step_succeeded`). So a run that dies, or whose staging checks block core, leaves the next run
full again. Both tables are written by Python, like audit.check_results, and are not carried over
when a damaged warehouse is rebuilt (iop/ops/recovery.py): a rebuilt warehouse builds in full.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb

from iop.settings import IopSettings

PROJECT_DIR = Path(__file__).resolve().parents[1]
FULL_REFRESH_TAG = "iop/full_refresh"
DBT_STEPS = ("dbt_staging", "dbt_core", "dbt_marts")
LAST_STEP = DBT_STEPS[-1]
KEEP_RUNS = 500

# part -> what a change of it means, as said in the reason of a full build
PARTS = {
    "dbt_project": "model SQL, macro or seed changed",
    "site_seeds": "site seed override changed",
    "rule_parameters": "rule parameter changed",
    "pseudonym_key": "pseudonym key changed",
    "versions": "dbt or DuckDB version changed",
    "engine": "engine changed (IOP_ENGINE)",
}
REQUESTED = "full: requested"
FIRST_BUILD = "full: first build"
UNFINISHED = "full: the last full build did not finish"
INCREMENTAL = "incremental"
# dbt-spark has no delete+insert: on Spark every model is built whole (sql/macros/incremental.sql)
ON_SPARK = "full: the Spark engine builds every model whole"
# Python code that runs inside the models (the pseudonymize UDF)
UDF_FILES = ("iop/dbt_plugin.py", "iop/pseudonym.py")

BUILD_STATE_DDL = """
create table if not exists audit.build_state (
    fingerprint varchar
    , parts varchar
    , run_id varchar
    , built_at timestamp
)
"""
BUILD_RUNS_DDL = """
create table if not exists audit.build_runs (
    run_id varchar
    , decided_at timestamp
    , full_refresh boolean
    , reason varchar
    , fingerprint varchar
    , parts varchar
    , steps_done varchar[]
    , completed_at timestamp
)
"""


@dataclass(frozen=True)
class Decision:
    """How one run's dbt steps build: `full` passes --full-refresh; `reason` is what the steps'
    metadata say ("full: rule parameter changed", "full: requested", "incremental", ...)."""

    full: bool
    reason: str
    fingerprint: str
    parts: dict[str, str] = field(default_factory=dict)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files_digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(files):
        digest.update(name.encode() + b"\0" + _sha(path.read_bytes()).encode() + b"\n")
    return digest.hexdigest()


def _project_files(project_dir: Path) -> list[tuple[str, Path]]:
    sql = project_dir / "sql"
    files = [p for p in sql.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [project_dir / name for name in ("dbt_project.yml", "profiles.yml", *UDF_FILES)]
    return [(p.relative_to(project_dir).as_posix(), p) for p in files if p.is_file()]


def _site_seed_files(settings: IopSettings, project_dir: Path) -> list[tuple[str, Path]]:
    # the files refresh_site_seeds reads: one per shipped seed
    shipped = sorted((project_dir / "sql" / "seeds").glob("*.csv"))
    found = [settings.site_seeds_dir / p.name for p in shipped]
    return [(p.name, p) for p in found if p.is_file()]


def _versions() -> str:
    return json.dumps({n: metadata.version(n) for n in ("dbt-core", "dbt-duckdb", "duckdb")})


def fingerprint_parts(settings: IopSettings, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The hash of each part of what shapes the results (see the module docstring)."""
    from iop.keys import fingerprint as key_fingerprint
    from iop.settings import pseudonym_key

    rule_vars = json.dumps(settings.dbt_vars(), sort_keys=True, default=str)
    return {
        "dbt_project": _files_digest(_project_files(project_dir)),
        "site_seeds": _files_digest(_site_seed_files(settings, project_dir)),
        "rule_parameters": _sha(rule_vars.encode()),
        "pseudonym_key": _sha(key_fingerprint(pseudonym_key()).encode()),
        "versions": _sha(_versions().encode()),
        "engine": _sha(settings.engine.encode()),
    }


def combined(parts: dict[str, str]) -> str:
    """One fingerprint from its parts."""
    return _sha(json.dumps(parts, sort_keys=True).encode())


def current(settings: IopSettings, project_dir: Path = PROJECT_DIR) -> tuple[str, dict[str, str]]:
    parts = fingerprint_parts(settings, project_dir)
    return combined(parts), parts


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists audit")
    con.execute(BUILD_STATE_DDL)
    con.execute(BUILD_RUNS_DDL)


def stored_state(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, str]] | None:
    """(fingerprint, parts) of the last complete build, None when there is none."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit' "
        "and table_name = 'build_state'"
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute("select fingerprint, parts from audit.build_state").fetchall()
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def changed_parts(stored: dict[str, str], now: dict[str, str]) -> list[str]:
    return [name for name in sorted(set(stored) | set(now)) if stored.get(name) != now.get(name)]


def _reason(con: duckdb.DuckDBPyConnection, parts: dict[str, str], requested: bool) -> str:
    if requested:
        return REQUESTED
    stored = stored_state(con)
    if stored is None:
        earlier = con.execute("select count(*) from audit.build_runs").fetchall()[0][0]
        return UNFINISHED if earlier else FIRST_BUILD
    changed = changed_parts(stored[1], parts)
    if changed:
        return "full: " + ", ".join(PARTS.get(name, f"{name} changed") for name in changed)
    return INCREMENTAL


def _recorded(con: duckdb.DuckDBPyConnection, run_id: str) -> Decision | None:
    rows = con.execute(
        "select full_refresh, reason, fingerprint, parts from audit.build_runs where run_id = ?",
        [run_id],
    ).fetchall()
    if not rows:
        return None
    full, reason, value, parts = rows[0]
    return Decision(full, reason, value, json.loads(parts))


def decide(
    con: duckdb.DuckDBPyConnection,
    settings: IopSettings,
    run_id: str,
    *,
    requested: bool = False,
    project_dir: Path = PROJECT_DIR,
) -> Decision:
    """The run's decision: the one recorded for `run_id` when an earlier step of the run took it,
    else taken now and recorded (a full one clears the stored state in the same transaction)."""
    ensure_tables(con)
    recorded = _recorded(con, run_id)
    if recorded is not None:
        return recorded
    value, parts = current(settings, project_dir)
    con.execute("begin transaction")
    try:
        reason = _reason(con, parts, requested)
        if reason == INCREMENTAL and settings.on_spark:
            reason = ON_SPARK
        full = reason != INCREMENTAL
        if full:
            con.execute("delete from audit.build_state")
        con.execute(
            "insert into audit.build_runs values (?, now()::timestamp, ?, ?, ?, ?, [], null)",
            [run_id, full, reason, value, json.dumps(parts, sort_keys=True)],
        )
        con.execute(
            "delete from audit.build_runs where run_id not in (select run_id from "
            f"audit.build_runs order by decided_at desc limit {KEEP_RUNS})"
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Decision(full, reason, value, parts)


def step_succeeded(con: duckdb.DuckDBPyConnection, run_id: str, step: str) -> bool:
    """Record that `step` of the run built all its nodes without a failure; after the last step,
    when every dbt step of the run did, store the run's fingerprint as the warehouse's build
    state. True when the state was stored."""
    ensure_tables(con)
    con.execute("begin transaction")
    try:
        con.execute(
            "update audit.build_runs set steps_done = list_distinct(list_append(steps_done, ?)) "
            "where run_id = ?",
            [step, run_id],
        )
        rows = con.execute(
            "select fingerprint, parts, steps_done from audit.build_runs where run_id = ?",
            [run_id],
        ).fetchall()
        stored = bool(rows) and step == LAST_STEP and set(DBT_STEPS) <= set(rows[0][2])
        if stored:
            value, parts, _ = rows[0]
            con.execute("delete from audit.build_state")
            con.execute(
                "insert into audit.build_state values (?, ?, ?, now()::timestamp)",
                [value, parts, run_id],
            )
            con.execute(
                "update audit.build_runs set completed_at = now()::timestamp where run_id = ?",
                [run_id],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return stored


def step_done(con: duckdb.DuckDBPyConnection, run_id: str, step: str) -> bool:
    """Whether `step` of the run built all its nodes (recorded by step_succeeded)."""
    ensure_tables(con)
    rows = con.execute(
        "select list_contains(steps_done, ?) from audit.build_runs where run_id = ?",
        [step, run_id],
    ).fetchall()
    return bool(rows) and bool(rows[0][0])


def previous_run_completed(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run recorded before `run_id` built staging, core and the marts whole: then the
    marts saw every earlier core step, and may be refreshed by this run's change scope."""
    ensure_tables(con)
    rows = con.execute(
        "select completed_at is not null from audit.build_runs where decided_at < "
        "(select decided_at from audit.build_runs where run_id = ?) "
        "order by decided_at desc limit 1",
        [run_id],
    ).fetchall()
    return bool(rows) and rows[0][0]


def requested(tags: dict[str, str]) -> bool:
    """A run asks for a full rebuild with the tag iop/full_refresh=true."""
    return str(tags.get(FULL_REFRESH_TAG, "")).lower() == "true"
