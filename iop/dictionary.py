"""The data dictionary: the docs of every dbt model, in every layer, as the manifest holds them.

Each model `sql/<layer>/<model>.sql` has its docs beside it in `sql/<layer>/<model>.yml` (dbt
properties): the model's `description`, `meta.grain` and, under `columns:`, every output column in
output order with its DuckDB `data_type`, a `description` and optionally `meta.unit` and
`meta.values` (a mapping of code -> meaning, or a list of codes). dbt reads them into the manifest
(iop.dbt_project), and from there they reach

* the working warehouse as DuckDB comments: dbt's `persist_docs` (dbt_project.yml) writes
  `COMMENT ON` each model's table or view and its columns (the descriptions);
* the Dagster asset of each model as its `dagster/column_schema` (dagster-dbt reads the manifest);
* the published marts.duckdb as DuckDB comments, through this module (`apply_comments`: the
  description with the grain, each column with its unit and values), where BI tools and
  `duckdb_columns()` show them;
* docs/data_dictionary.md (`render_markdown`: marts, then intermediate, core, audit and
  staging), regenerated and checked with

      python -m iop.dictionary --database PATH --out docs/data_dictionary.md [--check]

  where PATH is a built database: the working warehouse.duckdb (every layer is checked against
  its `DESCRIBE`: names, order, types) or a published marts.duckdb (the marts are);
* dbt's static docs site with the lineage graph (`make docs`).

tests/test_dictionary.py keeps the docs, the built tables, the comments, the Dagster column
schemas and the committed markdown in step.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from iop import dbt_project
from iop.warehouse import has_table

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MARKDOWN_PATH = PROJECT_ROOT / "docs" / "data_dictionary.md"
REGENERATE = "python -m iop.dictionary --database PATH --out docs/data_dictionary.md"
# The order of docs/data_dictionary.md: what readers use first, then what it is built from.
MARKDOWN_LAYERS = ("marts", "intermediate", "core", "audit", "staging")

LAYER_INTROS = {
    "marts": (
        "Marts (published)",
        "The tables BI tools read: tables of the published, read-only "
        "`$IOP_DATA_DIR/marts.duckdb` (a connection to that file queries `marts.<mart>`, the "
        "catalog being named after the file, or just `<mart>`) and the Parquet copies "
        "`$IOP_DATA_DIR/marts/<mart>.parquet`. Every description below is also a DuckDB comment "
        "in the published file (`select table_name, column_name, comment from duckdb_columns()`), "
        "with the grain, units and values. Persons are keyed pseudonyms, dates are months, ages "
        "are bands; aggregate marts suppress cells of 1-10 persons. Each table has one grain "
        "(its unique key below). Every coded column (level of care, TEDS-D codes, demographics, "
        "reasons, statuses) has its display label beside it as `<column>_label`; a null measure "
        "says why it is null: `suppressed` (the row), `<measure>_suppressed` (the measure alone, "
        "small-cell rule) or `<measure>_not_applicable` (e.g. a rate with a denominator of 0).",
    ),
    "intermediate": (
        "Intermediate",
        "Families of marts computed once, in the working warehouse (schema `intermediate`, built "
        "in the marts step before the marts that read it): marts whose small-cell rule's lines "
        "cross each other (e.g. the five `length_of_stay_by_*` marts) are computed and suppressed "
        "together in one table, and each of those marts selects its own rows from it. Aggregates "
        "with the marts' suppression already applied; never published (read the marts).",
    ),
    "core": (
        "Core",
        "The conformed model the marts are computed from, in the working warehouse "
        "(`$IOP_DATA_DIR/warehouse.duckdb`, schema `core`): persons, sessions, census admissions, "
        "resolved claim lines, care spans, episodes and transitions. Holds identifying data "
        "(internal person ids, names, birth dates, exact dates): never published.",
    ),
    "audit": (
        "Audit",
        "What happened to every landed file and every rejected row (schema `audit` of the "
        "working warehouse): nothing delivered is dropped silently.",
    ),
    "staging": (
        "Staging",
        "Source rows typed and mapped to canonical codes (schema `staging` of the working "
        "warehouse, read from the raw layer described in `sql/staging/sources.yml`): one table "
        "per source layout with every delivered row and the hard rule a rejected row breaks, and "
        "one view per feed over the accepted rows in the canonical contract. Identifying.",
    ),
}


class DictionaryError(ValueError):
    """A model's docs are malformed, or do not match the table they document."""


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    description: str
    unit: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    # The code set of a coded column's labels (meta.labels); a coded column (meta.values or
    # meta.labels) is published with a `<name>_label` column beside it.
    labels: str | None = None

    @property
    def coded(self) -> bool:
        return bool(self.values or self.labels)

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
class ModelDoc:
    """The docs of one model (or of the publication's metadata table): `layer.name`."""

    name: str
    description: str
    grain: str
    columns: tuple[ColumnDoc, ...]
    path: Path | None = None
    layer: str = "marts"
    materialized: str | None = None
    # The columns that identify a row (meta.unique_key): one grain per table.
    unique_key: tuple[str, ...] = ()
    # How a refresh updates the table (meta.refresh): every mart says, and why.
    refresh: str | None = None

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def comment(self) -> str:
        return f"{_sentence(self.description)} Grain: {_sentence(self.grain)}"

    def column(self, name: str) -> ColumnDoc:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


