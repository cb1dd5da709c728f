"""The GX suites mean the same thing in DuckDB as in Great Expectations itself.

For every suite a fixture table is derived from its own expectations: a good version that meets
all of them and a bad version where each column-map expectation is broken on its own rows. Both
run through GX 1.x's pandas engine and through iop.validation's DuckDB execution; verdicts and
unexpected counts must agree, the good table must pass everything and the bad table must fail
every expectation.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest
from spark_support import spark_session  # noqa: F401  (fixture)

from iop import validation

ROWS = 40
# Values that match each regex the suites use (a new regex needs a sample here).
REGEX_SAMPLES = {
    r"^[0-9]{5}$": lambda i: f"{10000 + i:05d}",
    r"^[0-9a-f]{64}$": lambda i: hashlib.sha256(str(i).encode()).hexdigest(),
}
DAY0 = date(2025, 1, 1)


def _good_frame(expectations) -> pd.DataFrame:
    columns: dict[str, list] = {}
    for e in expectations:
        k = e.kwargs
        if e.type == "expect_column_pair_values_a_to_be_greater_than_b":
            columns[k["column_B"]] = [DAY0 + timedelta(days=i) for i in range(ROWS)]
            columns[k["column_A"]] = [DAY0 + timedelta(days=i + 5) for i in range(ROWS)]
    for e in expectations:
        k = e.kwargs
        column = k.get("column")
        if e.type == "expect_column_values_to_be_in_set":
            columns[column] = [k["value_set"][i % len(k["value_set"])] for i in range(ROWS)]
        elif e.type == "expect_column_values_to_be_between":
            low = k.get("min_value", 0)
            columns[column] = [low + (i % 3) for i in range(ROWS)]
        elif e.type == "expect_column_values_to_match_regex":
            columns[column] = [REGEX_SAMPLES[k["regex"]](i) for i in range(ROWS)]
        elif e.type == "expect_compound_columns_to_be_unique":
            for c in k["column_list"]:
                columns.setdefault(c, [f"{c}-{i}" for i in range(ROWS)])
        elif column is not None:
            columns.setdefault(column, [f"{column}-{i}" for i in range(ROWS)])
    return pd.DataFrame(columns)


def _bad_frame(expectations) -> pd.DataFrame:
    """Each column-map expectation broken on 4 rows of its own (10% > any `mostly` slack)."""
    frame = _good_frame(expectations).astype(object)
    row = 0
    for e in expectations:
        k = e.kwargs
        rows = list(range(row, row + 4))
        row += 4
        if e.type == "expect_column_values_to_not_be_null":
            frame.loc[rows, k["column"]] = None
        elif e.type == "expect_column_values_to_be_in_set":
            frame.loc[rows, k["column"]] = "NOT-A-CODE"
        elif e.type == "expect_column_values_to_be_between":
            frame.loc[rows, k["column"]] = k.get("min_value", 0) - 100
        elif e.type == "expect_column_values_to_match_regex":
            frame.loc[rows, k["column"]] = "no match!"
        elif e.type == "expect_column_values_to_be_unique":
            frame.loc[rows, k["column"]] = frame.loc[rows[0], k["column"]]
        elif e.type == "expect_compound_columns_to_be_unique":
            for c in k["column_list"]:
                frame.loc[rows, c] = frame.loc[rows[0], c]
        elif e.type == "expect_column_pair_values_a_to_be_greater_than_b":
            frame.loc[rows, k["column_A"]] = [DAY0 - timedelta(days=30)] * 4
        else:
            row -= 4
    return frame


def _duckdb_results(table: str, frame: pd.DataFrame, expectations):
    con = duckdb.connect()
    schema, name = table.split(".")
    con.execute(f"create schema {schema}")
    con.register("frame", frame)
    con.execute(f"create table {table} as select * from frame")
    return {r.expectation.name: r for r in validation.validate_table(con, table, expectations)}


def _gx_results(path, frame: pd.DataFrame):
    import great_expectations as gx

    document = json.loads(path.read_text())
    kept = [e for e in document["expectations"] if e["type"] != SQL_ONLY]
    suite = gx.ExpectationSuite(name=document["name"], expectations=kept)
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("pandas")
    batch = (
        source.add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    outcome = batch.validate(suite)
    by_name = {}
    for result in outcome.results:
        config = result.expectation_config
        name = (config.meta or {}).get("name") or validation._check_name(config.type, config.kwargs)
        by_name[name] = result
    return by_name


SUITES = validation.suite_paths()
SQL_ONLY = "unexpected_rows_expectation"  # GX runs these on SQL datasources only


def _column_rules(path):
    return tuple(e for e in validation.load_suite(path) if e.type != SQL_ONLY)


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_verdicts_match_great_expectations(path):
    expectations = _column_rules(path)
    for label, frame in (("good", _good_frame(expectations)), ("bad", _bad_frame(expectations))):
        ours = _duckdb_results(path.stem, frame, expectations)
        theirs = _gx_results(path, frame)
        assert set(ours) == set(theirs)
        for name, result in ours.items():
            gx_result = theirs[name]
            assert result.success == gx_result.success, (label, name)
            if "unexpected_count" in gx_result.result:
                assert result.unexpected_count == gx_result.result["unexpected_count"], (
                    label,
                    name,
                )
        if label == "good":
            assert all(r.success for r in ours.values()), path.stem
        else:
            column_map = [
                r
                for r in ours.values()
                if r.expectation.type
                not in ("expect_table_row_count_to_be_between", "expect_column_to_exist")
            ]
            assert column_map and not any(r.success for r in column_map), path.stem


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_empty_table_is_not_applicable_and_row_count_fails(path):
    expectations = _column_rules(path)
    empty = _good_frame(expectations).head(0)
    ours = _duckdb_results(path.stem, empty, expectations)
    for result in ours.values():
        if result.expectation.type == "expect_table_row_count_to_be_between":
            assert result.status == "failed"
        elif result.expectation.type != "expect_column_to_exist":
            assert result.status == "not_applicable", result.expectation.name


def test_missing_column_fails_with_its_name():
    expectations = _column_rules(validation.EXPECTATIONS_DIR / "staging.claims.json")
    frame = _good_frame(expectations).drop(columns=["member_id"])
    ours = _duckdb_results("staging.claims", frame, expectations)
    failed = ours["column_values_to_not_be_null__member_id"]
    assert not failed.success and failed.details["missing_columns"] == ["member_id"]


def test_unexpected_rows_and_history_bounds_in_duckdb():
    """Referential integrity via GX's SQL expectation, and row counts against recorded history."""
    con = duckdb.connect()
    con.execute("create schema core; create schema audit")
    con.execute(
        "create table core.persons as select * from (values ('client:A', 'ehr'), "
        "('member:X', 'claims')) t(person_id, person_source)"
    )
    con.execute(
        "create table core.sessions as select * from (values ('client:A'), ('client:A'), "
        "('client:B')) t(person_id)"
    )
    [integrity] = [
        e
        for e in validation.load_suite(validation.EXPECTATIONS_DIR / "core.sessions.json")
        if e.name == "session_client_in_roster"
    ]
    [result] = validation.validate_table(con, "core.sessions", (integrity,))
    assert (result.success, result.unexpected_count, result.element_count) == (False, 1, 3)

    [history] = [
        e
        for e in validation.load_suite(validation.EXPECTATIONS_DIR / "staging.claims.json")
        if e.name == "row_count_against_history"
    ]
    con.execute(
        "create schema staging; create table staging.claims as select range as claim_id "
        "from range(100)"
    )
    [first] = validation.validate_table(con, "staging.claims", (history,))
    assert first.success and first.details["history_runs"] == 0  # no history: static bound
    con.execute(validation.CHECK_RESULTS_DDL)
    for n in (1000, 1100, 900):  # earlier runs saw about 1,000 rows; median 1,000 → [500, 2000]
        con.execute(
            "insert into audit.check_results (table_name, check_name, observed_value, "
            "checked_at) values ('staging.claims', 'row_count_against_history', ?, now())",
            [str(n)],
        )
    [drop] = validation.validate_table(con, "staging.claims", (history,))
    assert not drop.success and drop.observed_value == 100
    assert (drop.details["min_value"], drop.details["max_value"]) == (500.0, 2000.0)


