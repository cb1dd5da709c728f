"""`iop`: the pipeline from a terminal or cron, without the Dagster UI.

    iop refresh [--full]        what the landing sensor would run: new landed files become
                                partitions and one run ingests them and refreshes everything (with
                                nothing new, the iop_refresh job), incrementally unless a full
                                build is due; --full rebuilds staging, core and marts in full
                                (iop_full_refresh); exit status 0 on success, 1 when the run
                                failed, 2 when it could not start (key, configuration)
    iop status [--json]         landed files by status, the last run and its status, failing
                                checks, quarantined rows by rule, warehouse rebuilds (counts and
                                names of rules only: no patient data)
    iop quarantine --export F   audit.quarantine as CSV (file, row, rule, detail; the delivered
                                row too with --with-records: PHI, the file is written 0600)

Runs go to the persistent Dagster instance of the data folder (`$DAGSTER_HOME`, default
`$IOP_DATA_DIR/dagster_home`), so `make dev` shows them; a run whose process died is marked failed
and its pool slot freed before a new one starts (iop/ops/runs.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
from pathlib import Path

import duckdb

from iop.safe_text import csv_cell
from iop.settings import IopSettings, PseudonymKeyError

QUARANTINE_COLUMNS = (
    "feed", "layout", "source_file", "file_sha256", "row_number", "rule", "detail"
)  # fmt: skip


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    # tables and views; looked up first, as a missing one would start a replacement scan
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def warehouse_status(settings: IopSettings) -> dict:
    """Counts from the working database (read-only; a run writing it makes it busy)."""
    if not settings.warehouse_path.exists():
        return {"warehouse": "not built yet"}
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error as error:
        from iop.ops.recovery import damage_reason

        if "lock" in str(error).lower():
            return {"warehouse": "busy (a run is writing it); try again when it ends"}
        reason = damage_reason(error)
        if reason:
            return {"warehouse": f"damaged ({reason}); the next refresh rebuilds it from raw"}
        raise
    status: dict = {"warehouse": "ok"}
    try:
        if _table_exists(con, "audit", "landed_files"):
            status["landed_files"] = dict(
                _rows(con, "select status, count(*) from audit.landed_files group by 1 order by 1")
            )
        if _table_exists(con, "audit", "quarantine"):
            status["quarantine_by_rule"] = dict(
                _rows(
                    con,
                    "select rule, count(*) from audit.quarantine group by 1 order by 2 desc, 1",
                )
            )
        if _table_exists(con, "audit", "check_results"):
            # the latest result of each check: failing if that one failed
            status["failing_checks"] = [
                {"table": t, "check": c, "severity": s, "unexpected": n, "checked_at": str(at)}
                for t, c, s, n, at in _rows(
                    con,
                    """
                    select table_name, check_name, severity, unexpected_count, checked_at
                    from audit.check_results
                    qualify row_number() over (
                        partition by table_name, check_name order by checked_at desc
                    ) = 1 and status = 'failed'
                    order by severity, table_name, check_name
                    """,
                )
            ]
        if _table_exists(con, "audit", "warehouse_recoveries"):
            status["warehouse_rebuilds"] = [
                {"at": str(at), "reason": reason}
                for at, reason in _rows(
                    con,
                    "select recovered_at, reason from audit.warehouse_recoveries order by 1",
                )
            ]
    finally:
        con.close()
    return status


def run_status(settings: IopSettings) -> dict:
    """The latest run of the data folder's Dagster instance, and runs in progress."""
    from dagster import DagsterRunStatus, RunsFilter

    from iop.ops.runs import worker_status
    from iop.runner import dagster_instance

    instance = dagster_instance(settings.data_path)
    records = instance.get_run_records(limit=1)
    status: dict = {"last_run": None}
    if records:
        record = records[0]
        run = record.dagster_run
        status["last_run"] = {
            "run_id": run.run_id,
            "job": run.job_name,
            "status": run.status.value,
            "started": _timestamp(record.start_time),
            "ended": _timestamp(record.end_time),
        }
    in_progress = instance.get_run_records(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
    )
    status["runs_in_progress"] = [
        {"run_id": r.dagster_run.run_id, "worker": worker_status(instance, r.dagster_run)[1]}
        for r in in_progress
    ]
    return status


