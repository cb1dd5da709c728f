"""SQLAlchemy access to the published marts for BI tools (Superset, pandas.read_sql_table, ...).

SQLAlchemy reflects a DuckDB table through duckdb-engine, a dialect derived from SQLAlchemy's
PostgreSQL one that answers PostgreSQL's catalog queries from DuckDB's `pg_catalog` emulation.
From SQLAlchemy 2.0.45 (pinned here: 2.1.9) the column query also reads `pg_catalog.pg_collation`,
which DuckDB 2.0.1 does not emulate, and duckdb-engine 0.17.0 (the newest release on PyPI) does
not override that query: `inspect(engine).get_columns(...)` and `pandas.read_sql_table(...)` fail
with "Referenced table pg_catalog.pg_collation not found" (duckdb_engine issues #1379 and #1391,
DuckDB issue #22069; the duckdb-engine fix, PR #1393, is unreleased). `pg_catalog` is DuckDB's
system catalog, so no view shipped in marts.duckdb can fill the gap: the work-around lives in the
client. `install()` patches duckdb-engine's dialect class (not SQLAlchemy's PostgreSQL one):

* the column query asks for no collation (DuckDB columns have none that differs from their
  type's), as that PR does;
* with SQLAlchemy 2.1, the PostgreSQL dialect's own column reflection is used (duckdb-engine 0.17
  calls a helper with SQLAlchemy 2.0's arguments);
* the `::regclass` casts of the constraint queries (no such type in DuckDB, which has no
  constraint comments either) compile to NULL;
* table options (access method, tablespace, inheritance: pg_inherits) reflect as none.

`create_engine()` installs it and opens the published file read-only. Remove the module once a
duckdb-engine release reflects on its own: tests/test_bi_reflection.py then fails, saying so.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

_INSTALLED = False


def install() -> None:
    """Patch duckdb-engine's dialect so that column reflection works with SQLAlchemy >= 2.0.45.

    Idempotent; a no-op where the dialect's column query has no collation subquery."""
    global _INSTALLED
    if _INSTALLED:
        return
    from duckdb_engine import Dialect
    from sqlalchemy import null
    from sqlalchemy.dialects.postgresql.base import PGDialect
    from sqlalchemy.dialects.postgresql.types import REGCLASS

    original = getattr(Dialect, "_columns_query", None)
    if original is None:  # SQLAlchemy < 2.0: no such query, nothing to patch
        _INSTALLED = True
        return

    def _columns_query(self, *args: Any, **kwargs: Any):
        query = original(self, *args, **kwargs)
        columns = list(query.selected_columns)
        if not any(c.name == "collation" for c in columns):
            return query
        return query.with_only_columns(
            *[null().label("collation") if c.name == "collation" else c for c in columns]
        )

    Dialect._columns_query = _columns_query
    # duckdb-engine 0.17 also overrides get_multi_columns with SQLAlchemy 2.0's call of
    # _get_columns_info(rows, domains, enums, schema); SQLAlchemy 2.1 takes (rows, loader,
    # schema) and loads enums and domains only for a type it does not know. Its own method then
    # works as it is.
    if "named_type_loader" in inspect.signature(PGDialect._get_columns_info).parameters:
        Dialect.get_multi_columns = PGDialect.get_multi_columns

    # The constraint queries (primary key, unique, foreign keys: what MetaData.reflect and so
    # pandas.read_sql_table run) join constraint comments on `classoid = 'pg_constraint'::regclass`;
    # DuckDB has no REGCLASS type, nor constraint comments: the cast becomes NULL (no comment).
    # A subclass of the compiler, so the PostgreSQL dialect itself is left as it is.
    base = Dialect.statement_compiler

    class _Compiler(base):
        def visit_cast(self, cast, **kw):
            if isinstance(cast.type, REGCLASS):
                return "NULL"
            return super().visit_cast(cast, **kw)

    Dialect.statement_compiler = _Compiler

    # SQLAlchemy 2.1 reflects PostgreSQL table options (access method, tablespace, inherited
    # tables) from pg_inherits and pg_tablespace, which DuckDB does not emulate; DuckDB tables
    # have none of those options.
    if hasattr(PGDialect, "get_multi_table_options"):

        def get_multi_table_options(self, connection, schema, filter_names, scope, kind, **kw):
            return ()

        Dialect.get_multi_table_options = get_multi_table_options
    _INSTALLED = True


def create_engine(path: str | Path, **kwargs: Any):
    """A SQLAlchemy engine on a published marts.duckdb, read-only, with reflection working."""
    from sqlalchemy import create_engine as _create_engine

    install()
    connect_args = {"read_only": True, **kwargs.pop("connect_args", {})}
    return _create_engine(f"duckdb:///{Path(path)}", connect_args=connect_args, **kwargs)
