"""The data dictionary: every model of every layer has yml docs beside its SQL
(sql/<layer>/<model>.yml) that match the built warehouse; the docs reach the warehouse (dbt
persist_docs) and the published file as DuckDB comments and the Dagster assets as column schemas;
docs/data_dictionary.md is what `python -m iop.dictionary` renders."""

from __future__ import annotations

import duckdb
import pytest
import yaml
from conftest import TEST_KEY

from iop import dbt_project, dictionary
from iop.dictionary import REGENERATE, DictionaryError, ModelDoc

MODELS = [m.table for m in dbt_project.models()]
MARTS = sorted(m.table_name for m in dbt_project.models("marts"))


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every layer built and the marts published from a small generated dataset."""
    data_dir = tmp_path_factory.mktemp("dictionary") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=150, seed=1, start="2025-07-01", end="2025-12-31")
        assert run_full_refresh(log_level="WARNING").success
    return data_dir


@pytest.fixture(scope="module")
def docs() -> dict[str, ModelDoc]:
    return dictionary.load_layers()


def test_every_layer_has_models():
    for layer in dbt_project.LAYERS:
        assert dbt_project.models(layer), f"no {layer} models found"
    assert len(MODELS) == len(set(MODELS))


def test_every_model_has_yml_docs_beside_its_sql(docs):
    in_markdown_order = sorted(
        MODELS, key=lambda t: dictionary.MARKDOWN_LAYERS.index(t.split(".")[0])
    )
    assert list(docs) == in_markdown_order
    for model in dbt_project.models():
        layer_dir = dbt_project.SQL_DIR / model.layer
        assert model.path == layer_dir / f"{model.name}.sql", f"{model.table} outside its layer"
        yml = model.path.with_suffix(".yml")
        assert yml.exists(), f"{model.table}: no docs at {yml.relative_to(dbt_project.PROJECT_DIR)}"
        node = dbt_project.model_node(model.table)
        assert node["patch_path"] == f"iop://{yml.relative_to(dbt_project.PROJECT_DIR)}"
        doc = docs[model.table]
        assert doc.layer == model.layer and doc.name == model.table_name
        assert doc.path == yml
        assert len(doc.description.split()) >= 10, f"{model.table}: describe the model"
        assert len(doc.grain.split()) >= 4, f"{model.table}: state the grain"
        for column in doc.columns:
            assert column.type, f"{model.table}.{column.name}: data_type"
            assert len(column.description.split()) >= 3, f"{model.table}.{column.name}: describe it"


def test_every_mart_says_how_a_refresh_updates_it(docs):
    """Issue 9: each mart's docs say whether a refresh recomputes it by change scope or whole, and
    the markdown shows it; an incremental mart is one that says so. So do the intermediate models
    (families of marts computed once), built in the marts step."""
    for model in dbt_project.models("intermediate") + dbt_project.models("marts"):
        doc = docs[model.table]
        assert doc.refresh and len(doc.refresh.split()) >= 10, f"{model.table}: meta.refresh"
        by_scope = doc.refresh.startswith("By change scope")
        assert by_scope == (model.materialized == "incremental"), model.table
        assert by_scope or doc.refresh.startswith("Rebuilt whole every run"), model.table
    assert "**Refresh:** By change scope" in dictionary.render_markdown()


def test_every_model_yml_documents_the_model_beside_it():
    """Model docs live in <model>.yml next to <model>.sql, one model each (sources and unit tests
    have yml files of their own, without `models:`)."""
    for layer in dbt_project.LAYERS:
        names = {m.name for m in dbt_project.models(layer)}
        for yml in sorted((dbt_project.SQL_DIR / layer).glob("*.yml")):
            documented = [m["name"] for m in yaml.safe_load(yml.read_text()).get("models") or []]
            if documented:
                assert documented == [yml.stem], f"{yml}: documents {documented}"
                assert yml.stem in names, f"{yml}: no model {yml.stem}.sql in sql/{layer}"


@pytest.mark.parametrize("table", MODELS)
def test_documented_columns_are_the_built_columns(built, docs, table):
    con = duckdb.connect(str(built / "warehouse.duckdb"), read_only=True)
    try:
        described = [(r[0], r[1]) for r in con.execute(f"describe {table}").fetchall()]
    finally:
        con.close()
    doc = docs[table]
    assert [c.name for c in doc.columns] == [name for name, _ in described]  # names and order
    assert [c.type for c in doc.columns] == [kind for _, kind in described]
    assert dictionary.mismatches(doc, described) == []


@pytest.mark.parametrize("table", MODELS)
def test_warehouse_carries_the_docs_as_comments(built, docs, table):
    """dbt's persist_docs: COMMENT ON each model's table or view and on every column."""
    layer, name = table.split(".")
    con = duckdb.connect(str(built / "warehouse.duckdb"), read_only=True)
    try:
        relation_comment = con.execute(
            "select comment from duckdb_tables() where schema_name = ? and table_name = ? "
            "union all "
            "select comment from duckdb_views() where schema_name = ? and view_name = ?",
            [layer, name, layer, name],
        ).fetchall()
        comments = con.execute(
            "select column_name, comment from duckdb_columns() "
            "where schema_name = ? and table_name = ? order by column_index",
            [layer, name],
        ).fetchall()
    finally:
        con.close()
    doc = docs[table]
    assert len(relation_comment) == 1
    assert _words(relation_comment[0][0]) == doc.description
    assert [(column, _words(comment)) for column, comment in comments] == [
        (c.name, c.description) for c in doc.columns
    ]


@pytest.mark.parametrize("mart", MARTS)
def test_comments_are_in_the_published_file(built, docs, mart):
    con = duckdb.connect(str(built / "marts.duckdb"), read_only=True)
    try:
        table_comment = con.execute(
            "select comment from duckdb_tables() where schema_name = 'main' and table_name = ?",
            [mart],
        ).fetchone()[0]
        comments = con.execute(
            "select column_name, comment from duckdb_columns() "
            "where schema_name = 'main' and table_name = ? order by column_index",
            [mart],
        ).fetchall()
    finally:
        con.close()
    doc = docs[f"marts.{mart}"]
    assert dictionary.load(mart) == doc == dictionary.load_all()[mart]
    assert table_comment == doc.comment
    assert comments == [(c.name, c.comment) for c in doc.columns]
    assert all(comment and comment.strip() for _, comment in comments)


def test_publication_table_is_documented_in_the_published_file(built):
    con = duckdb.connect(str(built / "marts.duckdb"), read_only=True)
    try:
        comments = con.execute(
            "select column_name, comment from duckdb_columns() where table_name = '_publication' "
            "order by column_index"
        ).fetchall()
    finally:
        con.close()
    assert comments == [(c.name, c.comment) for c in dictionary.PUBLICATION_DOC.columns]


def test_dagster_assets_carry_the_column_schemas(docs, monkeypatch):
    """dagster-dbt turns each model's documented columns into its `dagster/column_schema`."""
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)  # the code location checks the key on load
    from dagster import AssetKey, TableSchema

    from pipelines.definitions import defs

    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for table in ("core.episodes", "staging.attendance_vendor_a", *MODELS):
        spec = specs[AssetKey(table.split("."))]
        schema = spec.metadata.get("dagster/column_schema")
        assert isinstance(schema, TableSchema), f"{table}: no column schema"
        assert [(c.name, c.type.upper(), _words(c.description)) for c in schema.columns] == [
            (c.name, c.type, c.description) for c in docs[table].columns
        ], table


