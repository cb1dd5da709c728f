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
from iop.settings import FEEDS, Settings  # noqa: E402


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [normalize_column(name) for name in next(csv.reader(handle), [])]


def files_by_layout(landing: Path) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {layout.name: [] for layout in LAYOUTS}
    for feed in FEEDS:
        for path in sorted((landing / feed).glob("*.csv")):
            grouped[detect_layout(feed, read_header(path)).name].append(path)
    return grouped


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
        dateformat = ", dateformat = '%m/%d/%Y'" if layout in ("attendance_vendor_a", "census_vendor_a") else ""
        con.execute(
            f"create table {layout} as select * from read_csv({_list(paths)}, header = true, "
            f"union_by_name = true, ignore_errors = true, sample_size = 100000{dateformat})"
        )
        rows += con.execute(f"select count(*) from {layout}").fetchone()[0]
    con.close()
    return {"rows_loaded": rows}


def _limits(con) -> None:
    s = Settings.from_env()
    con.execute(f"set memory_limit = '{s.duckdb_memory_limit}'")
    con.execute(f"set threads = {s.duckdb_threads}")


def _raw_views_over_csv(con, landing: Path) -> None:
    """raw.<layout> straight over the CSV files (no Parquet copy, no hashing): the floor."""
    for layout, paths in files_by_layout(landing).items():
        if not paths:
            columns = ", ".join(f"null::varchar as {c}" for c in next(
                lay for lay in LAYOUTS if lay.name == layout).columns)
            con.execute(f"create or replace view raw.{layout} as select {columns}, "
                        "null::varchar as _source_file, null::varchar as _file_sha256, "
                        "null::bigint as _row_number, null::timestamp as _landed_at limit 0")
            continue
        names = read_header(paths[0])
        quoted = ", ".join("'" + n + "'" for n in names)
        con.execute(
            f"create or replace view raw.{layout} as select * exclude (filename)"
            ", filename as _source_file, filename as _file_sha256"
            ", row_number() over (partition by filename) as _row_number"
            ", now()::timestamp as _landed_at "
            f"from read_csv({_list(paths)}, header = true, all_varchar = true, filename = true"
            f", delim = ',', quote = '\"', escape = '\"', names = [{quoted}])"
        )


def phase_bare(landing: Path, work: Path) -> dict:
    """Floor 2: the project's own SQL models, in order, on one plain DuckDB connection."""
    from iop import warehouse
    from iop.models import run_model, topological_order

    settings = Settings.from_env()
    settings = Settings(data_dir=work / "bare", duckdb_memory_limit=settings.duckdb_memory_limit,
                        duckdb_threads=settings.duckdb_threads)
    with warehouse.connect(settings) as con:
        warehouse.register_pseudonymizer(con)
        warehouse.load_seeds(con)
        _raw_views_over_csv(con, landing)
        timings = {}
        for model in topological_order():
            timings[model.table] = run_model(con, model)["seconds"]
    return {"model_seconds": timings}


def phase_pipeline(landing: Path, work: Path) -> dict:
    """The real thing: a full Dagster materialization with every check, as a user runs it."""
    from dagster import DagsterInstance

    from iop.runner import run_full_refresh

    instance = DagsterInstance.ephemeral()
    result = run_full_refresh(instance, log_level="WARNING")
    steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id)}
    validation = sum(seconds for key, seconds in steps.items() if key.startswith("gx_"))
    slowest = dict(sorted(steps.items(), key=lambda kv: -kv[1])[:8])
    return {"success": result.success, "validation_seconds": round(validation, 3),
            "slowest_steps": {k: round(v, 2) for k, v in slowest.items()}}


def phase_naive(landing: Path, work: Path) -> dict:
    """What a user without this project writes: pandas read_csv, GX pandas validation of the same
    suites, the frames handed to a database (DuckDB, as to_sql would) for the same SQL models."""
    import duckdb
    import great_expectations as gx
    import pandas as pd

    from iop import validation, warehouse
    from iop.models import run_model, topological_order

    frames = {}
    for layout, paths in files_by_layout(landing).items():
        parts = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        frame.columns = [c for c in read_header(paths[0])] if paths else []
        frames[layout] = frame
    settings = Settings(data_dir=work / "naive")
    started = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("pandas")
    gx_seconds = 0.0
    with warehouse.connect(settings) as con:
        warehouse.register_pseudonymizer(con)
        warehouse.load_seeds(con)
        for layout, frame in frames.items():
            if frame.columns.empty:  # no file of this layout: an empty table of its columns
                columns = next(lay for lay in LAYOUTS if lay.name == layout).columns
                frame = pd.DataFrame({c: pd.Series(dtype=str) for c in columns})
            con.register(f"frame_{layout}", frame)
            con.execute(f"create or replace table raw.{layout} as select *, "
                        "'' as _source_file, '' as _file_sha256, "
                        "row_number() over () as _row_number, now()::timestamp as _landed_at "
                        f"from frame_{layout}")
        for model in topological_order():
            run_model(con, model)
            suite_path = validation.EXPECTATIONS_DIR / f"{model.table}.json"
            if suite_path.exists():
                t0 = time.perf_counter()
                document = json.loads(suite_path.read_text())
                suite = gx.ExpectationSuite(name=document["name"], expectations=document["expectations"])
                table = con.execute(f"select * from {model.table}").df()
                batch = (source.add_dataframe_asset(model.table)
                         .add_batch_definition_whole_dataframe("all")
                         .get_batch(batch_parameters={"dataframe": table}))
                batch.validate(suite)
                del table
                gx_seconds += time.perf_counter() - t0
    del duckdb
    return {"gx_pandas_seconds": round(gx_seconds, 3),
            "transform_seconds": round(time.perf_counter() - started - gx_seconds, 3)}


PHASES = {"load": phase_load, "bare": phase_bare, "pipeline": phase_pipeline, "naive": phase_naive}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=sorted(PHASES))
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("IOP_PSEUDONYM_KEY", "benchmark-key")
    print(json.dumps(PHASES[args.phase](args.landing, args.work)))


if __name__ == "__main__":
    main()
