"""The dbt models (sql/) as Dagster assets, through dagster-dbt.

Three dbt assets definitions, one per step, so the Great Expectations suites block between layers
(a blocking check stops what is downstream of its table):

* `dbt_staging`: seeds, staging (typed rows per source layout, canonical unions) and audit
  (quarantine, row accounting, landed files);
* `dbt_core`: persons, sessions, census, claim lines, care spans, episodes, transitions — only when
  every critical staging check passed;
* `dbt_marts`: the intermediate models (each a family of marts computed once) and the marts —
  only when every critical core check passed (and program_quality_monthly_* read the checks'
  results of this run).

Asset keys are `[schema, table]` (`core/episodes`), groups are layers, descriptions and column
schemas come from each model's yml (dagster-dbt's translator). dbt runs inside the Dagster process
through dbt's programmatic API (`dbtRunner`, with the parsed manifest kept for the process), not as
one `dbt` process per step: that costs ~4-5 s of start-up and parsing each time, a large share of a
refresh (measured in the benchmark). After each invocation, row counts (and the KPIs of
program_quality_monthly_overall) are read in one connection and attached to the
materializations.

Each run decides once, in its first dbt step, whether its steps build incrementally or in full
(`--full-refresh`): iop/build_state.py. The steps' materializations say which and why
(metadata `refresh`: "incremental", "full: requested", "full: rule parameter changed", ...).
"""

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, Failure, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from iop import build_state, comments, dbt_project, engine, kpis
from iop.dbt_runner import build
from iop.redact import redact, redacted_errors
from iop.settings import IopSettings

REGISTRY_KEY = AssetKey(["raw", "registry"])
CHECK_RESULTS_KEY = AssetKey(["audit", "check_results"])
PROGRAM_QUALITY_KEY = AssetKey(["marts", "program_quality_monthly_overall"])
MARTS_STEP = "dbt_marts"
CORE_STEP = "dbt_core"

# audit.check_results is written by the asset checks (assets/checks.py), read by a mart.
check_results = AssetSpec(
    CHECK_RESULTS_KEY,
    group_name="audit",
    kinds={"duckdb"},
    description="Great Expectations results of every check run (written by the asset checks).",
)


