"""Publication by change (iop/publication_delta.py), on a hand-built working database.

Each test publishes, changes the working marts, notes (or fails to note) the change as the marts'
hooks do, and publishes again: the published file and Parquet copies must hold exactly the
working marts every time, written by change only where that is provably safe, whole otherwise.
"""

from __future__ import annotations

import duckdb
import pytest

from iop import publication_delta, publish, warehouse
from iop.settings import IopSettings

SCOPED = "episodes"  # a mart the marts step refreshes by person key (sql/marts/marts__episodes.sql)
SCOPED_TOO = "reconciliation_person_day"
WHOLE = "length_of_stay_by_level"  # a mart every marts step builds whole


@pytest.fixture
def working(tmp_path):
    settings = IopSettings(data_dir=str(tmp_path))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema marts")
    con.execute("create schema audit")
    con.execute("create table audit.mart_changes (mart varchar, person_key varchar)")
    con.execute(
        f"create table marts.{SCOPED} as select 'p' || (i % 50) as person_key, i as episode, "
        "i * 1.5 as amount from range(200) as t(i)"
    )
    con.execute(
        f"create table marts.{SCOPED_TOO} as select 'p' || (i % 50) as person_key, "
        "date '2025-01-01' + i::integer as service_date from range(300) as t(i)"
    )
    con.execute(f"create table marts.{WHOLE} as select 'IOP' as level_of_care, 12 as median_days")
    yield settings, con
    con.close()


def _publish(settings, con, run_id: str) -> str:
    return publish.publish_marts(con, settings, run_id)["written"]


def _change(con, table: str, person_key: str, note: bool = True) -> None:
    """Recompute one person's rows, as a refresh by scope does (and its hook's note)."""
    con.execute(f"delete from marts.{table} where person_key = ?", [person_key])
    if table == SCOPED:
        con.execute(
            f"insert into marts.{table} values (?, 1000, 7.25), (?, 1001, 8.5)", [person_key] * 2
        )
    else:
        con.execute(f"insert into marts.{table} values (?, date '2026-01-01')", [person_key])
    if note:
        con.execute("insert into audit.mart_changes values (?, ?)", [table, person_key])


def _assert_published_is_working(settings, con) -> None:
    published = duckdb.connect(str(settings.marts_path), read_only=True)
    try:
        for table in (SCOPED, SCOPED_TOO, WHOLE):
            working_rows = con.execute(f"select * from marts.{table} order by all").fetchall()
            assert (
                published.execute(f"select * from {table} order by all").fetchall() == working_rows
            )
            parquet = settings.marts_parquet_dir / f"{table}.parquet"
            assert con.execute(f"select * from '{parquet}' order by all").fetchall() == working_rows
        run_ids = published.execute("select distinct run_id from _publication").fetchall()
        assert len(run_ids) == 1
        # the data dictionary's table comments, also on tables a publication by change refilled
        comments = published.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'main'"
        ).fetchall()
        assert all(comment for _, comment in comments), comments
    finally:
        published.close()


def test_a_noted_change_is_published_by_change(working):
    settings, con = working
    assert _publish(settings, con, "r1") == "whole: nothing is published yet"
    _change(con, SCOPED, "p7")
    _change(con, SCOPED_TOO, "p8")
    written = _publish(settings, con, "r2")
    assert written.startswith(f"changes: rows of {SCOPED}, {SCOPED_TOO} replaced")
    _assert_published_is_working(settings, con)
    # published changes are forgotten; a run that changes nothing keeps both scoped marts
    assert con.execute("select count(*) from audit.mart_changes").fetchone()[0] == 0
    assert _publish(settings, con, "r3").startswith("changes: rows of no mart replaced; 2 mart(s)")
    _assert_published_is_working(settings, con)


def test_changes_of_a_run_that_did_not_publish_are_published_by_the_next(working, monkeypatch):
    settings, con = working
    _publish(settings, con, "r1")
    _change(con, SCOPED, "p1")

    def disk_full(*args, **kwargs):
        raise OSError("disk full (simulated)")

    with monkeypatch.context() as patched:
        patched.setattr(publish, "_write_parquet", disk_full)
        with pytest.raises(OSError, match="simulated"):
            _publish(settings, con, "r2")
    _change(con, SCOPED, "p2")
    assert _publish(settings, con, "r3").startswith("changes:")
    _assert_published_is_working(settings, con)


def test_an_unnoted_change_is_caught_and_published_whole(working, caplog):
    settings, con = working
    _publish(settings, con, "r1")
    _change(con, SCOPED, "p3", note=False)  # a change the hooks did not note
    written = _publish(settings, con, "r2")
    assert written == (
        f"whole: marts.{SCOPED}: the published copy and its changes differ from the mart"
    )
    assert "publishing whole" in caplog.text
    _assert_published_is_working(settings, con)


def test_a_published_file_that_is_not_the_recorded_one_is_replaced_whole(working, tmp_path):
    settings, con = working
    _publish(settings, con, "r1")
    older = tmp_path / "older.duckdb"
    older.write_bytes(settings.marts_path.read_bytes())
    _change(con, SCOPED, "p4")
    _publish(settings, con, "r2")
    older.replace(settings.marts_path)  # someone restores the earlier publication
    _change(con, SCOPED, "p5")
    assert _publish(settings, con, "r3") == (
        "whole: the published file is not the publication the working database recorded"
    )
    _assert_published_is_working(settings, con)


def test_a_mart_built_whole_is_copied_whole(working):
    settings, con = working
    _publish(settings, con, "r1")
    con.execute(f"update marts.{SCOPED_TOO} set service_date = service_date + 1")
    con.execute("insert into audit.mart_changes values (?, null)", [SCOPED_TOO])
    assert _publish(settings, con, "r2").startswith(
        "changes: rows of no mart replaced; 1 mart(s) kept, 2 copied whole"
    )
    _assert_published_is_working(settings, con)


@pytest.mark.parametrize(
    "tamper, reason",
    [
        ("delete from audit.publication_state", "has no record of the published file"),
        ("update audit.publication_state set whole_size = 1", "grew past"),
        ("update audit.publication_state set format_sha256 = 'x'", "columns or docs changed"),
    ],
)
def test_without_a_sound_record_the_publication_is_whole(working, tamper, reason, monkeypatch):
    settings, con = working
    monkeypatch.setattr(publication_delta, "GROWTH_SLACK_BYTES", 0)
    _publish(settings, con, "r1")
    _change(con, SCOPED, "p6")
    con.execute(tamper)
    written = _publish(settings, con, "r2")
    assert written.startswith("whole:") and reason in written
    _assert_published_is_working(settings, con)


def test_a_new_column_makes_the_publication_whole(working):
    settings, con = working
    _publish(settings, con, "r1")
    con.execute(f"alter table marts.{WHOLE} add column p90_days integer")
    assert _publish(settings, con, "r2") == "whole: the marts' tables, columns or docs changed"


def test_the_state_is_dropped_when_spark_publishes(working, tmp_path):
    settings, con = working
    _publish(settings, con, "r1")
    parquet = tmp_path / "spark"
    parquet.mkdir()
    sources = {}
    for table in (SCOPED, SCOPED_TOO, WHOLE):
        path = parquet / f"{table}.parquet"
        con.execute(f"copy marts.{table} to '{path}' (format parquet)")
        sources[table] = f"read_parquet('{path}')"
    written = publish.publish_marts(con, settings, "spark", sources)["written"]
    assert written == "whole: the marts come from Spark"
    assert not warehouse.has_table(con, publication_delta.STATE)
    assert _publish(settings, con, "r2").startswith("whole: the working database has no record")
