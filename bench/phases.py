"""Benchmark phases, each run in its own process by bench/run_bench.py (so memory is per phase).

    python bench/phases.py load|bare|pipeline|naive --landing DIR --work DIR

Prints one JSON line with what the phase measured about itself (e.g. validation seconds).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iop.layouts import LAYOUTS, detect_layout, normalize_column  # noqa: E402
from iop.settings import FEEDS, IopSettings  # noqa: E402


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [normalize_column(name) for name in next(csv.reader(handle), [])]


def files_by_layout(landing: Path) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {layout.name: [] for layout in LAYOUTS}
    for feed in FEEDS:
        for path in sorted((landing / feed).glob("*.csv")):
            grouped[detect_layout(feed, read_header(path)).name].append(path)
    return grouped


X12_SUFFIXES = (".837p", ".837i", ".835")


def x12_files(landing: Path) -> list[Path]:
    """The claims feed's X12 files (837P/837I claims, 835 remittances)."""
    folder = landing / "claims"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in X12_SUFFIXES)


def x12_tables(landing: Path):
    """The X12 files read by the project's X12 reader (no DuckDB reads X12): claim lines in the
    claims_csv layout's columns, 835 service lines in remittance_835's, all text, with the lineage
    columns — what the floors load beside the CSV files, so they process the same input."""
    import pyarrow as pa

    from iop.x12 import parse_x12

    rows: dict[str, list[dict]] = {"claims_csv": [], "remittance_835": []}
    for path in x12_files(landing):
        parsed = parse_x12(path, strict=False)
        for layout, lines in (("claims_csv", parsed.claim_lines),
                              ("remittance_835", parsed.remittance_lines)):  # fmt: skip
            for number, line in enumerate(lines, start=1):
                rows[layout].append({**line, "_source_file": str(path), "_row_number": number})
    tables = {}
    for layout in rows:
        columns = list(next(lay for lay in LAYOUTS if lay.name == layout).columns)
        data = {c: pa.array([r.get(c) or None for r in rows[layout]], pa.string()) for c in columns}
        data["_source_file"] = pa.array([r["_source_file"] for r in rows[layout]], pa.string())
        data["_row_number"] = pa.array([r["_row_number"] for r in rows[layout]], pa.int64())
        tables[layout] = pa.table(data)
    return tables


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def phase_load(landing: Path, work: Path) -> dict:
    """Floor 1: DuckDB reads every landed file once into typed tables (types sniffed), no more."""
    import duckdb

    con = duckdb.connect(str(work / "load.duckdb"))
    _limits(con)
    rows = 0
    for layout, paths in files_by_layout(landing).items():
        if not paths:
            continue
        # the layout's own date format (sql/macros/layouts.sql) where it is not ISO
        date_format = next(lay for lay in LAYOUTS if lay.name == layout).date_format
        dateformat = f", dateformat = '{date_format}'" if date_format != "%Y-%m-%d" else ""
        con.execute(
            f"create table {layout} as select * from read_csv({_list(paths)}, header = true, "
            f"union_by_name = true, ignore_errors = true, sample_size = 100000{dateformat})"
        )
        rows += con.execute(f"select count(*) from {layout}").fetchall()[0][0]
    for layout, table in x12_tables(landing).items():
        con.register(f"x12_{layout}", table)
        exists = con.execute(
            "select count(*) from duckdb_tables() where table_name = ?", [layout]
        ).fetchall()[0][0]
        verb = f"insert into {layout} by name" if exists else f"create table {layout} as"
        con.execute(f"{verb} select * exclude (_source_file, _row_number) from x12_{layout}")
        rows += table.num_rows
    con.close()
    return {"rows_loaded": rows}


def _limits(con) -> None:
    s = IopSettings.from_env()
    con.execute(f"set memory_limit = '{s.duckdb_memory_limit}'")
    con.execute(f"set threads = {s.duckdb_threads}")