# The publication (iop.publish) knows the docs of a mart by this name.
MartDoc = ModelDoc

# The metadata table of every publication (written by iop.publish, documented here with the marts).
PUBLICATION_DOC = ModelDoc(
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
    layer="main",
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


def _meta(spec: Mapping) -> Mapping:
    # dbt keeps `meta` at the top of a node and under its config; either may be the one filled.
    return spec.get("meta") or (spec.get("config") or {}).get("meta") or {}


def from_node(node: Mapping) -> ModelDoc:
    """A model's docs from its dbt manifest node (written in sql/<layer>/<model>.yml)."""
    where = node.get("patch_path") or node.get("original_file_path") or node.get("name", "?")
    if not node.get("patch_path"):
        raise DictionaryError(f"{where}: no yml docs beside the model (sql/<layer>/<model>.yml)")
    columns = []
    for column, spec in (node.get("columns") or {}).items():
        at = f"{where}: column {column}"
        meta = _meta(spec)
        columns.append(
            ColumnDoc(
                name=str(column),
                type=_text(spec.get("data_type"), f"{at}.data_type").upper(),
                description=_text(spec.get("description"), f"{at}.description"),
                unit=_text(meta["unit"], f"{at}.unit") if meta.get("unit") is not None else None,
                values=_values(meta.get("values"), at),
                labels=_text(meta["labels"], f"{at}.labels") if meta.get("labels") else None,
            )
        )
    if not columns:
        raise DictionaryError(f"{where}: `columns` must document every output column")
    return ModelDoc(
        name=node["alias"],
        description=_text(node.get("description"), f"{where}: description"),
        grain=_text(_meta(node).get("grain"), f"{where}: meta.grain"),
        columns=tuple(columns),
        path=PROJECT_ROOT / str(where).removeprefix("iop://"),
        layer=node["schema"],
        materialized=(node.get("config") or {}).get("materialized"),
        unique_key=tuple(str(c) for c in _meta(node).get("unique_key") or ()),
        refresh=_text(_meta(node)["refresh"], f"{where}: meta.refresh")
        if _meta(node).get("refresh")
        else None,
    )


def load(table: str) -> ModelDoc:
    """The docs of `layer.table` (a bare name is a mart: `episodes` = `marts.episodes`)."""
    table = table if "." in table else f"marts.{table}"
    try:
        node = dbt_project.model_node(table)
    except KeyError:
        raise DictionaryError(f"no model builds {table}") from None
    return from_node(node)


def load_all(layer: str = "marts") -> dict[str, ModelDoc]:
    """The docs of every model of one layer, by table name (sorted)."""
    return {m.table_name: load(m.table) for m in dbt_project.models(layer)}


def load_layers(layers: Iterable[str] = MARKDOWN_LAYERS) -> dict[str, ModelDoc]:
    """The docs of every model of the given layers, by `layer.table`, layer by layer."""
    return {m.table: load(m.table) for layer in layers for m in dbt_project.models(layer)}


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def apply_comments(con: duckdb.DuckDBPyConnection, table_sql_name: str, doc: ModelDoc) -> list[str]:
    """COMMENT ON the table and each documented column that the table has.

    `table_sql_name` is the table as SQL names it (`marts.episodes`, `pub.main.episodes`).
    Returns the documented columns the table does not have (left uncommented): a publication is
    not failed over documentation, tests/test_dictionary.py fails instead.
    """
    present = {row[0] for row in con.execute(f"describe {table_sql_name}").fetchall()}
    con.execute(f"comment on table {table_sql_name} is {sql_literal(doc.comment)}")
    missing = []
    for column in doc.columns:
        if column.name not in present:
            missing.append(column.name)
            continue
        target = f"{table_sql_name}.{sql_identifier(column.name)}"
        con.execute(f"comment on column {target} is {sql_literal(column.comment)}")
    return missing


def column_metadata(doc: ModelDoc) -> list[dict[str, str]]:
    """[{name, type, description}] per column, ready for `dagster.TableColumn(**item)`."""
    return [{"name": c.name, "type": c.type, "description": c.comment} for c in doc.columns]


def table_schema(doc: ModelDoc):
    """The model's columns as a `dagster.TableSchema` (for `dagster/column_schema` metadata)."""
    from dagster import TableColumn, TableSchema

    return TableSchema(columns=[TableColumn(**item) for item in column_metadata(doc)])


def is_publication(con: duckdb.DuckDBPyConnection) -> bool:
    """A published marts.duckdb (marts in its default schema, with `_publication`)."""
    return has_table(con, f"main.{PUBLICATION_DOC.name}")


def described_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, type) of a built model, in order: `layer.table` in a working database; a mart (a
    bare name or `marts.<mart>`) also as the default schema's `<mart>` of a published file."""
    layer, name = table.split(".") if "." in table else ("marts", table)
    for schema in (layer, "main") if layer == "marts" else (layer,):
        if has_table(con, f"{schema}.{name}", or_view=True):  # staging unions are views
            described = con.execute(f"describe {schema}.{sql_identifier(name)}").fetchall()
            return [(r[0], r[1]) for r in described]
    where = "schema marts or main" if layer == "marts" else f"schema {layer}"
    raise DictionaryError(f"table {name} not found in {where} of the database")


