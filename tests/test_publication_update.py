"""A refresh publishes by starting from the published file (iop/publish.py): a large mart is
updated by its unique key (the keys whose rows differ either way are deleted and inserted again),
the others are copied whole; the result is exactly the working database's marts. A full refresh,
or a published file that cannot be read, writes a new file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import TEST_KEY, query


def _published_equals_warehouse(data_dir: Path) -> dict[str, int]:
    """Per mart, rows that differ between the published file and the warehouse (either way)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{data_dir / 'warehouse.duckdb'}' as w (read_only)")
        con.execute(f"attach '{data_dir / 'marts.duckdb'}' as p (read_only)")
        marts = [
            row[0]
            for row in con.execute(
                "select table_name from duckdb_tables() where database_name = 'w' "
                "and schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            mart: con.execute(
                f"select (select count(*) from (from w.marts.{mart} except all from p.main.{mart}))"
                f" + (select count(*) from (from p.main.{mart} except all from w.marts.{mart}))"
            ).fetchall()[0][0]
            for mart in marts
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """Generated data built once, then refreshed with its held-back days landed, every mart with
    a unique key published by key (threshold 0); the calls of the by-key update recorded."""
    from iop import publish
    from iop.generator import generate

    data_dir = tmp_path_factory.mktemp("publication_update") / "data"
    generate(data_dir, clients=40, seed=3, start="2025-07-01", end="2025-12-31", hold_back_days=20)
    updates: list[tuple[str, int | None]] = []
    update_table = publish._update_table

    def recorded(con, alias, table, key):
        result = update_table(con, alias, table, key)
        updates.append((table, result))
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        mp.setattr(publish, "UPDATE_MIN_ROWS", 0)
        mp.setattr(publish, "_update_table", recorded)
        from iop.runner import run_full_refresh

        assert run_full_refresh(log_level="WARNING").success
        first = list(updates)
        held_back = data_dir / "holdback"
        for path in sorted(held_back.rglob("*")):
            if path.is_file():
                target = data_dir / "landing" / path.relative_to(held_back)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        result = run_full_refresh(log_level="WARNING")
    return {"data_dir": data_dir, "first": first, "updates": updates[len(first) :], "run": result}


def test_a_first_build_writes_a_new_file(refreshed):
    assert refreshed["first"] == []


def test_a_refresh_updates_marts_by_key_and_publishes_exactly_the_marts(refreshed):
    data_dir = refreshed["data_dir"]
    assert refreshed["run"].success
    updated = {table for table, rows in refreshed["updates"] if rows is not None}
    # the record-level marts went by key (their keys are never null)
    assert {"episodes", "reconciliation_person_day"} <= updated
    differences = _published_equals_warehouse(data_dir)
    assert len(differences) > 20 and set(differences.values()) == {0}
    # the refresh changed what it published: the by-key update had rows to replace
    published_run = query(
        data_dir, "select distinct run_id from _publication", database="marts.duckdb"
    )
    assert published_run == [(refreshed["run"].run_id,)]


@pytest.mark.skipif(not os.environ.get("IOP_DUCKDB_1X_PYTHONS"), reason="set IOP_DUCKDB_1X_PYTHONS")
def test_duckdb_1x_readers_open_a_file_updated_by_key(refreshed):
    """IOP_DUCKDB_1X_PYTHONS: colon-separated pythons of scratch venvs with duckdb 1.x installed
    (as for tests/test_publication.py): rows deleted and inserted by this DuckDB in the copied
    file keep it in the storage format 1.x reads."""
    path = str(refreshed["data_dir"] / "marts.duckdb")
    script = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "published = 'select table_name, row_count from _publication'\n"
        "for table, n in con.execute(published).fetchall():\n"
        "    assert len(con.execute(f'select * from {table}').fetchall()) == n, table\n"
        "print(duckdb.__version__)\n"
    )
    for python in os.environ["IOP_DUCKDB_1X_PYTHONS"].split(":"):
        out = subprocess.run(
            [python, "-c", script, path], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("1.")


def test_an_unreadable_published_file_is_written_anew(refreshed, monkeypatch):
    from iop import publish, warehouse
    from iop.settings import IopSettings

    data_dir = refreshed["data_dir"]
    (data_dir / "marts.duckdb").write_bytes(b"not a database" * 100)
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    settings = IopSettings(data_dir=str(data_dir))
    run_id = refreshed["run"].run_id  # a refresh that was incremental: it would reuse the file
    with warehouse.connect(settings) as con:
        result = publish.publish_marts(con, settings, run_id)
    assert result["tables"]
    assert set(_published_equals_warehouse(data_dir).values()) == {0}
