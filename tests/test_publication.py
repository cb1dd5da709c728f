"""Publication safety: what BI readers see while the pipeline refreshes, crashes and fails.

* BI readers in other processes (SQLAlchemy + duckdb-engine, the path Superset and Metabase
  take, and plain duckdb) query every mart in a loop, reconnecting each time, while this process
  runs five refreshes with new files landed between them: no reader error, and every read sees
  a complete publication (`_publication` row counts = the marts' counts, in one connection). A
  third reader holds one connection across all refreshes and keeps its snapshot.
* A publication SIGKILLed half-way leaves the previous marts.duckdb and Parquet byte-identical;
  a later publication removes the leftovers.
* A run whose critical check fails does not publish.

Run as a script, this file is the reader and publisher processes the tests start.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import TEST_KEY

from iop import dbt_project

# every mart the project defines (sql/marts/*.sql), in name order
MARTS = tuple(sorted(m.table_name for m in dbt_project.models("marts")))
# refreshes while the readers read: each must see every publication, in order, and nothing else
REFRESHES = 3
THIS = Path(__file__).resolve()


# --- the reader and publisher processes -------------------------------------------------------


def read_publication(query) -> tuple[str, list[str], list[int]]:
    """One complete read through one connection: (run id, problems, row counts of the marts).

    `query(sql)` returns the rows of `sql`."""
    problems, counts = [], []
    rows = query("select run_id, table_name, row_count from marts._publication")
    run_ids = {r[0] for r in rows}
    expected = {r[1]: r[2] for r in rows}
    if len(run_ids) != 1:
        problems.append(f"_publication has run ids {run_ids}")
    if set(expected) != set(MARTS):
        problems.append(f"_publication lists {sorted(expected)}")
    for mart in MARTS:
        count = query(f"select count(*) from marts.{mart}")[0][0]
        fetched = len(query(f"select * from marts.{mart}"))
        counts.append(count)
        if not count == fetched == expected.get(mart):
            problems.append(
                f"{mart}: count {count}, fetched {fetched}, _publication {expected.get(mart)}"
            )
    return next(iter(run_ids), ""), problems, counts


def _connect_and_read(mode: str, path: str) -> tuple[str, list[str], list[int]]:
    if mode == "sqlalchemy":
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(
            f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=NullPool
        )
        try:
            with engine.connect() as connection:
                return read_publication(lambda sql: connection.execute(text(sql)).fetchall())
        finally:
            engine.dispose()
    con = duckdb.connect(path, read_only=True)
    try:
        return read_publication(lambda sql: con.execute(sql).fetchall())
    finally:
        con.close()


def reader_main(mode: str, path: str, work: str) -> None:
    """Read until `work`/stop exists; progress in `work`/<mode>.progress, result in <mode>.json."""
    work_dir = Path(work)
    stop, progress = work_dir / "stop", work_dir / f"{mode}.progress"
    result = {
        "mode": mode,
        "iterations": 0,
        "errors": [],
        "problems": [],
        "run_ids": [],
        "counts": [],
    }
    deadline = time.monotonic() + 600  # a safety net: the test stops readers by file
    if mode == "hold":
        # One connection for the whole test: it must keep the snapshot it opened.
        con = duckdb.connect(path, read_only=True)
        first = read_publication(lambda sql: con.execute(sql).fetchall())
        progress.write_text("1")
        while not stop.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        last = read_publication(lambda sql: con.execute(sql).fetchall())
        con.close()
        result.update(
            iterations=2,
            run_ids=[first[0], last[0]],
            problems=first[1] + last[1],
            counts=[first[2], last[2]],
        )
    else:
        while not stop.exists() and time.monotonic() < deadline:
            try:
                run_id, problems, counts = _connect_and_read(mode, path)
            except Exception as error:  # every failure counts, whatever its kind
                result["errors"].append(f"{type(error).__name__}: {error}")
            else:
                result["problems"] += problems
                if not result["run_ids"] or result["run_ids"][-1] != run_id:
                    result["run_ids"].append(run_id)
                    result["counts"].append(counts)
            result["iterations"] += 1
            progress.with_suffix(".tmp").write_text(str(result["iterations"]))
            os.replace(progress.with_suffix(".tmp"), progress)  # never seen half-written
            time.sleep(0.1)  # a busy dashboard, not a spin loop starving the refresh of CPU
    (work_dir / f"{mode}.json").write_text(json.dumps(result))


def publisher_main(run_id: str, marker: str, pause: bool) -> None:
    """Publish from the working database; with `pause`, stop for good after half the marts."""
    from iop import publish, warehouse
    from iop.settings import IopSettings

    settings = IopSettings.from_env()
    if pause:
        # every publication, whole or by change, writes each mart's Parquet copy
        write_parquet, written = publish._write_parquet, []

        def write_then_pause(con, relation, path, doc, metadata):
            write_parquet(con, relation, path, doc, metadata)
            written.append(relation)
            if len(written) == len(MARTS) // 2:
                Path(marker).write_text("half")
                time.sleep(300)  # killed here

        publish._write_parquet = write_then_pause
    with warehouse.connect(settings) as con:
        if not pause:
            Path(marker).write_text("started")
        publish.publish_marts(con, settings, run_id)


# --- helpers ----------------------------------------------------------------------------------


def _digests(data_dir: Path) -> dict[str, str]:
    paths = [data_dir / "marts.duckdb", *sorted((data_dir / "marts").glob("*.parquet"))]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _published(data_dir: Path) -> tuple[str, list[str]]:
    run_id, problems, _ = _connect_and_read("duckdb", str(data_dir / "marts.duckdb"))
    return run_id, problems


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _progress(work: Path, mode: str) -> int:
    try:
        return int((work / f"{mode}.progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _settings(data_dir: Path):
    from iop.settings import IopSettings

    return IopSettings(data_dir=str(data_dir))


def _temporaries(data_dir: Path) -> list[str]:
    names = [p.name for p in data_dir.iterdir() if p.name.startswith(".")]
    names += [p.name for p in (data_dir / "marts").iterdir() if p.name.startswith(".")]
    return sorted(names + [p.name for p in data_dir.glob("marts.duckdb.wal")])


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A generated half year (files of its last 25 days held back) built and published once."""
    data_dir = tmp_path_factory.mktemp("publication") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(
            data_dir, clients=150, seed=1, start="2025-07-01", end="2025-12-31", hold_back_days=25
        )
        result = run_full_refresh(log_level="WARNING")
        assert result.success
        yield data_dir, result.run_id