def test_committed_markdown_is_up_to_date(built, docs):
    expected = dictionary.render_markdown(database=built / "warehouse.duckdb")
    assert dictionary.render_markdown(database=built / "marts.duckdb") == expected
    assert dictionary.render_markdown() == expected
    current = dictionary.MARKDOWN_PATH.read_text() if dictionary.MARKDOWN_PATH.exists() else ""
    assert current == expected, f"docs/data_dictionary.md is stale: run `{REGENERATE}`"
    positions = [expected.index(f"\n### {table}\n") for table in docs]  # every model, once
    assert positions == sorted(positions)
    layers = ("marts", "intermediate", "core", "audit", "staging")
    titles = [dictionary.LAYER_INTROS[layer][0] for layer in layers]
    sections = [expected.index(f"\n## {title}\n") for title in titles]
    assert sections == sorted(sections)
    assert "\n### _publication\n" in expected


def test_cli_checks_the_markdown_against_a_database(built, tmp_path):
    for database in (str(built / "marts.duckdb"), str(built / "warehouse.duckdb")):
        assert dictionary.main(["--database", database, "--check"]) == 0
    database = str(built / "warehouse.duckdb")
    out = tmp_path / "dd.md"
    assert dictionary.main(["--database", database, "--out", str(out)]) == 0
    assert out.read_text() == dictionary.MARKDOWN_PATH.read_text()
    out.write_text("stale\n")
    assert dictionary.main(["--database", database, "--out", str(out), "--check"]) == 1


def _create(con: duckdb.DuckDBPyConnection, doc: ModelDoc, schema: str) -> None:
    columns = ", ".join(f'null::{c.type} as "{c.name}"' for c in doc.columns)
    con.execute(f"create table {schema}.{doc.name} as select {columns}")


def test_render_refuses_a_database_that_differs_from_the_docs(tmp_path, docs):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    for layer in dbt_project.LAYERS:
        con.execute(f"create schema {layer}")
    for doc in docs.values():
        _create(con, doc, doc.layer)
    con.execute("alter table marts.episodes drop column payer")
    con.execute("alter table marts.episodes add column zip varchar")
    con.execute("alter table marts.length_of_stay_by_level alter column persons type integer")
    con.execute("alter table core.persons drop column sex")
    con.execute("drop table staging.roster")
    con.close()
    with pytest.raises(DictionaryError) as error:
        dictionary.render_markdown(database=path)
    message = str(error.value)
    assert "undocumented: ['zip']" in message and "not in the table: ['payer']" in message
    assert (
        "marts.length_of_stay_by_level.persons: documented type BIGINT, table type INTEGER"
        in message
    )
    assert "core.persons: documented columns differ from the table; not in the table: ['sex']" in (
        message
    )
    assert "table roster not found in schema staging" in message


