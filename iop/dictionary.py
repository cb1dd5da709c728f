"""The data dictionary of the marts: one column-doc sidecar `sql/marts/<mart>.yml` per mart.

A sidecar holds the mart's `description`, its `grain` and, under `columns:`, every output column
in output order with its DuckDB `type`, a `description` and optionally `unit` and `values` (a
mapping of code -> meaning, or a list of codes). From it this module

* writes DuckDB `COMMENT ON TABLE` / `COMMENT ON COLUMN` (`apply_comments`; the publication
  writes them into the published marts.duckdb, where BI tools and `duckdb_columns()` show them),
* gives Dagster `TableSchema`-ready column metadata (`column_metadata`, `table_schema`),
* renders docs/data_dictionary.md (`render_markdown`), regenerated and checked with

      python -m iop.dictionary --database PATH --out docs/data_dictionary.md [--check]

  where PATH is a built database (the working warehouse.duckdb or a published marts.duckdb):
  the sidecars are first checked against its `DESCRIBE` (names, order, types).

tests/test_dictionary.py keeps sidecars, built tables, published comments and the committed
markdown in step.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from iop import dbt_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MARKDOWN_PATH = PROJECT_ROOT / "docs" / "data_dictionary.md"
REGENERATE = "python -m iop.dictionary --database PATH --out docs/data_dictionary.md"


class DictionaryError(ValueError):
    """A sidecar is malformed, or does not match the table it documents."""


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    description: str
    unit: str | None = None
    values: tuple[tuple[str, str], ...] = ()

    @property
    def comment(self) -> str:
        """The full text: description, then unit and values, as one line."""
        parts = [_sentence(self.description)]
        if self.unit:
            parts.append(f"Unit: {self.unit}.")
        if self.values:
            listed = "; ".join(
                f"{code} = {meaning}" if meaning else code for code, meaning in self.values
            )
            parts.append(f"Values: {listed}.")
        return " ".join(parts)


@dataclass(frozen=True)
class MartDoc:
    name: str
    description: str
    grain: str
    columns: tuple[ColumnDoc, ...]
    path: Path | None = None

    @property
    def table(self) -> str:
        return f"marts.{self.name}"

    @property
    def comment(self) -> str:
        return f"{_sentence(self.description)} Grain: {_sentence(self.grain)}"

    def column(self, name: str) -> ColumnDoc:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


# The metadata table of every publication (written by iop.publish, documented here with the marts).
PUBLICATION_DOC = MartDoc(
    name="_publication",
    description=(
        "Metadata of the publication this file holds, one row per published mart: a reader checks "
        "that it sees a complete publication by comparing row_count with count(*) of each mart in "
        "the same connection."
    ),
    grain="One row per published mart table.",
    columns=(
        ColumnDoc("run_id", "VARCHAR", "Dagster run id of the run that published this file."),
        ColumnDoc("published_at", "TIMESTAMP", "When the publication was written (UTC)."),
        ColumnDoc(
            "table_name",
            "VARCHAR",
            "Name of a published mart table (in this file's default schema).",
        ),
        ColumnDoc("row_count", "BIGINT", "Number of rows published in that table.", unit="rows"),
    ),
)


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _text(value, where: str) -> str:
    if not isinstance(value, str | int | float) or not str(value).strip():
        raise DictionaryError(f"{where}: expected non-empty text, got {value!r}")
    return " ".join(str(value).split())


def _values(raw, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        return tuple((str(k), " ".join(str(v or "").split())) for k, v in raw.items())
    if isinstance(raw, list):
        return tuple((str(v), "") for v in raw)
    raise DictionaryError(f"{where}.values: expected a mapping or a list")


def from_node(node: Mapping) -> MartDoc:
    """A model's docs from its dbt manifest node (written in sql/<layer>/<model>.yml)."""
    where = node.get("patch_path") or node["original_file_path"]
    columns = []
    for column, spec in (node.get("columns") or {}).items():
        at = f"{where}: column {column}"
        meta = spec.get("meta") or {}
        columns.append(
            ColumnDoc(
                name=str(column),
                type=_text(spec.get("data_type"), f"{at}.data_type").upper(),
                description=_text(spec.get("description"), f"{at}.description"),
                unit=_text(meta["unit"], f"{at}.unit") if meta.get("unit") is not None else None,
                values=_values(meta.get("values"), at),
            )
        )
    if not columns:
        raise DictionaryError(f"{where}: `columns` must document every output column")
    meta = node.get("meta") or {}
    return MartDoc(
        name=node["alias"],
        description=_text(node.get("description"), f"{where}: description"),
        grain=_text(meta.get("grain"), f"{where}: meta.grain"),
        columns=tuple(columns),
        path=PROJECT_ROOT / str(where).removeprefix("iop://"),
    )


def load(mart: str) -> MartDoc:
    try:
        return from_node(dbt_project.model_node(f"marts.{mart}"))
    except KeyError:
        raise DictionaryError(f"no model builds marts.{mart}") from None


def load_all() -> dict[str, MartDoc]:
    """The docs of every mart model, by mart name (sorted)."""
    return {m.table_name: load(m.table_name) for m in dbt_project.models("marts")}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def apply_comments(con: duckdb.DuckDBPyConnection, table_sql_name: str, doc: MartDoc) -> list[str]:
    """COMMENT ON the table and each documented column that the table has.

    `table_sql_name` is the table as SQL names it (`marts.episodes`, `pub.main.episodes`).
    Returns the documented columns the table does not have (left uncommented): a publication is
    not failed over documentation, tests/test_dictionary.py fails instead.
    """
    present = {row[0] for row in con.execute(f"describe {table_sql_name}").fetchall()}
    con.execute(f"comment on table {table_sql_name} is {_literal(doc.comment)}")
    missing = []
    for column in doc.columns:
        if column.name not in present:
            missing.append(column.name)
            continue
        target = f"{table_sql_name}.{_quote(column.name)}"
        con.execute(f"comment on column {target} is {_literal(column.comment)}")
    return missing


