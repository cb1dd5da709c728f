"""Compare the tables of two DuckDB files, order-insensitively (a multiset of rows per table).

    differences = table_differences(left, right, schemas=("core", "marts"))
    assert not differences, differences

Used to show that an incremental build gives what a full rebuild gives. Rows are compared whole
with EXCEPT ALL both ways (NULLs equal, duplicates counted); floating-point columns are rounded
to `float_digits` decimals first (a sum taken in another order may differ in its last bits).
Tables that keep a history of runs (check history, publication log) can be left out with
`exclude_tables`, columns that record when or by which run a row was written with
`ignore_columns`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def _tables(con: duckdb.DuckDBPyConnection, alias: str, schemas: tuple[str, ...]) -> set:
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?",
        [alias],
    ).fetchall()
    return {(s, t) for s, t in rows if not schemas or s in schemas}


def _columns(con: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str) -> list:
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [alias, schema, table],
    ).fetchall()


def _select(alias: str, schema: str, table: str, columns: list, float_digits: int) -> str:
    def expression(name: str, data_type: str) -> str:
        quoted = '"' + name.replace('"', '""') + '"'
        if data_type.upper() in FLOAT_TYPES:
            return f"round({quoted}, {float_digits}) as {quoted}"
        return quoted

    listing = ", ".join(expression(n, t) for n, t in columns)
    return f'select {listing} from {alias}."{schema}"."{table}"'


def table_differences(
    left: Path,
    right: Path,
    *,
    schemas: tuple[str, ...] = (),
    exclude_tables: tuple[str, ...] = (),
    ignore_columns: tuple[str, ...] = (),
    float_digits: int = 9,
    types: bool = True,
) -> dict[str, str]:
    """{"schema.table": what differs} for every table of `schemas` (all when empty) of either
    file but `exclude_tables` ("schema.table"): missing on one side, different columns, or rows
    only on one side (counted both ways). Empty when the two files hold the same tables with the
    same rows. `types=False` compares column names only, not types (two engines' integer widths
    differ: DuckDB sums to HUGEINT, Spark to BIGINT)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{left}' as lhs (read_only)")
        con.execute(f"attach '{right}' as rhs (read_only)")
        ours, theirs = _tables(con, "lhs", schemas), _tables(con, "rhs", schemas)
        differences = {}
        for schema, table in sorted(ours | theirs):
            name = f"{schema}.{table}"
            if name in exclude_tables:
                continue
            if (schema, table) not in theirs or (schema, table) not in ours:
                side = "right" if (schema, table) in ours else "left"
                differences[name] = f"missing on the {side}"
                continue
            columns = [c for c in _columns(con, "lhs", schema, table) if c[0] not in ignore_columns]
            other = [c for c in _columns(con, "rhs", schema, table) if c[0] not in ignore_columns]
            if (columns if types else [c[0] for c in columns]) != (
                other if types else [c[0] for c in other]
            ):
                differences[name] = f"columns differ: {columns} vs {other}"
                continue
            a = _select("lhs", schema, table, columns, float_digits)
            b = _select("rhs", schema, table, other, float_digits)
            only_left = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
            only_right = con.execute(f"select count(*) from ({b} except all {a})").fetchone()[0]
            if only_left or only_right:
                differences[name] = f"rows only on the left {only_left}, on the right {only_right}"
        return differences
    finally:
        con.close()