def test_a_published_file_is_checked_for_the_marts_only(tmp_path, docs):
    path = tmp_path / "marts.duckdb"
    con = duckdb.connect(str(path))
    for doc in [d for d in docs.values() if d.layer == "marts"] + [dictionary.PUBLICATION_DOC]:
        _create(con, doc, "main")
    con.close()
    assert dictionary.check(path, docs) == []
    con = duckdb.connect(str(path))
    con.execute("alter table main.episodes drop column payer")
    con.close()
    assert dictionary.check(path, docs) == [
        "marts.episodes: documented columns differ from the table; not in the table: ['payer']"
    ]


def _node(**changes) -> dict:
    """A manifest node as dbt writes it for sql/marts/marts__t.sql with sql/marts/marts__t.yml."""
    node = {
        "name": "marts__t",
        "alias": "t",
        "schema": "marts",
        "original_file_path": "sql/marts/marts__t.sql",
        "patch_path": "iop://sql/marts/marts__t.yml",
        "config": {"materialized": "table", "meta": {"grain": "One row per thing"}},
        "description": "A mart's doc",
        "meta": {"grain": "One row per thing"},
        "columns": {
            "a": {
                "data_type": "integer",
                "description": 'It\'s "a"',
                "meta": {"unit": "days"},
            },
            "b": {"data_type": "varchar", "description": "Code", "meta": {"values": {"x": "ex"}}},
            "gone": {"data_type": "varchar", "description": "Not built", "meta": {}},
        },
    }
    node.update(changes)
    return node


def test_from_node_reads_the_docs_of_a_manifest_node():
    doc = dictionary.from_node(_node())
    assert (doc.table, doc.materialized) == ("marts.t", "table")
    assert doc.path == dictionary.PROJECT_ROOT / "sql" / "marts" / "marts__t.yml"
    assert [(c.name, c.type, c.unit, c.values) for c in doc.columns] == [
        ("a", "INTEGER", "days", ()),
        ("b", "VARCHAR", None, (("x", "ex"),)),
        ("gone", "VARCHAR", None, ()),
    ]
    c = {"data_type": "int", "description": "C", "meta": {"values": ["p", "q"]}}
    listed = dictionary.from_node(_node(columns={"c": c}))
    assert listed.column("c").comment == "C. Values: p; q."
    # dbt may keep a model's meta under its config only
    assert dictionary.from_node(_node(meta={})).grain == "One row per thing"


def test_apply_comments_quotes_text_and_skips_absent_columns():
    doc = dictionary.from_node(_node())
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.t (a integer, b varchar)")
    assert dictionary.apply_comments(con, "marts.t", doc) == ["gone"]
    assert con.execute("select comment from duckdb_tables() where table_name = 't'").fetchone() == (
        "A mart's doc. Grain: One row per thing.",
    )
    assert con.execute(
        "select column_name, comment from duckdb_columns() where table_name = 't' "
        "order by column_index"
    ).fetchall() == [("a", 'It\'s "a". Unit: days.'), ("b", "Code. Values: x = ex.")]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"patch_path": None}, "no yml docs"),
        ({"description": ""}, "description"),
        ({"meta": {}, "config": {"meta": {}}}, "meta.grain"),
        ({"columns": {}}, "columns"),
        ({"columns": {"a": {"description": "x"}}}, "a.data_type"),
        ({"columns": {"a": {"data_type": "int"}}}, "a.description"),
        ({"columns": {"a": {"data_type": "int", "description": " "}}}, "a.description"),
        (
            {"columns": {"a": {"data_type": "int", "description": "d", "meta": {"values": 3}}}},
            "a.values",
        ),
    ],
)
def test_malformed_docs_are_refused(changes, message):
    with pytest.raises(DictionaryError, match=message):
        dictionary.from_node(_node(**changes))


def test_column_metadata_builds_a_dagster_table_schema(docs):
    from dagster import TableSchema

    for doc in docs.values():
        metadata = dictionary.column_metadata(doc)
        assert [m["name"] for m in metadata] == [c.name for c in doc.columns]
        assert all(set(m) == {"name", "type", "description"} and m["description"] for m in metadata)
        schema = dictionary.table_schema(doc)
        assert isinstance(schema, TableSchema)
        assert [c.name for c in schema.columns] == [c.name for c in doc.columns]


def test_model_doc_lookup(docs):
    doc = docs["marts.episodes"]
    assert doc.column("teds_los").values[-1] == ("37", "more than a year")
    assert docs["core.episodes"].column("length_of_stay").unit == "days"
    with pytest.raises(KeyError):
        doc.column("no_such_column")
    with pytest.raises(DictionaryError, match="no model builds core.nothing"):
        dictionary.load("core.nothing")
