"""The pseudonym key is checked before anything runs (missing, short, the public demo key outside
the demo) and PHI is written private: raw/, its registry and the working database 0600/0700
whatever the umask, the published marts with the operator's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import builders as b
import pytest
from conftest import TEST_KEY, materialize

from iop.settings import (
    DEMO_MARKER,
    DEMO_PSEUDONYM_KEY,
    MissingPseudonymKey,
    WeakPseudonymKey,
    demo_mode,
    pseudonym_key,
)

PROJECT = Path(__file__).resolve().parents[1]


def test_the_test_key_is_long_enough():
    assert len(TEST_KEY.encode()) >= 32


def test_a_short_key_is_refused_with_its_length(data_dir, monkeypatch):
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", "x")
    with pytest.raises(WeakPseudonymKey, match="is 1 bytes long; at least 32 are required"):
        pseudonym_key()
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", "k" * 31)
    with pytest.raises(WeakPseudonymKey, match="openssl rand -hex 32"):
        pseudonym_key()
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", "k" * 32)
    assert pseudonym_key() == b"k" * 32


def test_the_demo_key_only_in_demo_mode(data_dir, monkeypatch):
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)
    assert not demo_mode()
    with pytest.raises(WeakPseudonymKey, match="the public demo key, and this is not demo data"):
        pseudonym_key()
    monkeypatch.delenv("IOP_PSEUDONYM_KEY")
    with pytest.raises(MissingPseudonymKey, match="IOP_PSEUDONYM_KEY is not set"):
        pseudonym_key()
    # explicit demo mode
    monkeypatch.setenv("IOP_DEMO", "1")
    assert pseudonym_key() == DEMO_PSEUDONYM_KEY.encode()
    monkeypatch.delenv("IOP_DEMO")
    # a data folder the generator made
    from iop.generator import generate

    generate(data_dir, clients=5, seed=1)
    assert (data_dir / DEMO_MARKER).is_file()
    assert demo_mode()
    assert pseudonym_key() == DEMO_PSEUDONYM_KEY.encode()
    # a real key still wins on demo data
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    assert pseudonym_key() == TEST_KEY.encode()


def _environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"IOP_PSEUDONYM_KEY", "IOP_DEMO"}}
    env.update(IOP_DATA_DIR=str(data_dir), PYTHONPATH=str(PROJECT), **extra)
    return env


def test_definitions_refuse_to_load_without_a_key(data_dir):
    done = subprocess.run(
        [sys.executable, "-c", "import pipelines.definitions"],
        cwd=PROJECT, env=_environment(data_dir), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "MissingPseudonymKey: IOP_PSEUDONYM_KEY is not set" in done.stderr


def test_make_dev_on_non_demo_data_without_a_key_refuses(data_dir):
    """`make dev` no longer defaults to the demo key: on a data folder the generator did not make
    and without IOP_DEMO=1 it stops before starting Dagster, naming the variable."""
    (data_dir / "landing" / "attendance").mkdir(parents=True)
    # -o: the virtualenv stamp is not rebuilt; BIN: this interpreter's environment
    done = subprocess.run(
        ["make", "-o", ".venv/.installed", "dev", f"BIN={Path(sys.executable).parent}"],
        cwd=PROJECT, env=_environment(data_dir), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "error: IOP_PSEUDONYM_KEY is not set" in done.stderr
    assert "dagster dev" not in done.stdout
    assert not (data_dir / "dagster_home").exists()
    # the same check passes with a real key (not started here: it would serve the UI)
    checked = subprocess.run(
        [sys.executable, "-m", "iop.keys", "check"],
        cwd=PROJECT, env=_environment(data_dir, IOP_PSEUDONYM_KEY=TEST_KEY),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "IOP_PSEUDONYM_KEY ok" in checked.stdout


def test_the_fingerprint_does_not_reveal_the_key():
    from iop.keys import fingerprint

    assert fingerprint(b"a" * 32) == fingerprint(b"a" * 32) != fingerprint(b"b" * 32)
    assert "a" * 8 not in fingerprint(b"a" * 32)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "published"), [(0o022, 0o644), (0o077, 0o600)])
def test_phi_is_written_private_and_marts_follow_the_umask(data_dir, umask, published):
    landing = data_dir / "landing"
    b.write_csv(
        landing / "attendance/w.csv",
        "attendance_vendor_b",
        b.vendor_b_sessions("B-000001", "IOP", b.days(date(2025, 1, 6), 0, 2)),
    )
    b.write_csv(landing / "roster/r.csv", "roster_standard", [b.roster_row("B-000001", "MCD1")])
    claims = [b.claim_line("K1", "MCD1", date(2025, 1, 6))]
    b.write_csv(landing / "claims/c.csv", "claims_csv", claims)
    previous = os.umask(umask)
    try:
        assert materialize().success
    finally:
        os.umask(previous)
    raw = data_dir / "raw"
    parquet = list(raw.rglob("*.parquet"))
    registry = [p for p in (raw / "_registry").glob("*.json")]
    assert parquet and registry
    for path in [*parquet, *registry, data_dir / "warehouse.duckdb"]:
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    for folder in [raw, *(p for p in raw.rglob("*") if p.is_dir())]:
        assert _mode(folder) == 0o700, (folder, oct(_mode(folder)))
    for path in [data_dir / "marts.duckdb", *(data_dir / "marts").glob("*.parquet")]:
        assert _mode(path) == published, (path, oct(_mode(path)))
