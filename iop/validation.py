"""Great Expectations suites, executed inside DuckDB.

The suites in `expectations/<schema>.<table>.json` are ordinary GX 1.x ExpectationSuites — the
single definition of what "valid" means; GX reads and checks every suite in the tests
(`gx_suite`), and a run reads the same JSON without importing GX (`load_suite`). GX's own SQL
execution does not work on DuckDB (its SQL datasource reads results after closing the
connection) and its pandas execution would load multi-million-row tables into memory, so each
expectation is compiled here into a DuckDB aggregate with GX's semantics (`mostly`, nulls
ignored by column-map expectations, unexpected percent of non-null rows). All column-map
expectations of a table share one scan. `tests/test_validation.py` runs every suite through
GX's pandas engine too and asserts the same verdicts and counts.

Severity is GX's own: `critical` blocks downstream assets, `warning` is reported and recorded.
Two additions ride in places GX leaves open: GX's `unexpected_rows_expectation` (a SQL query whose
rows are the failures; `{batch}` is the table) carries cross-table rules such as referential
integrity, and a row-count expectation with `meta.history` = {runs, min_ratio, max_ratio} takes
its bounds from the median of the table's last `runs` recorded counts (analytical checks against
recent history; the static bounds apply until there is history). Failing rows are sampled as
de-identified keys: `file:row` for staging tables, the person pseudonym for core tables.

The same compiled checks run where the tables are (IOP_ENGINE): on DuckDB (`DuckDBEngine`, the
default) or on a SparkSession (`SparkEngine`, `validate_table(..., engine=spark)`). The queries
are the same but for three fragments each engine spells its own way: identifier quoting, string
literals (Spark reads a backslash as an escape) and the regex test (DuckDB's `regexp_matches`,
Spark's `rlike`: both a search, as GX's test is). The bookkeeping stays in the DuckDB working
database on both engines: which feeds and layouts delivered (raw.registry), the history a row
count is bounded by and the results recorded (audit.check_results).

A run's staging checks on DuckDB go through iop/validation_incremental.py, which measures the
same numbers from per-file counts kept between runs (`plan_checks` → its own measuring →
`assemble`, where `validate_table` measures with `measure_whole`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from iop.warehouse import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUPPORTED = {
    "expect_column_to_exist",
    "expect_table_row_count_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "unexpected_rows_expectation",
}
SAMPLE_SIZE = 3
UNIQUENESS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, as plain data (GX has validated its type and arguments)."""

    table: str
    type: str
    kwargs: dict[str, Any]
    severity: str
    tier: str
    name: str
    meta: tuple[tuple[str, Any], ...] = ()

    @property
    def history(self) -> dict[str, Any] | None:
        return dict(self.meta).get("history")

    @property
    def blocking(self) -> bool:
        return self.severity == "critical"

    @property
    def mostly(self) -> float:
        return float(self.kwargs.get("mostly", 1.0))


@dataclass
class ExpectationResult:
    expectation: Expectation
    success: bool
    applicable: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float | None
    observed_value: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.applicable:
            return "not_applicable"
        return "passed" if self.success else "failed"

    def threshold_percent(self) -> float:
        return round((1.0 - self.expectation.mostly) * 100, 4)


def suite_paths() -> list[Path]:
    return sorted(EXPECTATIONS_DIR.glob("*.json"))


def _check_name(expectation_type: str, kwargs: dict[str, Any]) -> str:
    if expectation_type == "unexpected_rows_expectation":
        raise ValueError("an unexpected_rows_expectation needs meta.name")
    short = expectation_type.removeprefix("expect_")
    columns = kwargs.get("column_list") or [
        kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs
    ]
    return "__".join([short, *columns])


