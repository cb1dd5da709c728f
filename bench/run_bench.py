"""Benchmark: the pipeline against its floors, at one size, on one generated input.

    make bench SIZE=S|M|L          (or: python bench/run_bench.py --size S)

Phases, each in its own process on the same landed files:
  load         DuckDB reads every landed file once into typed tables — the I/O floor
  bare         the dbt models compiled to SQL, run in order on one plain DuckDB connection — no
               dbt, no Dagster, no GX
  pipeline     a full Dagster materialization of every asset and check (fresh IOP_DATA_DIR)
  incremental  one more day of attendance and claims lands; the refresh that brings marts up to date
  naive        pandas read_csv + GX pandas validation + the same SQL on the frames (S and M only)
  spark        the pipeline phase with IOP_ENGINE=spark: the same models and checks on a local
               Spark (local[<cores>], driver memory IOP_SPARK_DRIVER_MEMORY), from a fresh data
               folder; at S by default (needs Java), other sizes with --only spark

Reports wall seconds, input rows per second and peak resident memory of the whole process tree,
as a Markdown table on stdout and JSON under $IOP_DATA_DIR/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Generator parameters per size. Rows per client are measured, not assumed: the JSON records the
# actual row counts. M and L keep claims ≥ attendance through claims-only members and noise lines.
SIZES = {
    "XS": {"clients": 60, "claims_only_members": 20, "noise_claim_lines_per_member": 2},
    "S": {"clients": 2_000, "claims_only_members": 500, "noise_claim_lines_per_member": 2},
    # measured densities: ~54 attendance rows and ~25 claim lines per EHR client, ~21 claim lines
    # per claims-only member, plus the noise lines per member
    "M": {"clients": 95_000, "claims_only_members": 60_000, "noise_claim_lines_per_member": 12},
    "L": {"clients": 375_000, "claims_only_members": 250_000, "noise_claim_lines_per_member": 29},
}
NAIVE_SIZES = {"XS", "S", "M"}
SPARK_SIZES = {"S"}


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(label: str, command: list[str], env: dict[str, str]) -> dict:
    """Run a command, polling its process tree's RSS; show live status on stderr."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    peak = 0
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(process.stderr.read()))
    reader.start()
    interactive = sys.stderr.isatty()
    last_line = 0.0
    while process.poll() is None:
        peak = max(peak, _tree_rss_bytes(process.pid))
        elapsed = time.perf_counter() - started
        if interactive:
            print(
                f"\r  {label:<12} {elapsed:7.1f} s   rss {peak / 2**30:5.2f} GiB",
                end="",
                file=sys.stderr,
                flush=True,
            )
        elif elapsed - last_line >= 30:
            print(f"  {label}: {elapsed:.0f} s, peak rss {peak / 2**30:.2f} GiB", file=sys.stderr)
            last_line = elapsed
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    stdout = process.stdout.read()
    reader.join()
    if interactive:
        print("", file=sys.stderr)
    if process.returncode != 0:
        raise RuntimeError(
            f"{label} failed ({process.returncode}):\n{''.join(stderr_chunks)[-4000:]}"
        )
    details = {}
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            details = json.loads(line)
            break
    print(f"  {label:<12} {seconds:8.1f} s   peak rss {peak / 2**30:5.2f} GiB", file=sys.stderr)
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peak / 2**20, 1), **details}


# An X12 service line (837P SV1, 837I SV2, 835 SVC) is one input row, as a CSV data line is.
X12_SERVICE_LINE = re.compile(rb"(?:^|~)\s*SV[12C]\*")