def column_metadata(doc: MartDoc) -> list[dict[str, str]]:
    """[{name, type, description}] per column, ready for `dagster.TableColumn(**item)`."""
    return [{"name": c.name, "type": c.type, "description": c.comment} for c in doc.columns]


def table_schema(doc: MartDoc):
    """The mart's columns as a `dagster.TableSchema` (for `dagster/column_schema` metadata)."""
    from dagster import TableColumn, TableSchema

    return TableSchema(columns=[TableColumn(**item) for item in column_metadata(doc)])


def described_columns(con: duckdb.DuckDBPyConnection, mart: str) -> list[tuple[str, str]]:
    """(name, type) of a built mart, in order: `marts.<mart>` in a working database, or the
    default schema's `<mart>` in a published file."""
    for schema in ("marts", "main"):
        found = con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, mart],
        ).fetchone()[0]
        if found:
            return [
                (r[0], r[1]) for r in con.execute(f"describe {schema}.{_quote(mart)}").fetchall()
            ]
    raise DictionaryError(f"table {mart} not found in schema marts or main of the database")


def mismatches(doc: MartDoc, described: list[tuple[str, str]]) -> list[str]:
    """Differences between a sidecar and the built table: names, order and types."""
    problems = []
    documented = [c.name for c in doc.columns]
    actual = [name for name, _ in described]
    if documented != actual:
        missing = [c for c in actual if c not in documented]
        extra = [c for c in documented if c not in actual]
        problems.append(
            f"marts.{doc.name}: documented columns differ from the table"
            + (f"; undocumented: {missing}" if missing else "")
            + (f"; not in the table: {extra}" if extra else "")
            + ("; same columns, different order" if not missing and not extra else "")
        )
    types = dict(described)
    for column in doc.columns:
        if column.name in types and types[column.name].upper() != column.type:
            problems.append(
                f"marts.{doc.name}.{column.name}: sidecar type {column.type}, table type "
                f"{types[column.name]}"
            )
    return problems


def check_database(con: duckdb.DuckDBPyConnection, docs: Mapping[str, MartDoc]) -> list[str]:
    problems = []
    for name, doc in docs.items():
        try:
            problems += mismatches(doc, described_columns(con, name))
        except DictionaryError as error:
            problems.append(str(error))
    return problems


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown_values(values: tuple[tuple[str, str], ...]) -> str:
    return "; ".join(f"`{code}` {meaning}".strip() for code, meaning in values)


def _markdown_section(doc: MartDoc, heading: str) -> list[str]:
    lines = [
        f"## {heading}",
        "",
        _sentence(doc.description),
        "",
        f"**Grain:** {_sentence(doc.grain)}",
        "",
    ]
    if doc.path is not None:
        source = doc.path.relative_to(PROJECT_ROOT).with_suffix(".sql").as_posix()
        lines += [
            f"Model: `{source}`; column docs: `{doc.path.relative_to(PROJECT_ROOT).as_posix()}`.",
            "",
        ]
    lines += ["| column | type | description |", "|---|---|---|"]
    for column in doc.columns:
        text = _sentence(column.description)
        if column.unit:
            text += f" Unit: {column.unit}."
        if column.values:
            text += f" Values: {_markdown_values(column.values)}."
        lines.append(f"| `{column.name}` | {column.type} | {_cell(text)} |")
    lines.append("")
    return lines


def render_markdown(
    docs: Mapping[str, MartDoc] | None = None, *, database: str | Path | None = None
) -> str:
    """docs/data_dictionary.md: per mart its description, grain and column | type | description.

    With `database` (a built working or published database), the sidecars are first checked
    against its DESCRIBE (names, order and types) and a mismatch raises DictionaryError; the
    types rendered are then the same either way.
    """
    docs = load_all() if docs is None else docs
    if database is not None:
        con = duckdb.connect(str(database), read_only=True)
        try:
            problems = check_database(con, docs)
        finally:
            con.close()
        if problems:
            raise DictionaryError("sidecars do not match the database:\n  " + "\n  ".join(problems))
    lines = [
        "# Data dictionary: published marts",
        "",
        f"<!-- Generated from sql/marts/*.yml by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        "The marts BI tools read: tables of the published, read-only "
        "`$IOP_DATA_DIR/marts.duckdb` (a connection to that file queries `marts.<mart>`, the "
        "catalog being named after the file, or just `<mart>`) and the Parquet copies "
        "`$IOP_DATA_DIR/marts/<mart>.parquet`. Every description below is also a "
        "DuckDB comment in the published file (`select table_name, column_name, comment from "
        "duckdb_columns()`). Persons are keyed pseudonyms, dates are months, ages are bands; "
        "aggregate marts suppress cells of 1-10 persons.",
        "",
        *[f"- [marts.{name}](#marts{name})" for name in docs],
        "- [_publication](#_publication)",
        "",
    ]
    for name, doc in docs.items():
        lines += _markdown_section(doc, f"marts.{name}")
    lines += _markdown_section(PUBLICATION_DOC, "_publication")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iop.dictionary", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--database",
        type=Path,
        help="built warehouse.duckdb or published marts.duckdb to check against",
    )
    parser.add_argument("--out", type=Path, default=MARKDOWN_PATH, help="markdown file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if --out is not up to date"
    )
    args = parser.parse_args(argv)
    try:
        text = render_markdown(database=args.database)
    except DictionaryError as error:
        print(f"iop.dictionary: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"iop.dictionary: {args.out} is out of date; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"iop.dictionary: wrote {args.out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