def _raw_views_over_csv(con, landing: Path) -> None:
    """raw.<layout> straight over the CSV files (no Parquet copy, no hashing), plus the X12 files
    as read by the project's X12 reader: the floor."""
    x12 = {layout: table for layout, table in x12_tables(landing).items() if table.num_rows}
    for layout, table in x12.items():
        con.register(f"x12_{layout}", table)
        con.execute(
            f"create or replace table raw.x12_{layout} as select *"
            ", sha256(_source_file) as _file_sha256, now()::timestamp as _landed_at "
            f"from x12_{layout}"
        )
    for layout, paths in files_by_layout(landing).items():
        if not paths and layout in x12:
            con.execute(f"create or replace view raw.{layout} as select * from raw.x12_{layout}")
            continue
        if not paths:
            columns = ", ".join(
                f"null::varchar as {c}"
                for c in next(lay for lay in LAYOUTS if lay.name == layout).columns
            )
            con.execute(
                f"create or replace view raw.{layout} as select {columns}, "
                "null::varchar as _source_file, null::varchar as _file_sha256, "
                "null::bigint as _row_number, null::timestamp as _landed_at limit 0"
            )
            continue
        names = read_header(paths[0])
        quoted = ", ".join("'" + n + "'" for n in names)
        con.execute(
            f"create or replace view raw.{layout} as select * exclude (filename)"
            ", filename as _source_file, sha256(filename) as _file_sha256"
            ", row_number() over (partition by filename) as _row_number"
            ", now()::timestamp as _landed_at "
            f"from read_csv({_list(paths)}, header = true, all_varchar = true, filename = true"
            f", delim = ',', quote = '\"', escape = '\"', names = [{quoted}])"
            + (f" union all by name select * from raw.x12_{layout}" if layout in x12 else "")
        )


def phase_compile(landing: Path, work: Path) -> dict:
    """Not timed: `dbt compile` once, writing work/compiled_models.json for the bare and naive
    phases — (relation, materialization, compiled select) of every model in dependency order."""
    models = compiled_models(work)
    (work / "compiled_models.json").write_text(json.dumps(models))
    return {"models": len(models)}


def _compiled(work: Path) -> list[tuple[str, str, str]]:
    return [
        tuple(m) for m in json.loads((work.parent / "compile" / "compiled_models.json").read_text())
    ]