@pytest.mark.parametrize("path", validation.suite_paths(), ids=lambda p: p.stem)
def test_run_time_reading_of_each_suite_equals_gx_reading(path):
    """Runs read suites without importing GX; GX reads the same files identically (and accepts
    them: an unknown expectation or a bad argument raises in ExpectationSuite)."""
    assert validation.load_suite(path) == validation.gx_suite(path)


def test_a_run_never_imports_great_expectations():
    """GX is the tests' business: a run's check step reads the suite JSON and executes it in
    DuckDB (importing GX would cost ~125 MB of the run's memory and seconds of import)."""
    code = (
        "import sys; from iop import validation; "
        "[validation.load_suite(p) for p in validation.suite_paths()]; "
        "import assets.checks; "
        "print('great_expectations' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- the same checks on Spark -------------------------------------------------------------------

STAGING = [p for p in SUITES if p.stem.startswith("staging.")]
# What the unexpected-rows queries of the staging suites read besides the table: known values
# (seeds and the site's additions), and values of the table's own column with and without a match.
REFERENCES = {
    "payer": ("seeds.known_payers", "raw.site_known_payers", ["ACME"], ["Other Health"]),
    "program": ("seeds.known_programs", "raw.site_known_programs", ["IOP"], ["Day Program"]),
}
REFERENCE_VALUES = ["acme", "IOP", None, " acme", "other health", "Day program", "Unknown"]
# Each engine spells these its own way (quoting, a backslash and a quote in a literal).
DIALECT_RULES = (
    validation.Expectation(
        table="t",
        type="expect_column_values_to_match_regex",
        kwargs={"column": "odd name", "regex": r"^\d{3}-\d{2}$"},
        severity="warning",
        tier="logical",
        name="regex_with_backslashes",
    ),
    validation.Expectation(
        table="t",
        type="expect_column_values_to_be_in_set",
        kwargs={"column": "odd name", "value_set": ["O'Brien", "123-45", "a\\b"]},
        severity="warning",
        tier="logical",
        name="set_with_quote_and_backslash",
    ),
)
ODD_VALUES = ["123-45", "O'Brien", "a\\b", "12-345", None, "x123-45"]


def _spark_frame(expectations, label: str) -> pd.DataFrame:
    """The test's good or bad frame, plus lineage columns (failing samples are `file:row`) and
    the columns the unexpected-rows queries read."""
    frame = _good_frame(expectations) if label == "good" else _bad_frame(expectations)
    frame["_file_sha256"] = [hashlib.sha256(f"f{i % 3}".encode()).hexdigest() for i in range(ROWS)]
    frame["_row_number"] = range(ROWS)
    queries = " ".join(e.kwargs.get("unexpected_rows_query", "") for e in expectations)
    for column in REFERENCES:
        if f"b.{column}" in queries and column not in frame:
            frame[column] = [
                ("acme" if column == "payer" else "IOP")
                if label == "good"
                else REFERENCE_VALUES[i % len(REFERENCE_VALUES)]
                for i in range(ROWS)
            ]
    frame["odd name"] = [ODD_VALUES[i % len(ODD_VALUES)] for i in range(ROWS)]
    return frame


@pytest.fixture(scope="module")
def spark_references(spark_session):  # noqa: F811
    """The known-value tables the unexpected-rows queries read, on Spark (once per module)."""
    for column, (seed, site, known, added) in REFERENCES.items():
        for name, values in ((seed, known), (site, added)):
            spark_session.sql(f"create database if not exists {name.split('.')[0]}")
            spark_session.createDataFrame([(v,) for v in values], f"{column} string").write.mode(
                "overwrite"
            ).saveAsTable(name)
    return spark_session


def _both_engines(spark, table: str, frame: pd.DataFrame, expectations):
    """validate_table's results on DuckDB and on Spark, for the same tables."""
    from pyspark.sql.pandas.types import from_arrow_schema

    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("create schema seeds; create schema raw")
    con.execute(f"create schema {table.split('.')[0]}")
    con.execute(f"create table {table} as select * from frame")
    for column, (seed, site, known, added) in REFERENCES.items():
        con.execute(f"create table {seed} as select unnest(?::varchar[]) as {column}", [known])
        con.execute(f"create table {site} as select unnest(?::varchar[]) as {column}", [added])
    arrow = con.sql(f"select * from {table}").to_arrow_table()
    spark.sql(f"create database if not exists {table.split('.')[0]}")
    spark.createDataFrame(arrow.to_pandas(), schema=from_arrow_schema(arrow.schema)).write.mode(
        "overwrite"
    ).saveAsTable(table)
    duck = validation.validate_table(con, table, expectations)
    on_spark = validation.validate_table(con, table, expectations, engine=spark)
    return duck, on_spark


def _outcome(result):
    return (
        result.status,
        result.element_count,
        result.unexpected_count,
        result.unexpected_percent,
        result.observed_value,
        result.details,
    )


@pytest.mark.parametrize("path", STAGING, ids=[p.stem for p in STAGING])
def test_staging_suites_give_the_same_results_on_spark(path, spark_references):
    """The structural suites compiled for Spark: the same verdicts, counts and failing samples
    as on DuckDB, unexpected-rows queries and dialect-sensitive rules included."""
    suite = validation.load_suite(path)
    expectations = suite + tuple(replace(e, table=path.stem) for e in DIALECT_RULES)
    for label in ("good", "bad"):
        frame = _spark_frame(suite, label)
        duck, on_spark = _both_engines(spark_references, path.stem, frame, expectations)
        assert [_outcome(r) for r in on_spark] == [_outcome(r) for r in duck], label
        failed = {r.expectation.name for r in duck if r.status == "failed"}
        assert {"regex_with_backslashes", "set_with_quote_and_backslash"} <= failed
        if label == "bad":
            assert all(
                r.details.get("failing_sample")
                for r in duck
                if r.expectation.type
                in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set")
            )
            sql_only = [r for r in duck if r.expectation.type == SQL_ONLY]
            assert all(r.status == "failed" for r in sql_only), path.stem