@cache
def load_suite(path: Path) -> tuple[Expectation, ...]:
    """A suite file as Expectations, read from its JSON without importing GX at run time (GX
    costs ~125 MB and seconds of import in every run). GX stays the authority on the format:
    `gx_suite` reads the same file with GX, and tests/test_validation.py asserts both readings
    agree for every suite, and that GX accepts each one."""
    document = json.loads(path.read_text())
    table = document["name"]
    expectations = []
    for item in document["expectations"]:
        kind = item["type"]
        if kind not in SUPPORTED:
            raise ValueError(f"{path.name}: {kind} has no DuckDB execution here")
        kwargs = {k: v for k, v in item.get("kwargs", {}).items() if k != "batch_id"}
        meta = item.get("meta") or {}
        expectations.append(
            Expectation(
                table=table,
                type=kind,
                kwargs=kwargs,
                severity=str(item.get("severity", "critical")),
                tier=meta.get("tier", "structural"),
                name=meta.get("name") or _check_name(kind, kwargs),
                meta=tuple(sorted(meta.items())),
            )
        )
    names = [e.name for e in expectations]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"{path.name}: check names used twice: {sorted(duplicated)}")
    return tuple(expectations)


def gx_suite(path: Path) -> tuple[Expectation, ...]:
    """The same suite read by GX itself (its ExpectationSuite validates types and arguments)."""
    from great_expectations.core import ExpectationSuite  # slow import: tests only

    document = json.loads(path.read_text())
    suite = ExpectationSuite(
        name=document["name"],
        expectations=document["expectations"],
        meta=document.get("meta", {}),
    )
    expectations = []
    for gx_expectation in suite.expectations:
        kind = gx_expectation.expectation_type
        kwargs = {
            k: v for k, v in gx_expectation.configuration.kwargs.items() if k not in ("batch_id",)
        }
        meta = gx_expectation.meta or {}
        severity = getattr(gx_expectation, "severity", "critical")
        expectations.append(
            Expectation(
                table=document["name"],
                type=kind,
                kwargs=kwargs,
                severity=str(getattr(severity, "value", severity)),
                tier=meta.get("tier", "structural"),
                name=meta.get("name") or _check_name(kind, kwargs),
                meta=tuple(sorted(meta.items())),
            )
        )
    return tuple(expectations)


def suites() -> dict[str, tuple[Expectation, ...]]:
    """Every suite, keyed by the table it validates (`schema.table`)."""
    return {path.stem: load_suite(path) for path in suite_paths()}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class DuckDBEngine:
    """Where a run's checks execute on DuckDB: a connection (the working database's, or any)."""

    name = "duckdb"
    quote = staticmethod(_quote)
    literal = staticmethod(_literal)

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def batch(self, row_query: str, scalar_queries: list[str]) -> tuple[tuple, list[Any]]:
        """The row of `row_query` and the value of each scalar query, one query after another."""
        return (
            self.con.execute(row_query).fetchone(),
            [self.con.execute(q).fetchone()[0] for q in scalar_queries],
        )

    def columns(self, table: str) -> dict[str, str]:
        schema, name = table.split(".")
        rows = self.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
        return dict(rows)

    def regex_search(self, column: str, pattern: str) -> str:
        """`column` (SQL) contains a match of `pattern` (GX's regex test is a search)."""
        return f"regexp_matches({column}::varchar, {self.literal(pattern)})"


