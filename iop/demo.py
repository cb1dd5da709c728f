"""`make demo`: generate sample data, materialize every asset, summarize the published marts."""

from __future__ import annotations

import argparse
import threading
import time
from contextlib import contextmanager
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


@contextmanager
def progress(instance, started: float, first_line: str, interval: float = 0.5):
    """Print each step as it starts and each asset as it is materialized, while the run goes on
    (a thread that reads the run's events from the instance: the run itself logs at WARNING)."""
    from dagster import DagsterEventType

    stop = threading.Event()
    before = {r.run_id for r in instance.get_runs(limit=5)}
    wanted = {DagsterEventType.STEP_START, DagsterEventType.ASSET_MATERIALIZATION}

    def elapsed() -> str:
        return f"{time.perf_counter() - started:6.1f} s"

    def watch() -> None:
        run_id, seen = None, 0
        partitions: dict[str, int] = {}  # partitioned asset -> partitions materialized so far

        def flush() -> None:
            for key, n in partitions.items():
                print(f"  {elapsed()}    materialized {key} ({n:,} partitions)", flush=True)
            partitions.clear()

        while True:
            done = stop.is_set()
            if run_id is None:
                runs = [r for r in instance.get_runs(limit=5) if r.run_id not in before]
                run_id = runs[0].run_id if runs else None
            if run_id is not None:
                events = instance.all_logs(run_id, of_type=wanted)
                for event in events[seen:]:
                    dagster_event = event.dagster_event
                    if dagster_event.event_type == DagsterEventType.STEP_START:
                        flush()
                        print(f"  {elapsed()}  step {dagster_event.step_key} ...", flush=True)
                    elif dagster_event.partition:
                        # one line per partition (a landed file, a month) would drown the rest
                        key = dagster_event.asset_key.to_user_string()
                        partitions[key] = partitions.get(key, 0) + 1
                        if partitions[key] % 100 == 0:
                            print(f"  {elapsed()}    ... {key}: {partitions[key]:,} partitions",
                                  flush=True)  # fmt: skip
                    else:
                        key = dagster_event.asset_key.to_user_string()
                        print(f"  {elapsed()}    materialized {key}", flush=True)
                seen = len(events)
            if done:
                flush()
                return
            stop.wait(interval)

    thread = threading.Thread(target=watch, name="demo-progress", daemon=True)
    print(f"  {elapsed()}  {first_line}", flush=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


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

    print(
        "Materializing every asset (ingest, staging, core, marts, checks, publication, report);"
        " each step as it starts:"
    )
    instance = dagster_instance(settings.data_path)
    try:
        with progress(instance, started, "preparing the run (new landed files become partitions)"):
            result = run_full_refresh(instance, raise_on_error=False, log_level="WARNING")
        if result.success:
            # The refresh leaves the report out (in `make dev` it follows each publication).
            from iop.report.__main__ import run_report_job

            with progress(instance, started, "the outcomes report (job outcomes_report)"):
                report_run = run_report_job(settings, instance)
            if not report_run.success:
                print("The outcomes report failed (see the Dagster UI: make dev).")
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
    report = settings.reports_dir / "latest.html"
    if report.exists():
        print(f"Outcomes report (open it in a browser): {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
