"""The data dictionary (sql/marts/<mart>.yml) matches the built marts, reaches the published file
as DuckDB comments, and docs/data_dictionary.md is what `python -m iop.dictionary` renders."""

from __future__ import annotations

import duckdb
import pytest
from conftest import TEST_KEY

from iop import dictionary
from iop.dictionary import REGENERATE, DictionaryError, MartDoc
from iop.models import discover

MARTS = sorted(m.name for m in discover().values() if m.layer == "marts")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Marts built and published from a small generated dataset."""
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
def docs():
    return dictionary.load_all()


def test_every_mart_has_a_sidecar_and_every_sidecar_a_mart(docs):
    assert MARTS, "no mart models found"
    assert sorted(docs) == MARTS


@pytest.mark.parametrize("mart", MARTS)
def test_documented_columns_are_the_built_columns(built, docs, mart):
    con = duckdb.connect(str(built / "warehouse.duckdb"), read_only=True)
    try:
        described = [(r[0], r[1]) for r in con.execute(f"describe marts.{mart}").fetchall()]
    finally:
        con.close()
    doc = docs[mart]
    assert [c.name for c in doc.columns] == [name for name, _ in described]  # names and order
    assert [c.type for c in doc.columns] == [kind for _, kind in described]
    assert dictionary.mismatches(doc, described) == []
    assert doc.description and doc.grain
    for column in doc.columns:
        assert len(column.description.split()) >= 3, f"{mart}.{column.name}: describe it"


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
    doc = docs[mart]
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


def test_committed_markdown_is_up_to_date(built):
    expected = dictionary.render_markdown(database=built / "marts.duckdb")
    assert dictionary.render_markdown(database=built / "warehouse.duckdb") == expected
    assert dictionary.render_markdown() == expected  # sidecar types agree with DESCRIBE
    current = dictionary.MARKDOWN_PATH.read_text() if dictionary.MARKDOWN_PATH.exists() else ""
    assert current == expected, f"docs/data_dictionary.md is stale: run `{REGENERATE}`"
    for mart in MARTS:
        assert f"## marts.{mart}\n" in expected


def test_cli_checks_the_markdown_against_a_database(built, tmp_path, capsys):
    database = str(built / "marts.duckdb")
    assert dictionary.main(["--database", database, "--check"]) == 0
    out = tmp_path / "dd.md"
    assert dictionary.main(["--database", database, "--out", str(out)]) == 0
    assert out.read_text() == dictionary.MARKDOWN_PATH.read_text()
    out.write_text("stale\n")
    assert dictionary.main(["--database", database, "--out", str(out), "--check"]) == 1


def test_render_refuses_a_database_that_differs_from_the_sidecars(tmp_path, docs):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    for mart, doc in docs.items():
        columns = ", ".join(f"null::{c.type} as {c.name}" for c in doc.columns)
        con.execute(f"create table marts.{mart} as select {columns}")
    con.execute("alter table marts.episodes drop column payer")
    con.execute("alter table marts.episodes add column zip varchar")
    con.execute("alter table marts.length_of_stay alter column persons type integer")
    con.close()
    with pytest.raises(DictionaryError) as error:
        dictionary.render_markdown(database=path)
    message = str(error.value)
    assert "undocumented: ['zip']" in message and "not in the table: ['payer']" in message
    assert "length_of_stay.persons: sidecar type BIGINT, table type INTEGER" in message


def test_apply_comments_quotes_text_and_skips_absent_columns():
    doc = dictionary.parse(
        {
            "description": "A mart's doc",
            "grain": "One row per thing",
            "columns": {
                "a": {"type": "integer", "description": 'It\'s "a"', "unit": "days"},
                "b": {"type": "varchar", "description": "Code", "values": {"x": "ex", "y": ""}},
                "gone": {"type": "varchar", "description": "Not built"},
            },
        },
        "t",
    )
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
    ).fetchall() == [("a", 'It\'s "a". Unit: days.'), ("b", "Code. Values: x = ex; y.")]


@pytest.mark.parametrize(
    "document, message",
    [
        ({"grain": "g", "columns": {"a": {"type": "int", "description": "d"}}}, "description"),
        ({"description": "d", "grain": "g", "columns": {}}, "columns"),
        ({"description": "d", "grain": "g", "columns": {"a": {"type": "int"}}}, "a.description"),
        ({"description": "d", "grain": "g", "columns": {"a": {"description": "x"}}}, "a.type"),
        (
            {
                "description": "d",
                "grain": "g",
                "columns": {"a": {"type": "int", "description": " "}},
            },
            "a.description",
        ),
        ({"description": "d", "grain": "g", "colums": {}}, "unknown keys"),
    ],
)
def test_malformed_sidecars_are_refused(document, message):
    with pytest.raises(DictionaryError, match=message):
        dictionary.parse(document, "t")


def test_column_metadata_builds_a_dagster_table_schema(docs):
    from dagster import TableSchema

    for doc in docs.values():
        metadata = dictionary.column_metadata(doc)
        assert [m["name"] for m in metadata] == [c.name for c in doc.columns]
        assert all(set(m) == {"name", "type", "description"} and m["description"] for m in metadata)
        schema = dictionary.table_schema(doc)
        assert isinstance(schema, TableSchema)
        assert [c.name for c in schema.columns] == [c.name for c in doc.columns]


def test_mart_doc_lookup(docs):
    doc: MartDoc = docs["episodes"]
    assert doc.column("teds_los").values[-1] == ("37", "more than a year")
    with pytest.raises(KeyError):
        doc.column("no_such_column")
