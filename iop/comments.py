"""The dbt models' docs as DuckDB comments in the working warehouse, written after each dbt build.

dbt's persist_docs writes them after every model it builds, in Jinja, every run: about 30 ms of
rendering a model, most of a second or two of an incremental run that builds some 70 small
models. The pipeline's builds set the dbt var `comments_after_build` instead (dbt's persist_docs
then writes nothing: sql/macros/docs.sql) and `persist` writes them here, after the build: one
query reads the comments the built relations carry and only those that differ are written (a
table rebuilt whole has none; a table refreshed by change scope keeps the ones of its first
build). The same text as dbt's: the model's description and each documented column's, for the
columns the relation has. A hand-run dbt (`dbt build --profiles-dir .`) persists them itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from iop.dictionary import sql_identifier, sql_literal

VAR = "comments_after_build"


def _current(con: duckdb.DuckDBPyConnection, schemas: set[str]) -> tuple[dict, dict]:
    """(schema, name) -> (kind, comment) of every table and view, and -> {column: comment}."""
    params = sorted(schemas)
    marks = ", ".join("?" for _ in params)
    relations = {
        (schema, name): (kind, comment)
        for schema, name, kind, comment in con.execute(
            f"select schema_name, table_name, 'table', comment from duckdb_tables() "
            f"where schema_name in ({marks}) union all "
            f"select schema_name, view_name, 'view', comment from duckdb_views() "
            f"where schema_name in ({marks}) and not internal",
            params + params,
        ).fetchall()
    }
    columns: dict[tuple[str, str], dict[str, str | None]] = {}
    for schema, name, column, comment in con.execute(
        f"select schema_name, table_name, column_name, comment from duckdb_columns() "
        f"where schema_name in ({marks})",
        params,
    ).fetchall():
        columns.setdefault((schema, name), {})[column] = comment
    return relations, columns


def statements(con: duckdb.DuckDBPyConnection, nodes: Iterable[dict]) -> list[str]:
    """The COMMENT statements that bring the built models' relations (manifest nodes) to their
    docs."""
    models = {
        (node["schema"], node["alias"]): node
        for node in nodes
        if node.get("resource_type") == "model"
    }
    if not models:
        return []
    relations, columns = _current(con, {schema for schema, _ in models})
    wanted = []
    for key, node in models.items():
        if key not in relations:
            continue
        kind, comment = relations[key]
        name = f"{sql_identifier(key[0])}.{sql_identifier(key[1])}"
        if node.get("description") and comment != node["description"]:
            wanted.append(f"comment on {kind} {name} is {sql_literal(node['description'])}")
        present = columns.get(key, {})
        for column, doc in node.get("columns", {}).items():
            description = doc.get("description")
            if description and column in present and present[column] != description:
                target = f"{name}.{sql_identifier(column)}"
                wanted.append(f"comment on column {target} is {sql_literal(description)}")
    return wanted


def persist(con: duckdb.DuckDBPyConnection, nodes: Iterable[dict]) -> int:
    """Write the built models' docs as comments where they differ, in one transaction; the
    number of statements written."""
    todo = statements(con, nodes)
    if todo:
        con.execute("begin")
        for statement in todo:
            con.execute(statement)
        con.execute("commit")
    return len(todo)