def mismatches(doc: ModelDoc, described: list[tuple[str, str]]) -> list[str]:
    """Differences between a model's docs and the built table: names, order and types."""
    problems = []
    documented = [c.name for c in doc.columns]
    actual = [name for name, _ in described]
    if documented != actual:
        missing = [c for c in actual if c not in documented]
        extra = [c for c in documented if c not in actual]
        problems.append(
            f"{doc.table}: documented columns differ from the table"
            + (f"; undocumented: {missing}" if missing else "")
            + (f"; not in the table: {extra}" if extra else "")
            + ("; same columns, different order" if not missing and not extra else "")
        )
    types = dict(described)
    for column in doc.columns:
        if column.name in types and types[column.name].upper() != column.type:
            problems.append(
                f"{doc.table}.{column.name}: documented type {column.type}, table type "
                f"{types[column.name]}"
            )
    return problems


def check_database(con: duckdb.DuckDBPyConnection, docs: Iterable[ModelDoc]) -> list[str]:
    problems = []
    for doc in docs:
        try:
            problems += mismatches(doc, described_columns(con, doc.table))
        except DictionaryError as error:
            problems.append(str(error))
    return problems


def check(database: str | Path, docs: Mapping[str, ModelDoc] | None = None) -> list[str]:
    """Check docs against a built database: in a published file the marts, in a working
    warehouse every documented model."""
    docs = load_layers() if docs is None else docs
    con = duckdb.connect(str(database), read_only=True)
    try:
        published = is_publication(con)
        checked = [d for d in docs.values() if d.layer == "marts" or not published]
        return check_database(con, checked)
    finally:
        con.close()