class SparkEngine:
    """Where a run's checks execute on Spark: a SparkSession whose catalog holds the tables
    (iop/spark.py's `session`, which also registers `pseudonymize` for failing samples)."""

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.spark.sql(sql).collect()]

    def batch(self, row_query: str, scalar_queries: list[str]) -> tuple[tuple, list[Any]]:
        """The row of `row_query` and the value of each scalar query, in one statement: Spark
        plans it once and runs the scalar subqueries side by side (a statement costs a
        planning and a job or more, most of the time on small tables)."""
        subqueries = "".join(f", ({q})" for q in scalar_queries)
        [row] = self.rows(f"select a.*{subqueries} from ({row_query}) as a")
        width = len(row) - len(scalar_queries)
        return row[:width], list(row[width:])

    def columns(self, table: str) -> dict[str, str]:
        return {c.name: c.dataType for c in self.spark.catalog.listColumns(table)}

    @staticmethod
    def quote(identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    @staticmethod
    def literal(value: Any) -> str:
        # Spark string literals: backslash escapes, and '' is two adjacent literals, not a quote
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return _literal(value)

    def regex_search(self, column: str, pattern: str) -> str:
        """Java's find, like DuckDB's regexp_matches: a match anywhere unless anchored."""
        return f"cast({column} as string) rlike {self.literal(pattern)}"


Engine = DuckDBEngine | SparkEngine


def as_engine(engine: Any, con: duckdb.DuckDBPyConnection) -> Engine:
    """The engine to run on: `con`'s DuckDB when None, a SparkSession wrapped, or an Engine."""
    if engine is None:
        return DuckDBEngine(con)
    if isinstance(engine, DuckDBEngine | SparkEngine):
        return engine
    if isinstance(engine, duckdb.DuckDBPyConnection):
        return DuckDBEngine(engine)
    if hasattr(engine, "sql") and hasattr(engine, "catalog"):  # a SparkSession (no import)
        return SparkEngine(engine)
    raise TypeError(f"not an engine to validate on: {type(engine).__name__}")


def _unexpected_condition(e: Expectation, sql: Engine) -> tuple[str, str] | None:
    """(unexpected-row condition, domain condition) for column-map expectations, in `sql`'s
    dialect."""
    k = e.kwargs
    quote, literal = sql.quote, sql.literal
    if e.type == "expect_column_values_to_not_be_null":
        return f"{quote(k['column'])} is null", "true"
    column = quote(k.get("column", ""))
    non_null = f"{column} is not null"
    if e.type == "expect_column_values_to_be_in_set":
        values = ", ".join(literal(v) for v in k["value_set"])
        return f"{column} not in ({values})", non_null
    if e.type == "expect_column_values_to_be_between":
        parts = []
        if k.get("min_value") is not None:
            op = "<=" if k.get("strict_min") else "<"
            parts.append(f"{column} {op} {literal(k['min_value'])}")
        if k.get("max_value") is not None:
            op = ">=" if k.get("strict_max") else ">"
            parts.append(f"{column} {op} {literal(k['max_value'])}")
        return " or ".join(parts) or "false", non_null
    if e.type == "expect_column_values_to_match_regex":
        return f"not {sql.regex_search(column, k['regex'])}", non_null
    if e.type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = quote(k["column_A"]), quote(k["column_B"])
        op = ">=" if k.get("or_equal") else ">"
        ignore = k.get("ignore_row_if", "both_values_are_missing")
        domain = (
            f"{a} is not null and {b} is not null"
            if ignore == "either_value_is_missing"
            else f"not ({a} is null and {b} is null)"
        )
        return f"not coalesce({a} {op} {b}, false)", domain
    return None


def _duplicate_rows(sql: Engine, table: str, columns: list[str]) -> str:
    """The query counting rows whose value (or combination) occurs more than once; rows with all
    keys null are out."""
    keys = ", ".join(sql.quote(c) for c in columns)
    not_all_null = " or ".join(f"{sql.quote(c)} is not null" for c in columns)
    return (
        f"select coalesce(sum(n), 0) from (select count(*) as n from {table} "
        f"where {not_all_null} group by {keys} having count(*) > 1)"
    )


def _sample_key(columns: dict[str, str], pseudonyms: bool) -> str | None:
    """A de-identified way to point at a failing row: never a name, member id or birth date."""
    # the file by the start of its content hash: a file name can carry an MRN or a date
    if "_file_sha256" in columns and "_row_number" in columns:
        return "left(_file_sha256, 12) || ':' || _row_number"
    if "person_id" in columns and pseudonyms:
        return "left(pseudonymize(person_id), 16)"
    for key in ("episode_key", "person_key"):
        if key in columns:
            return f"left({key}, 16)"
    return None


def _failing_sample(sql: Engine, table: str, condition: str, key: str | None) -> list[str]:
    if key is None:
        return []
    rows = sql.rows(f"select {key} from {table} where {condition} order by 1 limit {SAMPLE_SIZE}")
    return [str(r[0]) for r in rows]


def _history_bounds(con, e: Expectation) -> tuple[float | None, float | None, int]:
    """Bounds from the median of the last recorded row counts of this check (if any)."""
    spec = e.history or {}
    try:
        rows = con.execute(
            "select try_cast(observed_value as double) from audit.check_results "
            "where table_name = ? and check_name = ? and observed_value is not null "
            "order by checked_at desc limit ?",
            [e.table, e.name, int(spec.get("runs", 5))],
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    counts = sorted(r[0] for r in rows if r[0] is not None)
    if not counts:
        return e.kwargs.get("min_value"), e.kwargs.get("max_value"), 0
    median = counts[len(counts) // 2]
    return (
        median * float(spec.get("min_ratio", 0.5)),
        median * float(spec.get("max_ratio", 2.0)),
        len(counts),
    )


def _verdict(e: Expectation, domain: int, unexpected: int, element_count: int) -> ExpectationResult:
    if domain == 0:
        return ExpectationResult(e, True, False, element_count, 0, None)
    percent = 100.0 * unexpected / domain
    success = unexpected / domain <= (1.0 - e.mostly) + 1e-12
    return ExpectationResult(e, success, True, element_count, unexpected, round(percent, 6))


@cache
def suite_feeds(table: str) -> tuple[str, ...]:
    """The feeds a table rests on (the suite's `meta.feeds`); empty when it rests on all."""
    path = EXPECTATIONS_DIR / f"{table}.json"
    if not path.is_file():
        return ()
    return tuple(json.loads(path.read_text()).get("meta", {}).get("feeds", ()))


@cache
def suite_layouts(table: str) -> tuple[str, ...]:
    """The source layouts a table's rows come from (the suite's `meta.layouts`), where its feed
    also delivers other layouts (the claims feed: 837 claims and 835 remittances); empty when
    the feeds say it all."""
    path = EXPECTATIONS_DIR / f"{table}.json"
    if not path.is_file():
        return ()
    return tuple(json.loads(path.read_text()).get("meta", {}).get("layouts", ()))


def _undelivered(con: duckdb.DuckDBPyConnection, column: str, wanted: tuple[str, ...]) -> list[str]:
    """Of `wanted` values of raw.registry's `column` (feed or layout), those no landed file has
    (ignored files do not count); none when raw.registry does not exist."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'registry'"
    ).fetchall()[0][0]
    if not wanted or not exists:
        return []
    delivered = {
        row[0]
        for row in con.execute(
            f"select distinct {column} from raw.registry where status <> 'ignored'"
        ).fetchall()
    }
    return [value for value in wanted if value not in delivered]


def undelivered_layouts(con: duckdb.DuckDBPyConnection, layouts: tuple[str, ...]) -> list[str]:
    """Of `layouts`, those of which no file was landed and recognized (ingested, superseded,
    removed or excluded; a file rejected before its layout was known has none)."""
    return _undelivered(con, "layout", layouts)


def undelivered_feeds(con: duckdb.DuckDBPyConnection, feeds: tuple[str, ...]) -> list[str]:
    """Of `feeds`, those that never delivered a file (no landed content at all, read or
    rejected; ignored files do not count): a partial deployment, e.g. a payer with no
    attendance feed. Every feed counts as delivered when raw.registry does not exist."""
    return _undelivered(con, "feed", feeds)


def not_applicable(
    con: duckdb.DuckDBPyConnection, table: str, expectations: tuple[Expectation, ...]
) -> list[ExpectationResult] | None:
    """Every expectation `not_applicable` when the table is empty by design (see
    `validate_table`); None when the table is to be checked."""
    feeds = suite_feeds(table)
    missing_feeds = undelivered_feeds(con, feeds)
    layouts = suite_layouts(table)
    missing_layouts = undelivered_layouts(con, layouts)
    reason = None
    if feeds and len(missing_feeds) == len(feeds):
        reason = f"feed {', '.join(missing_feeds)} never delivered a file (partial deployment)"
    elif layouts and len(missing_layouts) == len(layouts):
        # e.g. a payer whose 835 remittances land before its first claim file
        reason = f"no {', '.join(layouts)} file was delivered yet (its feed delivered others)"
    if reason is None:
        return None
    return [
        ExpectationResult(e, True, False, 0, 0, None, details={"not_applicable": reason})
        for e in expectations
    ]


@dataclass
class Plan:
    """What a table's validation measures: the results already known (expectations naming a
    missing column), the column-map expectations (counted in one scan) and the one-number
    queries of the others (uniqueness: [domain, duplicate rows]; unexpected rows: [count])."""

    known: dict[str, ExpectationResult]
    map_expectations: list[Expectation]
    scalars: dict[str, list[str]]
    sample_key: str | None


def plan_checks(
    sql: Engine,
    table: str,
    expectations: tuple[Expectation, ...],
    columns: dict[str, str],
    pseudonyms: bool,
) -> Plan:
    known: dict[str, ExpectationResult] = {}
    for e in expectations:
        wanted = e.kwargs.get("column_list") or [
            e.kwargs[k] for k in ("column", "column_A", "column_B") if k in e.kwargs
        ]
        absent = [c for c in wanted if c not in columns]
        if absent:
            known[e.name] = ExpectationResult(
                e, False, True, 0, 0, None, details={"missing_columns": absent}
            )
    measured = [e for e in expectations if e.name not in known]
    map_expectations = [e for e in measured if _unexpected_condition(e, sql) is not None]
    scalars: dict[str, list[str]] = {}
    for e in measured:
        if e.type == "unexpected_rows_expectation":
            query = e.kwargs["unexpected_rows_query"].replace("{batch}", table)
            scalars[e.name] = [f"select count(*) from ({query})"]
        elif e.type in UNIQUENESS:
            keys = e.kwargs.get("column_list") or [e.kwargs["column"]]
            not_all_null = " or ".join(f"{sql.quote(c)} is not null" for c in keys)
            scalars[e.name] = [
                f"select count(*) from {table} where {not_all_null}",
                _duplicate_rows(sql, table, keys),
            ]
    return Plan(known, map_expectations, scalars, _sample_key(columns, pseudonyms))


@dataclass
class Measured:
    """A table's numbers: its row count, (unexpected, domain) of each column-map expectation,
    the answers of each scalar query, and failing samples where already known (else they are
    queried from the whole table)."""

    row_count: int
    maps: dict[str, tuple[int, int]]
    scalars: dict[str, list[Any]]
    samples: dict[str, list[str]] = field(default_factory=dict)
    scanned: dict[str, str] = field(default_factory=dict)


def measure_whole(sql: Engine, table: str, plan: Plan) -> Measured:
    """One aggregate scan of the whole table, the scalar queries with it (Spark: one statement)."""
    aggregates = ["count(*)"]
    for e in plan.map_expectations:
        unexpected, domain = _unexpected_condition(e, sql)
        aggregates.append(f"count(*) filter (where ({domain}) and ({unexpected}))")
        aggregates.append(f"count(*) filter (where {domain})")
    values, numbers = sql.batch(
        f"select {', '.join(aggregates)} from {table}",
        [q for qs in plan.scalars.values() for q in qs],
    )
    answers = iter(numbers)
    scalars = {name: [next(answers) for _ in queries] for name, queries in plan.scalars.items()}
    maps = {
        e.name: (values[1 + 2 * i], values[2 + 2 * i]) for i, e in enumerate(plan.map_expectations)
    }
    return Measured(values[0], maps, scalars)


def assemble(
    con: duckdb.DuckDBPyConnection,
    sql: Engine,
    table: str,
    expectations: tuple[Expectation, ...],
    plan: Plan,
    measured: Measured,
) -> list[ExpectationResult]:
    """The results from the measured numbers: GX's verdicts, samples of failing rows, row counts
    against their bounds or history."""
    results = dict(plan.known)
    row_count = measured.row_count
    for e in plan.map_expectations:
        unexpected, domain = measured.maps[e.name]
        results[e.name] = _verdict(e, domain, unexpected, row_count)
        if unexpected:
            sample = measured.samples.get(e.name)
            if sample is None:
                bad, in_domain = _unexpected_condition(e, sql)
                sample = _failing_sample(sql, table, f"({in_domain}) and ({bad})", plan.sample_key)
            results[e.name].details["failing_sample"] = sample

    for e in expectations:
        if e.name in results:
            continue
        if e.type == "expect_column_to_exist":
            results[e.name] = ExpectationResult(e, True, True, row_count, 0, None)
        elif e.type == "expect_table_row_count_to_be_between":
            low, high = e.kwargs.get("min_value"), e.kwargs.get("max_value")
            details: dict[str, Any] = {}
            if e.history is not None:
                low, high, runs = _history_bounds(con, e)
                details = {"history_runs": runs, "min_value": low, "max_value": high}
            ok = (low is None or row_count >= low) and (high is None or row_count <= high)
            results[e.name] = ExpectationResult(
                e,
                ok,
                True,
                row_count,
                0 if ok else 1,
                None,
                observed_value=row_count,
                details=details,
            )
        elif e.type == "unexpected_rows_expectation":
            [unexpected] = measured.scalars[e.name]
            results[e.name] = ExpectationResult(
                e,
                unexpected == 0,
                row_count > 0,
                row_count,
                unexpected,
                round(100.0 * unexpected / row_count, 6) if row_count else None,
                observed_value=unexpected,
            )
        elif e.type in UNIQUENESS:
            domain, duplicates = measured.scalars[e.name]
            results[e.name] = _verdict(e, domain, duplicates, row_count)
    for name, how in measured.scanned.items():
        results[name].details["scanned"] = how
    return [results[e.name] for e in expectations]


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    expectations: tuple[Expectation, ...],
    *,
    pseudonyms: bool = False,
    engine: Any = None,
) -> list[ExpectationResult]:
    """Run a table's expectations: one aggregate scan, plus one query per uniqueness or
    unexpected-rows check, plus a small sample of failing rows for each failure.

    The table's queries run on `engine`: None for `con` itself (DuckDB), a SparkSession (or a
    `SparkEngine`) when the models ran on Spark. `con` is the DuckDB working database either
    way: the registry (delivered feeds) and the row-count history are read there.

    A table resting only on feeds that never delivered a file (`suite_feeds`), or only on
    layouts of which no file was delivered (`suite_layouts`), is empty by design: every
    expectation is `not_applicable` (DQD's status), row counts included.

    The staging checks of a run usually go through iop/validation_incremental.py instead, which
    gives the same results from per-file counts kept between runs."""
    empty = not_applicable(con, table, expectations)
    if empty is not None:
        return empty
    sql = as_engine(engine, con)
    plan = plan_checks(sql, table, expectations, sql.columns(table), pseudonyms)
    return assemble(con, sql, table, expectations, plan, measure_whole(sql, table, plan))


CHECK_RESULTS_DDL = """
create table if not exists audit.check_results (
    run_id varchar
    , checked_at timestamp
    , table_name varchar
    , check_name varchar
    , expectation_type varchar
    , tier varchar
    , severity varchar
    , status varchar
    , element_count bigint
    , unexpected_count bigint
    , unexpected_percent double
    , threshold_percent double
    , observed_value varchar
    , failing_sample varchar
)
"""


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, results: list[ExpectationResult]
) -> None:
    """Append results to audit.check_results, so quality teams see history, not just now."""
    con.execute(CHECK_RESULTS_DDL)
    con.executemany(
        "insert into audit.check_results values "
        "(?, now()::timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                run_id,
                r.expectation.table,
                r.expectation.name,
                r.expectation.type,
                r.expectation.tier,
                r.expectation.severity,
                r.status,
                r.element_count,
                r.unexpected_count,
                r.unexpected_percent,
                r.threshold_percent(),
                None if r.observed_value is None else str(r.observed_value),
                json.dumps(r.details["failing_sample"])
                if r.details.get("failing_sample")
                else None,
            ]
            for r in results
        ],
    )
