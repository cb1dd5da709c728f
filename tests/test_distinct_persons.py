"""The marts count distinct persons on a 64-bit hash of the key only while no two persons share a
hash (count_distinct_persons(), sql/macros/distinct_persons.sql): checked once a run over every
person (intermediate.person_hash_collisions); with a shared hash, the keys themselves are counted.
The counts' truth is tested end to end (tests/test_end_to_end.py); here, the switch and that both
ways give the same rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from conftest import TEST_KEY, query

from iop.settings import IopSettings

MART = "marts__demographic_utilization"
COMPILED = Path("dbt_target/compiled/iop/sql/marts") / f"{MART}.sql"


def _rows(data_dir: Path) -> list[tuple]:
    return query(data_dir, "select * from marts.demographic_utilization order by all")


def test_no_shared_hash_among_the_generated_persons(published_small):
    persons = query(published_small, "select count(*) from core.persons")[0][0]
    assert persons > 100
    assert query(
        published_small,
        "select shared_key_hashes, shared_id_hashes from intermediate.person_hash_collisions",
    ) == [(0, 0)]
    compiled = (published_small / COMPILED).read_text()
    assert "count(distinct hash(person_key))" in compiled


def test_a_shared_hash_makes_the_marts_count_the_keys(published_small, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    shutil.copytree(published_small, data_dir)
    monkeypatch.setenv("IOP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.setenv("IOP_DUCKDB_THREADS", "2")
    monkeypatch.delenv("IOP_DEMO", raising=False)
    from iop.dbt_runner import build

    hashed = _rows(data_dir)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:  # as if two persons' keys had one hash
        con.execute("update intermediate.person_hash_collisions set shared_key_hashes = 1")
    finally:
        con.close()
    outcome = build(IopSettings.from_env(), [MART])
    assert outcome.failures == []
    compiled = (data_dir / COMPILED).read_text()
    assert "count(distinct person_key)" in compiled
    assert "hash(person_key)" not in compiled
    assert _rows(data_dir) == hashed


def test_every_person_count_goes_through_the_macro():
    """No mart counts distinct person keys or ids by hand (the macro is the one place)."""
    from iop import dbt_project

    source = (dbt_project.PROJECT_DIR / "sql").rglob("*.sql")
    by_hand = [
        path.name
        for path in source
        if "count(distinct person_key)" in path.read_text()
        or "count(distinct person_id)" in path.read_text()
    ]
    assert by_hand == []