def _timestamp(value: float | None) -> str | None:
    from datetime import UTC, datetime

    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_status(status: dict) -> str:
    lines = [f"Warehouse: {status.get('warehouse')}"]
    files = status.get("landed_files")
    if files is not None:
        lines.append(f"Landed files: {sum(files.values())}")
        lines += [f"  {name:<12} {n:>6}" for name, n in files.items()]
    run = status.get("last_run")
    if run:
        lines.append(
            f"Last run: {run['status']} ({run['job']}, {run['run_id']}), "
            f"started {run['started']}, ended {run['ended'] or '-'}"
        )
    else:
        lines.append("Last run: none")
    for run in status.get("runs_in_progress") or []:
        lines.append(f"Run in progress: {run['run_id']} ({run['worker']})")
    failing = status.get("failing_checks")
    if failing is not None:
        lines.append(f"Failing checks: {len(failing)}")
        lines += [
            f"  [{c['severity']}] {c['table']}: {c['check']} ({c['unexpected']} unexpected)"
            for c in failing
        ]
    quarantine = status.get("quarantine_by_rule")
    if quarantine is not None:
        lines.append(f"Quarantined rows: {sum(quarantine.values())}")
        lines += [f"  {rule:<32} {n:>8}" for rule, n in quarantine.items()]
    rebuilds = status.get("warehouse_rebuilds")
    if rebuilds:
        last = rebuilds[-1]
        lines.append(
            f"Warehouse rebuilt from raw: {len(rebuilds)} time(s), last at {last['at'][:19]} "
            f"({last['reason']})"
        )
    return "\n".join(lines)


def export_quarantine(settings: IopSettings, out: Path, *, with_records: bool = False) -> int:
    """Write audit.quarantine as CSV; returns the number of rows."""
    columns = [*QUARANTINE_COLUMNS, *(["raw_record"] if with_records else [])]
    cell = csv_cell
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            f"select {', '.join(columns)} from audit.quarantine "
            "order by source_file, row_number, rule"
        ).fetchall()
    finally:
        con.close()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    # file names and details can identify a person, delivered rows certainly do: private file
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
    return len(rows)


def _refresh_kind(result) -> str | None:
    """How the run's dbt steps built ("incremental", "full: requested", ...: their metadata)."""
    for event in result.get_asset_materialization_events():
        value = event.step_materialization_data.materialization.metadata.get("refresh")
        if value is not None:
            return value.value
    return None


def cmd_refresh(args: argparse.Namespace) -> int:
    from iop.ops.recovery import damage_reported
    from iop.runner import dagster_instance, run_full_refresh

    settings = IopSettings.from_env()
    instance = dagster_instance(settings.data_path)
    try:
        options = {"full": args.full, "raise_on_error": False, "log_level": args.log_level}
        result = run_full_refresh(instance, **options)
        if not result.success and damage_reported(settings.warehouse_path):
            # DuckDB reported a damaged block during the run: once more, rebuilt from raw
            print("the warehouse reported damage: rebuilding it from raw", file=sys.stderr)
            result = run_full_refresh(instance, **options)
    except PseudonymKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.success:
        kind = _refresh_kind(result)
        print(
            f"refresh succeeded: run {result.run_id} ({result.dagster_run.job_name}"
            + (f", {kind})" if kind else ")")
        )
        return 0
    failed = sorted({e.step_key for e in result.all_events if e.is_step_failure})
    print(
        f"refresh failed: run {result.run_id}, steps: {', '.join(failed) or 'see make dev'}",
        file=sys.stderr,
    )
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    settings = IopSettings.from_env()
    status = {**warehouse_status(settings), **run_status(settings)}
    print(json.dumps(status, indent=1, default=str) if args.json else format_status(status))
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    settings = IopSettings.from_env()
    if not settings.warehouse_path.exists():
        print("error: no warehouse yet: run `iop refresh` first", file=sys.stderr)
        return 2
    try:
        count = export_quarantine(settings, Path(args.export), with_records=args.with_records)
    except duckdb.Error as error:
        print(f"error: the warehouse cannot be read now: {type(error).__name__}", file=sys.stderr)
        return 1
    print(f"{count} quarantined row(s) written to {args.export}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iop",
        description="Operate the IOP pipeline on $IOP_DATA_DIR (see the README, Operating it).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help="ingest new landed files and refresh everything")
    refresh.add_argument(
        "--full",
        action="store_true",
        help="rebuild staging, core and marts in full (default: incremental unless a full build "
        "is due)",
    )
    refresh.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    refresh.set_defaults(handler=cmd_refresh)
    status = commands.add_parser("status", help="files, last run, failing checks, quarantine")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)
    quarantine = commands.add_parser("quarantine", help="export the quarantined rows")
    quarantine.add_argument("--export", required=True, metavar="FILE", help="CSV file to write")
    quarantine.add_argument(
        "--with-records",
        action="store_true",
        help="include each delivered row as received (patient data)",
    )
    quarantine.set_defaults(handler=cmd_quarantine)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