# --- tests ------------------------------------------------------------------------------------


def test_published_file_uses_a_storage_format_duckdb_1x_reads(pipeline):
    data_dir, _ = pipeline
    header = (data_dir / "marts.duckdb").read_bytes()[:20]
    # Main header: checksum (8 bytes), magic "DUCK", storage format number (uint64). 64 is the
    # format of storage_version 'v1.0.0', the one every DuckDB 1.0 to 1.5 opens.
    assert header[8:12] == b"DUCK"
    assert int.from_bytes(header[12:20], "little") == 64


@pytest.mark.skipif(not os.environ.get("IOP_DUCKDB_1X_PYTHONS"), reason="set IOP_DUCKDB_1X_PYTHONS")
def test_duckdb_1x_readers_open_the_published_file(pipeline):
    """IOP_DUCKDB_1X_PYTHONS: colon-separated pythons of scratch venvs with duckdb 1.x installed."""
    data_dir, run_id = pipeline
    script = (  # the scratch venvs have duckdb only
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "published = 'select table_name, row_count from marts._publication'\n"
        "for table, n in con.execute(published).fetchall():\n"
        "    assert len(con.execute(f'select * from marts.{table}').fetchall()) == n, table\n"
        "comments = con.execute('select count(comment) from duckdb_columns()').fetchone()[0]\n"
        "print(duckdb.__version__, comments)\n"
    )
    for python in os.environ["IOP_DUCKDB_1X_PYTHONS"].split(":"):
        out = subprocess.run(
            [python, "-c", script, str(data_dir / "marts.duckdb")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        version, comments = out.stdout.split()
        assert version.startswith("1.") and int(comments) > 0


def test_bi_readers_see_only_complete_publications_during_refreshes(pipeline, tmp_path):
    from iop.runner import run_full_refresh

    data_dir, first_run = pipeline
    path = str(data_dir / "marts.duckdb")
    held = sorted(p for p in (data_dir / "holdback").rglob("*") if p.is_file())
    batches = [held[i::REFRESHES] for i in range(REFRESHES)]
    modes = ("sqlalchemy", "duckdb", "hold")
    readers = [
        subprocess.Popen([sys.executable, str(THIS), "reader", mode, path, str(tmp_path)])
        for mode in modes
    ]
    run_ids = [first_run]
    try:
        _wait_for(lambda: all(_progress(tmp_path, m) >= 1 for m in modes), 60, "readers to start")
        # DuckDB's lock is real: with readers on the file, no process may open it read-write. So
        # refreshes that succeed now prove the pipeline never opens marts.duckdb itself.
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(path).close()
        for batch in batches:
            for source in batch:  # new files land between refreshes
                target = data_dir / "landing" / source.relative_to(data_dir / "holdback")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(source, target)
            t0 = time.monotonic()
            result = run_full_refresh(log_level="WARNING")
            print(
                "refresh",
                round(time.monotonic() - t0, 2),
                {m: _progress(tmp_path, m) for m in modes},
            )
            assert result.success
            run_ids.append(result.run_id)
            # Let both looping readers complete reads of this publication before the next one.
            seen = {m: _progress(tmp_path, m) for m in modes[:2]}
            _wait_for(
                lambda seen=seen: all(_progress(tmp_path, m) >= seen[m] + 2 for m in seen),
                30,
                "reads",
            )
    finally:
        (tmp_path / "stop").touch()
        for reader in readers:
            try:
                reader.wait(timeout=30)
            except subprocess.TimeoutExpired:
                reader.kill()
    results = {m: json.loads((tmp_path / f"{m}.json").read_text()) for m in modes}

    for mode in modes[:2]:
        r = results[mode]
        assert r["errors"] == [], f"{mode} reader errors: {r['errors'][:3]}"
        assert r["problems"] == [], (
            f"{mode} reader saw incomplete publications: {r['problems'][:3]}"
        )
        assert r["iterations"] >= 2 * REFRESHES
        # Each reader saw every publication, in order, and nothing else.
        assert r["run_ids"] == run_ids, f"{mode} reader saw publications {r['run_ids']}"
        if held:  # new files landed, so the marts themselves changed, not just the run id
            assert len({tuple(c) for c in r["counts"]}) > 1
    hold = results["hold"]
    assert hold["problems"] == []
    assert hold["run_ids"] == [first_run, first_run], "a held connection must keep its snapshot"
    assert hold["counts"][0] == hold["counts"][1]
    assert _temporaries(data_dir) == []


@pytest.mark.parametrize("written", ["by change", "whole"])
def test_failed_publication_cleans_up_and_keeps_previous(pipeline, monkeypatch, written):
    from iop import publish, warehouse

    data_dir, _ = pipeline
    before = _digests(data_dir)

    def broken(con, relation, path, doc, metadata):
        if relation.endswith(f".{MARTS[2]}"):
            raise OSError("disk full (simulated)")
        write_parquet(con, relation, path, doc, metadata)

    write_parquet = publish._write_parquet
    monkeypatch.setattr(publish, "_write_parquet", broken)
    settings = _settings(data_dir)
    with warehouse.connect(settings) as con, pytest.raises(OSError, match="simulated"):
        if written == "whole":  # no record of the published file: it is written whole
            con.execute("drop table if exists audit.publication_state")
        publish.publish_marts(con, settings, "broken")
    assert _digests(data_dir) == before
    assert _temporaries(data_dir) == []


def test_publication_killed_midway_leaves_previous_intact(pipeline, tmp_path):
    from iop import publish, warehouse

    data_dir, _ = pipeline
    before = _digests(data_dir)
    previous_run, problems = _published(data_dir)
    assert problems == []

    marker = tmp_path / "half"
    proc = subprocess.Popen([sys.executable, str(THIS), "publish", "killed", str(marker), "pause"])
    try:
        _wait_for(lambda: marker.exists() or proc.poll() is not None, 60, "half a publication")
        assert proc.poll() is None, "the publisher exited before it was killed"
        leftovers = publish.leftover_temporaries(_settings(data_dir))
        assert any(p.name.startswith(".marts.duckdb.") for p in leftovers)  # killed mid-write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert _digests(data_dir) == before, "the previous publication was touched"
    assert _published(data_dir) == (previous_run, [])

    # Killed at random moments: the published file is always the old or a new complete one.
    rng = random.Random(20261126)
    outcomes = set()
    for attempt in range(4):
        started = tmp_path / f"started-{attempt}"
        proc = subprocess.Popen(
            [sys.executable, str(THIS), "publish", f"random-{attempt}", str(started)]
        )
        try:
            _wait_for(
                lambda started=started, proc=proc: started.exists() or proc.poll() is not None,
                60,
                "the publisher",
            )
            time.sleep(rng.uniform(0, 0.2))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        run_id, problems = _published(data_dir)
        assert problems == []
        assert run_id in {previous_run, *(f"random-{i}" for i in range(attempt + 1))}
        outcomes.add(run_id)

    # The next publication removes what the killed ones left and publishes normally.
    settings = _settings(data_dir)
    with warehouse.connect(settings) as con:
        publish.publish_marts(con, settings, "after-crash")
    assert _temporaries(data_dir) == []
    assert _published(data_dir) == ("after-crash", [])


def test_failing_critical_check_leaves_previous_publication(pipeline, tmp_path, monkeypatch):
    """An attendance feed of header-only files empties staging.attendance: its critical row-count
    expectation fails, the run fails and nothing is published."""
    from iop.runner import run_full_refresh

    source, _ = pipeline
    data_dir = tmp_path / "data"
    (data_dir / "marts").mkdir(parents=True)
    shutil.copy2(source / "marts.duckdb", data_dir / "marts.duckdb")
    for parquet in (source / "marts").glob("*.parquet"):
        shutil.copy2(parquet, data_dir / "marts" / parquet.name)
    for feed in ("roster", "census", "claims"):
        shutil.copytree(source / "landing" / feed, data_dir / "landing" / feed)
    header_only = next((source / "landing" / "attendance").glob("vendor_b_*.csv"))
    attendance = data_dir / "landing" / "attendance"
    attendance.mkdir(parents=True)
    (attendance / "vendor_b_sessions_empty.csv").write_text(
        header_only.read_text().splitlines()[0] + "\n"
    )
    monkeypatch.setenv("IOP_DATA_DIR", str(data_dir))
    before = _digests(data_dir)

    result = run_full_refresh(raise_on_error=False, log_level="CRITICAL")

    assert not result.success
    failed = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    assert ("staging/attendance", "table_row_count_to_be_between") in failed, failed
    published = [
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string().startswith("publish")
    ]
    assert published == []
    assert _digests(data_dir) == before
    assert not list(data_dir.glob(".marts.duckdb.*"))


if __name__ == "__main__":
    if sys.argv[1] == "reader":
        reader_main(*sys.argv[2:5])
    elif sys.argv[1] == "publish":
        publisher_main(sys.argv[2], sys.argv[3], pause=sys.argv[4:] == ["pause"])