def _count_rows(landing: Path) -> dict[str, int]:
    counts = {}
    for feed_dir in sorted(p for p in landing.iterdir() if p.is_dir()):
        total = 0
        for path in feed_dir.glob("*.csv"):
            with path.open("rb") as handle:
                total += (
                    sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b"")) - 1
                )
        for path in feed_dir.glob("*.8[34]*"):
            total += len(X12_SERVICE_LINE.findall(path.read_bytes()))
        counts[feed_dir.name] = total
    return counts


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link a folder of landed files into a fresh data folder (no copy of gigabytes)."""
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, destination)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-data", action="store_true", help="reuse generated input if present")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--only",
        help="comma-separated phases to run (load,bare,pipeline,incremental,naive,spark)",
    )
    args = parser.parse_args(argv)

    data_dir = Path(os.environ.get("IOP_DATA_DIR", ROOT / "data")).resolve()
    bench_dir = data_dir / "bench"
    size_dir = bench_dir / args.size
    generated = size_dir / "input"
    python = sys.executable
    env = {
        **os.environ,
        "IOP_PSEUDONYM_KEY": os.environ.get(
            "IOP_PSEUDONYM_KEY", "benchmark-key-not-secret-0123456789abcdef"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("IOP_DEMO", None)

    params = SIZES[args.size]
    print(f"Benchmark size {args.size}: {params}", file=sys.stderr)
    results: dict[str, dict] = {}
    if not (args.keep_data and (generated / "truth" / "manifest.json").exists()):
        shutil.rmtree(size_dir, ignore_errors=True)
        generated.mkdir(parents=True)
        command = [
            python,
            "-m",
            "iop.generator.cli",
            "--clients",
            str(params["clients"]),
            "--seed",
            str(args.seed),
            "--out",
            str(generated),
            "--hold-back-days",
            "1",
            "--claims-only-members",
            str(params["claims_only_members"]),
            "--noise-claim-lines-per-member",
            str(params["noise_claim_lines_per_member"]),
            "--quiet",
        ]
        results["generate"] = run_measured("generate", command, env)
    for work in ("compile", "load", "bare", "pipeline", "naive", "spark"):
        shutil.rmtree(size_dir / work, ignore_errors=True)

    landing = generated / "landing"
    rows = _count_rows(landing)
    holdback_rows = _count_rows(generated / "holdback") if (generated / "holdback").exists() else {}
    rows_in = sum(rows.values())

    def phase(name: str, work: str, extra_env: dict[str, str] | None = None) -> dict:
        phase_env = {**env, **(extra_env or {})}
        return run_measured(
            name,
            [
                python,
                str(ROOT / "bench" / "phases.py"),
                name if name not in ("incremental", "spark") else "pipeline",
                "--landing",
                str(landing),
                "--work",
                str(size_dir / work),
            ],
            phase_env,
        )

    # dbt compiles the models once, untimed: bare and naive run the compiled SQL
    (size_dir / "compile").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [python, str(ROOT / "bench" / "phases.py"), "compile", "--landing", str(landing),
         "--work", str(size_dir / "compile")],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    wanted = set(args.only.split(",")) if args.only else None

    def runs(name: str) -> bool:
        return wanted is None or name in wanted

    if runs("load"):
        results["load"] = phase("load", "load")
    if runs("bare"):
        results["bare"] = phase("bare", "bare")
    pipeline_data = size_dir / "pipeline" / "data"
    _link_tree(landing, pipeline_data / "landing")
    pipeline_env = {"IOP_DATA_DIR": str(pipeline_data)}
    results["pipeline"] = phase("pipeline", "pipeline", pipeline_env)
    if holdback_rows and runs("incremental"):
        _link_tree(generated / "holdback", pipeline_data / "landing")
        results["incremental"] = phase("incremental", "pipeline", pipeline_env)
    if args.size in NAIVE_SIZES and not args.skip_naive and runs("naive"):
        results["naive"] = phase("naive", "naive")
    spark_wanted = runs("spark") and (wanted is not None or args.size in SPARK_SIZES)
    if spark_wanted and shutil.which("java") is None:
        print(
            "spark phase skipped: Java is not installed (Spark 4 needs a JDK 17+)", file=sys.stderr
        )
    elif spark_wanted:
        spark_data = size_dir / "spark" / "data"
        _link_tree(landing, spark_data / "landing")
        results["spark"] = phase(
            "spark", "spark", {"IOP_DATA_DIR": str(spark_data), "IOP_ENGINE": "spark"}
        )

    for name, result in results.items():
        counted = sum(holdback_rows.values()) if name == "incremental" else rows_in
        result["rows_in"] = counted
        result["rows_per_second"] = (
            round(counted / result["seconds"]) if result["seconds"] else None
        )

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results and results[b]["seconds"]:
            return round(results[a]["seconds"] / results[b]["seconds"], 3)
        return None

    pipeline = results["pipeline"]
    report = {
        "size": args.size,
        "generator_parameters": params,
        "seed": args.seed,
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "duckdb": {
            "memory_limit": os.environ.get("IOP_DUCKDB_MEMORY_LIMIT", "4GB"),
            "threads": os.environ.get("IOP_DUCKDB_THREADS", str(os.cpu_count())),
        },
        "rows_in": rows,
        "rows_in_total": rows_in,
        "holdback_rows": holdback_rows,
        "phases": results,
        "ratios": {
            "pipeline_over_bare": ratio("pipeline", "bare"),
            "pipeline_over_load": ratio("pipeline", "load"),
            "naive_over_pipeline": ratio("naive", "pipeline"),
            "incremental_over_full": ratio("incremental", "pipeline"),
            "validation_share_of_pipeline": round(
                pipeline.get("validation_seconds", 0) / pipeline["seconds"], 3
            ),
        },
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if "spark" in results:
        report["ratios"]["spark_over_pipeline"] = ratio("spark", "pipeline")
    bench_dir.mkdir(parents=True, exist_ok=True)
    out = bench_dir / f"bench_{args.size}_{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(render_markdown(report))
    print(f"\nJSON: {out}")
    return report


def render_markdown(report: dict) -> str:
    lines = [
        f"### Benchmark {report['size']} — {report['rows_in_total']:,} input rows "
        f"({', '.join(f'{k} {v:,}' for k, v in report['rows_in'].items())}); "
        f"{report['machine']['cores']} cores, {report['machine']['memory_gib']} GiB",
        "",
        "| phase | rows in | seconds | rows/s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in report["phases"].items():
        lines.append(
            f"| {name} | {r['rows_in']:,} | {r['seconds']:.1f} | "
            f"{(r['rows_per_second'] or 0):,} | {r['peak_rss_mb']:,.0f} |"
        )
    lines.append("")
    lines.append("| ratio | value |")
    lines.append("|---|---:|")
    for name, value in report["ratios"].items():
        lines.append(f"| {name.replace('_', ' ')} | {'—' if value is None else value} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