def compiled_models(work: Path) -> list[tuple[str, str, str]]:
    """(relation, materialization, compiled select) of every dbt model, in dependency order:
    `dbt compile` once, then plain SQL — what dbt would send, without dbt."""
    import subprocess

    from iop import dbt_project

    target = work / "dbt_compiled"
    (work / "compile").mkdir(parents=True, exist_ok=True)  # dbt opens a scratch database there
    done = subprocess.run(
        [dbt_project.dbt_executable(), "compile", "--quiet", "--profiles-dir", str(ROOT),
         "--target-path", str(target), "--log-path", str(target)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "IOP_DATA_DIR": str(work / "compile")},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    ordered: list[str] = []

    def visit(unique_id: str) -> None:
        if unique_id in ordered or unique_id not in nodes:
            return
        for parent in nodes[unique_id]["depends_on"]["nodes"]:
            visit(parent)
        ordered.append(unique_id)

    for unique_id in sorted(nodes):
        visit(unique_id)
    return [
        (f"{nodes[u]['schema']}.{nodes[u]['alias']}", nodes[u]["config"]["materialized"],
         nodes[u]["compiled_code"])
        for u in ordered
    ]  # fmt: skip


def _bare_database(con, landing: Path | None) -> None:
    """Seeds as text tables, empty registry, deliveries and site seeds, raw views over the CSVs."""
    from iop import warehouse

    con.execute("create schema if not exists seeds")
    for path in sorted(warehouse.SEEDS_DIR.glob("*.csv")):
        con.execute(
            f"create or replace table seeds.{path.stem} as select * from "
            f"read_csv({_list([path])}, header = true, all_varchar = true)"
        )
    con.execute(
        "create or replace table raw.registry (file_sha256 varchar, feed varchar, layout varchar"
        ", source_file varchar, file_bytes bigint, rows_read bigint, status varchar"
        ", error varchar, warnings varchar, raw_path varchar, landed_at timestamp"
        ", ingested_at timestamp)"
    )
    con.execute(
        "create or replace table raw.deliveries (delivery_id varchar, source_file varchar"
        ", folder varchar, feed varchar, file_sha256 varchar, file_bytes bigint"
        ", modified_at timestamp, seen_at timestamp, error varchar)"
    )
    for path in sorted(warehouse.SEEDS_DIR.glob("*.csv")):
        con.execute(
            f"create or replace table raw.site_{path.stem} as "
            f"select * from seeds.{path.stem} limit 0"
        )
    if landing is not None:
        _raw_views_over_csv(con, landing)
    for schema in ("staging", "core", "intermediate", "marts"):
        con.execute(f"create schema if not exists {schema}")


def _run_compiled(con, relation: str, materialized: str, sql: str) -> float:
    started = time.perf_counter()
    kind = "view" if materialized == "view" else "table"
    con.execute(f"create or replace {kind} {relation} as\n{sql}")
    return round(time.perf_counter() - started, 3)


def phase_bare(landing: Path, work: Path) -> dict:
    """Floor 2: the dbt models compiled to SQL, run in order on one plain DuckDB connection —
    no dbt, no Dagster, no GX (so pipeline / bare measures orchestration)."""
    from iop import warehouse
    from iop.pseudonym import register_pseudonymizer

    models = _compiled(work)
    env = IopSettings.from_env()
    settings = IopSettings(data_dir=str(work / "bare"), duckdb_memory_limit=env.duckdb_memory_limit,
                           duckdb_threads=env.duckdb_threads)  # fmt: skip
    started = time.perf_counter()
    with warehouse.connect(settings) as con:
        register_pseudonymizer(con)
        _bare_database(con, landing)
        timings = {relation: _run_compiled(con, relation, kind, sql)
                   for relation, kind, sql in models}  # fmt: skip
    return {"model_seconds": timings, "sql_seconds": round(time.perf_counter() - started, 3)}


def phase_pipeline(landing: Path, work: Path) -> dict:
    """The real thing: a full Dagster materialization with every check, as a user runs it."""
    from dagster import DagsterInstance

    from iop.runner import run_full_refresh

    instance = DagsterInstance.ephemeral()
    result = run_full_refresh(instance, log_level="WARNING")
    steps = {
        s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id)
    }
    validation = sum(seconds for key, seconds in steps.items() if key.startswith("gx_"))
    slowest = dict(sorted(steps.items(), key=lambda kv: -kv[1])[:8])
    # each dbt model's own seconds, from its materialization's metadata
    models = {}
    for record in instance.all_logs(result.run_id):
        event = record.asset_materialization
        if event is not None and "dbt_seconds" in event.metadata:
            models[event.asset_key.to_user_string()] = event.metadata["dbt_seconds"].value
    return {
        "success": result.success,
        "validation_seconds": round(validation, 3),
        "slowest_steps": {k: round(v, 2) for k, v in slowest.items()},
        "steps": {k: round(v, 2) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
        "model_seconds": dict(sorted(models.items(), key=lambda kv: -kv[1])),
    }


def phase_naive(landing: Path, work: Path) -> dict:
    """What a user without this project writes: pandas read_csv, GX pandas validation of the same
    suites, the frames handed to a database (DuckDB, as to_sql would) for the same SQL models."""
    import duckdb
    import great_expectations as gx
    import pandas as pd

    from iop import validation, warehouse
    from iop.pseudonym import register_pseudonymizer

    models = _compiled(work)
    frames = {}
    for layout, paths in files_by_layout(landing).items():
        parts = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        frame.columns = [c for c in read_header(paths[0])] if paths else []
        frames[layout] = frame
    settings = IopSettings(data_dir=str(work / "naive"))
    started = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("pandas")
    gx_seconds = 0.0
    with warehouse.connect(settings) as con:
        register_pseudonymizer(con)
        _bare_database(con, None)
        for layout, frame in frames.items():
            if frame.columns.empty:  # no file of this layout: an empty table of its columns
                columns = next(lay for lay in LAYOUTS if lay.name == layout).columns
                frame = pd.DataFrame({c: pd.Series(dtype=str) for c in columns})
            con.register(f"frame_{layout}", frame)
            con.execute(
                f"create or replace table raw.{layout} as select *, "
                f"'' as _source_file, sha256('{layout}') as _file_sha256, "
                "row_number() over () as _row_number, now()::timestamp as _landed_at "
                f"from frame_{layout}"
            )
        for relation, kind, sql in models:
            _run_compiled(con, relation, kind, sql)
            suite_path = validation.EXPECTATIONS_DIR / f"{relation}.json"
            if suite_path.exists():
                t0 = time.perf_counter()
                document = json.loads(suite_path.read_text())
                suite = gx.ExpectationSuite(
                    name=document["name"], expectations=document["expectations"]
                )
                table = con.execute(f"select * from {relation}").df()
                batch = (
                    source.add_dataframe_asset(relation)
                    .add_batch_definition_whole_dataframe("all")
                    .get_batch(batch_parameters={"dataframe": table})
                )
                batch.validate(suite)
                del table
                gx_seconds += time.perf_counter() - t0
    del duckdb
    return {
        "gx_pandas_seconds": round(gx_seconds, 3),
        "transform_seconds": round(time.perf_counter() - started - gx_seconds, 3),
    }


PHASES = {
    "compile": phase_compile,
    "load": phase_load,
    "bare": phase_bare,
    "pipeline": phase_pipeline,
    "naive": phase_naive,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=sorted(PHASES))
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("IOP_PSEUDONYM_KEY", "benchmark-key-not-secret-0123456789abcdef")
    print(json.dumps(PHASES[args.phase](args.landing, args.work)))


if __name__ == "__main__":
    main()
