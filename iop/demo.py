"""`make demo`: generate sample data, materialize every asset, summarize the published marts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from iop.settings import IopSettings, PseudonymKeyError


def summarize(marts_path: Path) -> str:
    con = duckdb.connect(str(marts_path), read_only=True)
    try:
        by_level = con.execute(
            """
            select e.level_of_care, count(*) as episodes, count(*) filter (where e.is_open) as open
            from marts.episodes as e
            group by e.level_of_care, e.level_rank
            order by e.level_rank desc, e.level_of_care
            """
        ).fetchall()
        iop = con.execute(
            """
            select median_los, completion_rate, episodes
            from marts.length_of_stay_by_level
            where level_of_care = 'IOP'
            """
        ).fetchone()
        step_down = con.execute(
            """
            select avg((transition_direction = 'step_down')::integer), count(*)
            from marts.episodes
            where level_of_care in ('RES', 'PHP') and not is_open and transition_window_complete
            """
        ).fetchone()
    finally:
        con.close()
    lines = ["Episodes by level of care (open in brackets):"]
    lines += [f"  {level:<5} {n:>7,} ({open_:,} open)" for level, n, open_ in by_level]
    if iop and iop[2]:
        lines.append(f"IOP median length of stay: {iop[0]:.0f} days (n = {iop[2]:,} discharged)")
        if iop[1] is not None:
            lines.append(f"IOP completion rate: {iop[1]:.1%} of discharges with a recorded reason")
    if step_down and step_down[1]:
        lines.append(
            f"Residential/PHP discharges stepped down within 30 days: {step_down[0]:.1%}"
            f" (of {step_down[1]:,} with a complete 30-day window)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    # Demo mode (the public demo key) comes from the generator's marker in the data folder, or
    # an explicit IOP_DEMO=1: landing files someone else put here need a real key.
    settings = IopSettings.from_env()
    started = time.perf_counter()
    landing = settings.landing_dir
    if not any(landing.rglob("*.csv")) if landing.exists() else True:
        from iop.generator import generate

        print(f"Generating sample data for {args.clients:,} clients into {settings.data_path} ...")
        summary = generate(settings.data_path, clients=args.clients, seed=args.seed)
        print(f"  {summary.line()}")
    else:
        print(f"Landing folder {landing} already has files: using them.")

    from iop.runner import dagster_instance, run_full_refresh

    print("Materializing every asset (ingest, staging, core, marts, checks, publication) ...")
    try:
        result = run_full_refresh(
            dagster_instance(settings.data_path), raise_on_error=False, log_level="WARNING"
        )
    except PseudonymKeyError as error:
        print(f"error: {error}")
        return 2
    elapsed = time.perf_counter() - started
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(f"The run failed (steps: {', '.join(failed) or 'see the Dagster UI'}).")
        return 1
    print(f"Done in {elapsed:.1f} s (run {result.run_id}).\n")
    print(f"Published marts: {settings.marts_path}")
    print(f"Parquet copies:  {settings.marts_parquet_dir}/<mart>.parquet")
    print(f"Working database: {settings.warehouse_path}\n")
    print(summarize(settings.marts_path))
    print("\nBrowse the runs and checks: make dev  (Dagster UI at http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