class IopTranslator(DagsterDbtTranslator):
    """dbt nodes as the rest of the project names them."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        kind = dbt_resource_props["resource_type"]
        if kind == "source":
            if dbt_resource_props["source_name"] == "audit":
                return AssetKey(["audit", dbt_resource_props["name"]])
            return REGISTRY_KEY  # raw.registry, raw.<layout>, raw.site_<seed>: one writer
        if kind == "seed":
            return AssetKey(["seeds", dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["alias"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return dbt_resource_props["schema"]

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = " ".join((dbt_resource_props.get("description") or "").split())
        grain = (dbt_resource_props.get("meta") or {}).get("grain")
        return f"{description}\n\nGrain: {' '.join(grain.split())}" if grain else description


TRANSLATOR = IopTranslator(
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
)


def _node_names(context: AssetExecutionContext) -> list[str]:
    """The dbt node names of the assets this step was asked to materialize."""
    wanted = set(context.selected_asset_keys)
    names = []
    for node in dbt_project.manifest()["nodes"].values():
        if (
            node["resource_type"] in {"model", "seed"}
            and node["package_name"] == "iop"
            and TRANSLATOR.get_asset_key(node) in wanted
        ):
            names.append(node["name"])
    return sorted(names)


def _decide(
    context: AssetExecutionContext, con: Any, settings: IopSettings, step: str
) -> tuple[build_state.Decision, dict[str, Any]]:
    """The run's decision (taken by its first dbt step, read back by the others), and the step's
    run vars: the marts step refreshes person-level marts by change scope only when the previous
    run built every layer whole (so the marts saw every earlier core step)."""
    decision = build_state.decide(
        con, settings, context.run.run_id, requested=build_state.requested(context.run.tags)
    )
    if step != MARTS_STEP or decision.full:
        return decision, {}
    by_scope = build_state.previous_run_completed(con, context.run.run_id)
    context.log.info(f"{step}: person-level marts by change scope: {by_scope}")
    # the copies of the changed persons' rows are this run's when its core step built them with
    # core.changed_persons (sql/macros/incremental.sql, rows_of_changed_persons_in_marts)
    copies = by_scope and build_state.step_done(con, context.run.run_id, CORE_STEP)
    return decision, {"marts_by_scope": by_scope, "core_copies_of_this_run": copies}


# Models dbt builds at once. The marts are many independent aggregates, most of them small: built
# several at a time, one's Python bookkeeping overlaps another's query. So are an incremental
# build's models (the new files, the changed persons). On a small data set (under
# SMALL_BUILD_BYTES of ingested Parquet: the demo, size S, the tests) dbt's own work per model
# outweighs the queries, and four at a time is fastest: 12.8 -> 11.3 s for a full build of 30
# generated clients. On more data each query already keeps every core busy, so no more models run
# at once than DuckDB has threads (at most four): more only contend for the cores and the memory
# limit. Measured on two cores, a day's refresh at size L, with DuckDB at 2.5 GB: the marts step
# took 26.9-28.9 s four at a time, 21.6 s two at a time, 24.5 s one at a time. A full build of
# staging and core over more data runs one model at a time: its models are few, large and in a
# chain, and peak memory matters more there.
PARALLEL_THREADS = 4
SMALL_BUILD_BYTES = 64 * 2**20  # size S ingests 15 MiB, size M 151 MiB


def _ingested_bytes(settings: IopSettings) -> int:
    return sum(p.stat().st_size for p in settings.raw_dir.rglob("*.parquet") if p.is_file())


def _threads(settings: IopSettings, step: str, decision: build_state.Decision) -> int:
    if settings.on_spark and decision.full and step != MARTS_STEP:
        return 1  # every Spark build is full; its staging and core, one at a time
    if _ingested_bytes(settings) < SMALL_BUILD_BYTES:
        return PARALLEL_THREADS
    if step == MARTS_STEP or not decision.full:
        return max(1, min(PARALLEL_THREADS, int(settings.duckdb_threads)))
    return 1


# An incremental run does not load the seeds again: their files are part of the build
# fingerprint (iop/build_state.py), so a run that is not full has the seeds of the last complete
# build. Loading them costs ~0.6 s a run for nothing.
SEED_UNCHANGED = "no: the seed file is unchanged since the last complete build"


def _loaded_seeds(
    con: Any, settings: IopSettings, names: list[str], decision: build_state.Decision
) -> dict[str, dict]:
    """The seeds among `names` an incremental run keeps as loaded (name -> manifest node): all of
    them, when the run is not full and every one is a table of the working database."""
    nodes = dbt_project.manifest()["nodes"]
    seeds = {
        node["name"]: node
        for node in nodes.values()
        if node["resource_type"] == "seed" and node["name"] in names
    }
    if decision.full or not seeds or settings.on_spark:
        return {}
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'seeds'"
        ).fetchall()
    }
    return seeds if set(seeds) <= tables else {}


@contextlib.contextmanager
def _model_tables(settings: IopSettings, con: Any) -> Iterator[Any]:
    """A connection to the model tables: on DuckDB the working database's own `con`, on Spark
    the SparkSession's (iop/engine.py)."""
    if settings.on_spark:
        with engine.connect(settings) as models:
            yield models
    else:
        yield con


