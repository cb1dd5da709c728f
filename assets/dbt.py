"""The dbt models (sql/) as Dagster assets, through dagster-dbt.

Two dbt invocations per refresh, so the Great Expectations suites can block between layers:

* `dbt_staging`: seeds, staging (typed rows per source layout, canonical unions) and audit
  (quarantine, row accounting, landed files);
* `dbt_core_and_marts`: core tables and marts, which run only when every critical staging check
  passed (a blocking check stops what is downstream of its table).

Asset keys are `[schema, table]` (`core/episodes`), groups are layers, descriptions and column
schemas come from each model's yml. Every raw source is the `raw/registry` asset, which writes
them. After dbt finishes, row counts (and the KPIs of program_quality_monthly) are read in one
connection and attached to the materializations: dbt holds the DuckDB file while it runs.
"""


import json
import os
from collections.abc import Iterator, Mapping
from typing import Any
from unittest.mock import patch

from dagster import AssetExecutionContext, AssetKey, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from iop import dbt_project, kpis
from iop.settings import IopSettings

REGISTRY_KEY = AssetKey(["raw", "registry"])
PROGRAM_QUALITY_KEY = AssetKey(["marts", "program_quality_monthly"])

iop_dbt = DbtProject(
    project_dir=dbt_project.PROJECT_DIR,
    profiles_dir=dbt_project.PROJECT_DIR,
    target_path=dbt_project.TARGET_DIR,
)


class IopTranslator(DagsterDbtTranslator):
    """dbt nodes as the rest of the project names them."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        kind = dbt_resource_props["resource_type"]
        if kind == "source":
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


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=iop_dbt,
        dbt_executable=dbt_project.dbt_executable(),
        global_config_flags=["--no-use-colors"],
    )


def _build(context: AssetExecutionContext, dbt: DbtCliResource, settings: IopSettings):
    """`dbt build` of the selected models (unit tests run in `make test`, not here), then the
    materializations with their row counts."""
    args = ["build", "--exclude-resource-type", "unit_test"]
    if rule_vars := settings.dbt_vars():
        args += ["--vars", json.dumps(rule_vars)]
    # profiles.yml reads the data folder and DuckDB limits from the environment dbt inherits
    with patch.dict(os.environ, settings.dbt_env()):
        events = list(dbt.cli(args, context=context).stream())
    yield from _with_counts(context, events, settings)


def _with_counts(context: AssetExecutionContext, events: list, settings: IopSettings) -> Iterator:
    outputs = {
        e.output_name: context.asset_key_for_output(e.output_name)
        for e in events
        if isinstance(e, Output)
    }
    counts: dict[AssetKey, int] = {}
    extra: dict[str, Any] = {}
    if outputs:
        with settings.connect(read_only=True) as con:
            for key in outputs.values():
                counts[key] = con.execute(
                    f'select count(*) from "{key.path[0]}"."{key.path[-1]}"'
                ).fetchone()[0]
            if PROGRAM_QUALITY_KEY in counts:
                # KPI values as metadata: the Dagster UI plots numeric metadata across runs
                extra = kpis.latest_kpis(con)
    for event in events:
        if isinstance(event, Output):
            key = outputs[event.output_name]
            metadata = {**event.metadata, "rows": counts[key]}
            if key == PROGRAM_QUALITY_KEY:
                metadata.update(extra)
            yield event.with_metadata(metadata)
        else:
            yield event


@dbt_assets(
    manifest=dbt_project.prepare_manifest(),
    project=iop_dbt,
    select="resource_type:seed path:sql/staging path:sql/audit",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_staging",
    pool="duckdb_warehouse",
)
def dbt_staging(context: AssetExecutionContext, dbt: DbtCliResource, settings: IopSettings):
    yield from _build(context, dbt, settings)


@dbt_assets(
    manifest=dbt_project.prepare_manifest(),
    project=iop_dbt,
    select="path:sql/core path:sql/marts",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_core_and_marts",
    pool="duckdb_warehouse",
)
def dbt_core_and_marts(context: AssetExecutionContext, dbt: DbtCliResource, settings: IopSettings):
    yield from _build(context, dbt, settings)


def model_key(table: str) -> AssetKey:
    """`core.episodes` -> the asset key of the model that builds it."""
    return AssetKey(table.split("."))