def _md(text: str) -> str:
    # `<feed>/<file name>` would read as an HTML tag and vanish from the rendered page.
    return re.sub(r"<(?=[A-Za-z/])", "&lt;", " ".join(text.split()))


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _markdown_values(values: tuple[tuple[str, str], ...]) -> str:
    return "; ".join(f"`{code}` {meaning}".strip() for code, meaning in values)


def _anchor(heading: str) -> str:
    # GitHub's heading ids: lower case, punctuation other than - and _ dropped, spaces to -.
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _markdown_section(doc: ModelDoc, heading: str) -> list[str]:
    lines = [
        f"### {heading}",
        "",
        _md(_sentence(doc.description)),
        "",
        f"**Grain:** {_md(_sentence(doc.grain))}",
        "",
    ]
    if doc.unique_key:
        lines += [f"**Unique key:** {', '.join(f'`{c}`' for c in doc.unique_key)}.", ""]
    if doc.refresh:
        lines += [f"**Refresh:** {_md(_sentence(doc.refresh))}", ""]
    if doc.path is not None:
        source = doc.path.relative_to(PROJECT_ROOT).with_suffix(".sql").as_posix()
        kind = f" ({doc.materialized})" if doc.materialized else ""
        lines += [
            f"Model: `{source}`{kind}; docs: `{doc.path.relative_to(PROJECT_ROOT).as_posix()}`.",
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
    docs: Mapping[str, ModelDoc] | None = None, *, database: str | Path | None = None
) -> str:
    """docs/data_dictionary.md: per layer (marts, intermediate, core, audit, staging) and model its
    description, grain and column | type | description.

    `docs` are keyed by `layer.table` (default: every model, `load_layers()`). With `database`
    (a built working warehouse or published marts file) the docs are first checked against its
    DESCRIBE (names, order and types; see `check`) and a mismatch raises DictionaryError; the
    text rendered is the same either way.
    """
    docs = load_layers() if docs is None else docs
    if database is not None and (problems := check(database, docs)):
        raise DictionaryError("the docs do not match the database:\n  " + "\n  ".join(problems))
    by_layer = {layer: [d for d in docs.values() if d.layer == layer] for layer in MARKDOWN_LAYERS}
    lines = [
        "# Data dictionary",
        "",
        f"<!-- Generated from the models' docs (sql/<layer>/<model>.yml, through the dbt "
        f"manifest) by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        "Every model of the dbt project in `sql/`, layer by layer: its description, grain and "
        "every column in output order with its DuckDB type. The same docs are DuckDB comments in "
        "the working warehouse (dbt `persist_docs`) and in the published marts file, the column "
        "schemas of the Dagster assets, and dbt's docs site with the lineage graph (`make docs`, "
        "under `$IOP_DATA_DIR/docs/`).",
        "",
    ]
    for layer, layer_docs in by_layer.items():
        title = LAYER_INTROS[layer][0]
        lines.append(f"- [{title}](#{_anchor(title)})")
        lines += [f"  - [{d.table}](#{_anchor(d.table)})" for d in layer_docs]
        if layer == "marts":
            lines.append(f"  - [{PUBLICATION_DOC.name}](#{_anchor(PUBLICATION_DOC.name)})")
    lines.append("")
    for layer, layer_docs in by_layer.items():
        title, intro = LAYER_INTROS[layer]
        lines += [f"## {title}", "", intro, ""]
        for doc in layer_docs:
            lines += _markdown_section(doc, doc.table)
        if layer == "marts":
            lines += _markdown_section(PUBLICATION_DOC, PUBLICATION_DOC.name)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iop.dictionary",
        description="Render (or --check) docs/data_dictionary.md from the dbt models' yml docs.",
    )
    parser.add_argument(
        "--database",
        type=Path,
        help="built warehouse.duckdb (every layer) or published marts.duckdb (the marts) to check "
        "the docs against",
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