def _materialize(
    context: AssetExecutionContext, settings: IopSettings, step: str
) -> Iterator[Output]:
    """`dbt build` of the selected models and seeds (unit tests run in `make test`, not here),
    incremental or in full as the run decided, then one Output per built node with its row count;
    a failed node fails the step after the others are reported, so nothing downstream of it
    runs. A step that built all its nodes is recorded (the last one stores the build state)."""
    names = _node_names(context)
    with settings.connect() as con:  # one connection before the build, one after: ~30 ms each
        decision, run_vars = _decide(context, con, settings, step)
        loaded = _loaded_seeds(con, settings, names, decision)
    context.log.info(f"{step}: {decision.reason}")
    threads = _threads(settings, step, decision)
    outcome = build(
        settings,
        [name for name in names if name not in loaded],
        full_refresh=decision.full,
        threads=threads,
        run_vars=run_vars,
        write_comments=False,
    )
    # the seeds kept as loaded are reported first (Dagster wants a step's assets in dependency
    # order), as up to date
    outcome.built = {**{node["unique_id"]: node for node in loaded.values()}, **outcome.built}
    outcome.seconds.update({node["unique_id"]: 0.0 for node in loaded.values()})
    # a step counts for the build state only when it built every node of its layer
    whole = set(context.selected_asset_keys) >= set(context.assets_def.keys)
    record = whole and not outcome.failures
    keys = {node: TRANSLATOR.get_asset_key(props) for node, props in outcome.built.items()}
    loaded_ids = {node["unique_id"] for node in loaded.values()}
    counts: dict[AssetKey, int] = {}
    extra: dict[str, Any] = {}
    if record or keys:
        with settings.connect() as con:
            if not settings.on_spark:
                comments.persist(con, outcome.built.values())
            if record:
                build_state.step_succeeded(con, context.run.run_id, step)
            with _model_tables(settings, con) as models:
                for key in keys.values():
                    counts[key] = models.execute(
                        f"select count(*) from {key.path[0]}.{key.path[-1]}"
                    ).fetchone()[0]
                if PROGRAM_QUALITY_KEY in counts:
                    # KPI values as metadata: the Dagster UI plots numeric metadata across runs
                    extra = kpis.latest_kpis(models)
    for node, key in keys.items():
        metadata: dict[str, Any] = {
            "rows": counts[key],
            "dbt_seconds": round(outcome.seconds[node], 3),
            "dbt_unique_id": node,
            "refresh": decision.reason,
        }
        if node in loaded_ids:
            metadata["loaded"] = SEED_UNCHANGED
        if key == PROGRAM_QUALITY_KEY:
            metadata.update(extra)
        yield Output(
            None, output_name=context.assets_def.get_output_name_for_asset_key(key),
            metadata=metadata,
        )  # fmt: skip
    if outcome.failures:
        raise Failure(
            description=redact("dbt build failed: " + "; ".join(outcome.failures)),
            metadata={"failed_nodes": len(outcome.failures), "refresh": decision.reason},
        )


def _dbt_layer_assets(name: str, select: str, exclude: str | None = None):
    # dbt resolves `path:` selectors against the working directory: from the project's, so the
    # code location loads the same assets wherever `iop` or Dagster is started
    with contextlib.chdir(dbt_project.PROJECT_DIR):
        return _layer_assets(name, select, exclude)


def _layer_assets(name: str, select: str, exclude: str | None):
    @dbt_assets(
        manifest=dbt_project.prepare_manifest(),
        select=select,
        exclude=exclude,
        dagster_dbt_translator=TRANSLATOR,
        name=name,
        pool="duckdb_warehouse",
    )
    def _layer(context: AssetExecutionContext, settings: IopSettings):
        with redacted_errors():
            yield from _materialize(context, settings, name)

    return _layer


# audit.claim_versions is resolved in the core step: it is refreshed by the core layer's change
# scope (sql/macros/incremental.sql), and core.claim_lines reads it.
dbt_staging = _dbt_layer_assets(
    "dbt_staging",
    "resource_type:seed path:sql/staging path:sql/audit",
    exclude="audit__claim_versions",
)
dbt_core = _dbt_layer_assets("dbt_core", "path:sql/core audit__claim_versions")
# The intermediate models (a family of marts computed once) build in the marts step, before the
# marts that select from them.
dbt_marts = _dbt_layer_assets("dbt_marts", "path:sql/intermediate path:sql/marts")


def model_key(table: str) -> AssetKey:
    """`core.episodes` -> the asset key of the model that builds it."""
    return AssetKey(table.split("."))
