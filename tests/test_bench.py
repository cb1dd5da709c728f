"""The benchmark harness runs at a tiny size and reports every field (structure, not speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_reports_every_phase_and_ratio(tmp_path):
    env = {"IOP_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "IOP_DUCKDB_THREADS": "2"}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_bench.py"), "--size", "XS"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| phase | rows in | seconds | rows/s | peak RSS (MiB) |" in completed.stdout

    [report_path] = (tmp_path / "bench").glob("bench_XS_*.json")
    report = json.loads(report_path.read_text())
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] > 0
    assert report["rows_in_total"] == sum(report["rows_in"].values()) > 0
    assert set(report["phases"]) == {"generate", "load", "bare", "pipeline", "incremental", "naive"}
    for name, phase in report["phases"].items():
        assert phase["seconds"] > 0, name
        assert phase["peak_rss_mb"] > 0, name
        assert phase["rows_in"] > 0 and phase["rows_per_second"] > 0, name
    assert report["phases"]["pipeline"]["success"] is True
    assert report["phases"]["pipeline"]["validation_seconds"] > 0
    assert set(report["ratios"]) == {
        "pipeline_over_bare",
        "pipeline_over_load",
        "naive_over_pipeline",
        "incremental_over_full",
        "validation_share_of_pipeline",
    }
    assert all(isinstance(v, float) for v in report["ratios"].values())
