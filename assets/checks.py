"""Great Expectations suites (expectations/<schema>.<table>.json) as Dagster asset checks.

One multi-asset check per suite, one check per expectation, evaluated in a single pass where the
tables are: DuckDB, or Spark when the models run there (IOP_ENGINE=spark; the process's session,
iop/spark.py). Critical expectations are blocking: if one fails, assets downstream of the table do
not run. Every result is also appended to audit.check_results, in the DuckDB working database on
both engines (iop/validation.py). On DuckDB a staging table's checks read only the rows of files
not counted before (iop/validation_incremental.py); the metadata's `scanned` says what was read.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    multi_asset_check,
)

from assets.dbt import model_key
from iop import validation, validation_incremental
from iop.redact import redacted_errors
from iop.settings import IopSettings

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


def build_suite_check(table: str):
    @multi_asset_check(
        specs=_suite_specs(table),
        name=f"gx_{table.replace('.', '_')}",
        pool="duckdb_warehouse",
        description=f"Great Expectations suite expectations/{table}.json, run where the table is.",
    )
    def _check(
        context: AssetCheckExecutionContext, settings: IopSettings
    ) -> Iterator[AssetCheckResult]:
        expectations = validation.load_suite(validation.EXPECTATIONS_DIR / f"{table}.json")
        with redacted_errors(), settings.connect(pseudonyms=True) as con:
            # staging tables: only the rows of files not counted yet are read (per-file counts
            # kept in the working database); others, and Spark, are read whole
            results = validation_incremental.validate_incrementally(
                con,
                table,
                expectations,
                run_id=context.run.run_id,
                pseudonyms=True,
                engine=check_engine(settings),
            )
            validation.record_results(con, context.run.run_id, results)
        for result in results:
            e = result.expectation
            yield AssetCheckResult(
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
                    **(
                        {"scanned": result.details["scanned"]}
                        if "scanned" in result.details
                        else {}
                    ),
                },
            )

    return _check


suite_checks = [build_suite_check(path.stem) for path in validation.suite_paths()]
