"""Great Expectations suites (expectations/<schema>.<table>.json) as Dagster asset checks.

One check per expectation, on the table its suite names; one multi-asset check (one step) per
layer: `gx_staging`, `gx_core`, `gx_marts`. Each suite is evaluated in a single pass where the
tables are: DuckDB, or Spark when the models run there (IOP_ENGINE=spark; the process's session,
iop/spark.py). Critical expectations are blocking: if one fails, nothing downstream of the layer's
tables runs (each layer is one dbt step, so the next layer would not run either way). Every result
is also appended to audit.check_results, in the DuckDB working database on both engines
(iop/validation.py). On DuckDB a staging table's checks read only the rows of files not counted
before (iop/validation_incremental.py); the metadata's `scanned` says what was read.
"""

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Failure,
    multi_asset_check,
)

from assets.dbt import model_key
from iop import validation, validation_incremental
from iop.ops import recovery
from iop.redact import redact, redacted_errors
from iop.settings import IopSettings, PseudonymKeyError

# Tables an unexpected-rows query names (`core.persons`): built before the check runs.
_REFERENCE = re.compile(r"\b(staging|core|marts|audit)\.([a-z_][a-z0-9_]*)\b")


def _suite_specs(table: str) -> list[AssetCheckSpec]:
    # Specs come from the JSON directly, so loading the code location does not import GX.
    document = json.loads((validation.EXPECTATIONS_DIR / f"{table}.json").read_text())
    specs = []
    for item in document["expectations"]:
        name = item.get("meta", {}).get("name") or validation._check_name(
            item["type"], item["kwargs"]
        )
        if item["type"] == "unexpected_rows_expectation":
            item = {**item, "kwargs": {"query": item["kwargs"]["unexpected_rows_query"][:200]}}
        # tables an unexpected-rows query reads must be built before the check runs
        reads = sorted(
            {
                f"{a}.{b}"
                for a, b in _REFERENCE.findall(item["kwargs"].get("unexpected_rows_query", ""))
            }
            - {table}
        )
        specs.append(
            AssetCheckSpec(
                name=name,
                asset=model_key(table),
                additional_deps=[model_key(t) for t in reads],
                blocking=item.get("severity", "critical") == "critical",
                description=f"{item['type']} {json.dumps(item['kwargs'])}",
            )
        )
    return specs


def check_engine(settings: IopSettings) -> Any:
    """Where the checks run: None for DuckDB (the working database), the SparkSession when the
    models ran on Spark (IOP_ENGINE=spark, as profiles.yml picks the dbt target)."""
    if not settings.on_spark:
        return None
    from iop import spark  # pyspark only on a Spark run

    return spark.session(settings)


def _result(table: str, result: Any, seconds: float) -> AssetCheckResult:
    e = result.expectation
    return AssetCheckResult(
        asset_key=model_key(table),
        check_name=e.name,
        passed=result.success,
        description=(
            "not applicable: "
            + result.details.get("not_applicable", "the table or column has no rows")
            if result.status == "not_applicable"
            else None
        ),
        severity=AssetCheckSeverity.ERROR if e.blocking else AssetCheckSeverity.WARN,
        metadata={
            "status": result.status,
            "tier": e.tier,
            "element_count": result.element_count,
            "unexpected_count": result.unexpected_count,
            "unexpected_percent": result.unexpected_percent,
            "threshold_percent": result.threshold_percent(),
            # the whole suite's time (its checks are measured in one pass)
            "suite_seconds": round(seconds, 3),
            **(
                {"observed_value": result.observed_value}
                if result.observed_value is not None
                else {}
            ),
            **(
                {"missing_columns": ", ".join(result.details["missing_columns"])}
                if "missing_columns" in result.details
                else {}
            ),
            **(
                {"failing_sample": ", ".join(result.details["failing_sample"])}
                if result.details.get("failing_sample")
                else {}
            ),
            **(
                {"history_runs": result.details["history_runs"]}
                if "history_runs" in result.details
                else {}
            ),
            **({"scanned": result.details["scanned"]} if "scanned" in result.details else {}),
        },
    )


def build_layer_check(layer: str, tables: list[str]):
    """The suites of one layer's tables in one step: a layer's models are built by one dbt step,
    so its suites can all run once that step is done, on one connection. (One step per suite cost
    a connection and Dagster's step bookkeeping each: about 1 s of a refresh at size M.) A suite
    that raises does not stop the others: their results are recorded and yielded, then the step
    fails naming it."""

    @multi_asset_check(
        specs=[spec for table in tables for spec in _suite_specs(table)],
        name=f"gx_{layer}",
        pool="duckdb_warehouse",
        can_subset=True,
        description=f"Great Expectations suites of the {layer} tables "
        f"(expectations/{layer}.*.json), run where the tables are.",
    )
    def _check(
        context: AssetCheckExecutionContext, settings: IopSettings
    ) -> Iterator[AssetCheckResult]:
        selected = set(context.selected_asset_check_keys)
        failed: list[str] = []
        # an error opening the database reaches Dagster redacted, as a suite's does below
        with redacted_errors(), settings.connect(pseudonyms=True) as con:
            for table in tables:
                wanted = {k.name for k in selected if k.asset_key == model_key(table)}
                if not wanted:
                    continue
                started = time.perf_counter()
                try:
                    results = _validate(context, settings, con, table)
                except (Failure, PseudonymKeyError):
                    raise
                except Exception as error:
                    if isinstance(error, duckdb.Error) and not settings.on_spark:
                        # a bad block shows when it is read: the next writer rebuilds the file
                        recovery.mark_damaged(settings.warehouse_path, error)
                    # redacted: a conversion error quotes the value it could not convert
                    context.log.error(
                        f"{table}: the suite could not run: {type(error).__name__}: {redact(error)}"
                    )
                    failed.append(table)
                    continue
                seconds = time.perf_counter() - started
                for result in results:
                    if result.expectation.name in wanted:
                        yield _result(table, result, seconds)
        if failed:
            raise Failure(
                f"the suites of {', '.join(failed)} could not run (see the step's log); "
                "the other suites' results are recorded"
            )

    return _check


def _validate(
    context: AssetCheckExecutionContext, settings: IopSettings, con: Any, table: str
) -> list:
    """One suite's results, recorded in audit.check_results. Staging tables: only the rows of
    files not counted yet are read (per-file counts kept in the working database); others, and
    Spark, are read whole."""
    expectations = validation.load_suite(validation.EXPECTATIONS_DIR / f"{table}.json")
    results = validation_incremental.validate_incrementally(
        con,
        table,
        expectations,
        run_id=context.run.run_id,
        pseudonyms=True,
        engine=check_engine(settings),
    )
    validation.record_results(con, context.run.run_id, results)
    return results


def _layers() -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for path in validation.suite_paths():
        tables.setdefault(path.stem.split(".")[0], []).append(path.stem)
    return tables


suite_checks = [build_layer_check(layer, tables) for layer, tables in _layers().items()]
