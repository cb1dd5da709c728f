"""End to end: generated data with known truth → a real Dagster run → marts that recover it.

The generator writes what it planted to $IOP_DATA_DIR/truth/ (never read by the pipeline): the
true episodes, transitions and bad rows. Every one must be recovered exactly.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import TEST_KEY, query

CLIENTS = 400


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=CLIENTS, seed=20251126)
        result = run_full_refresh()
    assert result.success
    return data_dir


def _truth(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir / "truth" / name, dtype=str, keep_default_na=False)


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def test_every_planted_episode_is_recovered_exactly(run):
    truth = _truth(run, "episodes.csv")
    expected = {
        (
            r.person_id,
            r.level_of_care,
            _date(r.start_date),
            _date(r.end_date),
            int(r.length_of_stay),
        )
        for r in truth.itertuples()
    }
    actual = set(
        query(
            run,
            "select person_id, level_of_care, start_date, end_date, length_of_stay "
            "from core.episodes",
        )
    )
    assert len(expected) > CLIENTS  # a real journey mix, not a handful
    assert actual - expected == set(), "episodes the generator did not plant"
    assert expected - actual == set(), "planted episodes not recovered"


def test_open_flags_and_census_discharge_reasons_match(run):
    truth = _truth(run, "episodes.csv")
    expected = {
        (r.person_id, r.level_of_care, _date(r.start_date)): (
            r.is_open.lower() == "true",
            r.discharge_reason or None,
        )
        for r in truth.itertuples()
    }
    actual = {
        (p, lvl, s): (is_open, reason)
        for p, lvl, s, is_open, reason in query(
            run,
            "select person_id, level_of_care, start_date, is_open, discharge_reason "
            "from core.episodes",
        )
    }
    assert actual == expected
    reasons = {reason for _, reason in actual.values() if reason}
    assert {"completed", "dropped_out", "transferred"} <= reasons


def test_every_planted_transition_is_recovered_with_levels_and_days(run):
    truth = _truth(run, "transitions.csv")
    expected = {
        (
            r.person_id,
            r.from_level,
            _date(r.from_end_date),
            r.to_level or None,
            _date(r.to_start_date) if r.to_level else None,
            int(r.days_between) if r.to_level else None,
        )
        for r in truth.itertuples()
    }
    actual = set(
        query(
            run,
            "select person_id, from_level, from_end_date, to_level, "
            "case when within_window then next_start_date end, days_between from core.transitions",
        )
    )
    assert sum(1 for e in expected if e[3] is not None) > CLIENTS / 4
    assert actual == expected


def test_row_accounting_reconciles_for_every_file(run):
    rows = query(
        run,
        "select source_file, rows_read, rows_accepted, rows_quarantined, status "
        "from audit.landed_files",
    )
    landing = run / "landing"
    assert len(rows) == sum(1 for p in landing.rglob("*") if p.is_file())
    for source_file, read, accepted, quarantined, status in rows:
        assert status == "ingested", source_file
        assert read == _data_rows(landing / source_file), source_file
        assert read == accepted + quarantined, source_file


def _data_rows(path: Path) -> int:
    """CSV rows after the header; for X12, the SV1/SV2/SVC segments (a plain split)."""
    text = path.read_text()
    if text.startswith("ISA"):
        element, terminator = text[3], text[105]
        segments = (s.strip().split(element)[0] for s in text.split(terminator))
        return sum(1 for s in segments if s in ("SV1", "SV2", "SVC"))
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_x12_claims_and_their_versions_are_in_the_run(run):
    """Part of the generated claims are 837P/837I files with 835 remittances; their
    replacements and voids (same CLM01, REF*F8 = the payer's number from the 835) all resolve,
    and the data-quality results record the count of unresolved versions (0)."""
    layouts = dict(
        query(
            run,
            "select regexp_extract(source_file, '[.]([a-z0-9]+)$', 1) || ' ' || layout, count(*) "
            "from audit.landed_files where status = 'ingested' group by 1",
        )
    )
    assert {"837p claims_csv", "837i claims_csv", "835 remittance_835"} <= set(layouts)
    kinds = {
        k
        for (k,) in query(
            run,
            "select distinct claim_type from staging.claims_csv where _source_file like '%.837%'",
        )
    }
    assert kinds == {"professional", "institutional"}
    links = dict(
        query(
            run,
            "select linked_by, count(*) from audit.claim_versions "
            "where source_file like '%.837%' group by linked_by",
        )
    )
    assert links.get("same_claim_id", 0) > 0, links
    assert None not in links
    assert query(
        run, "select count(*) from audit.claim_versions where version_flag is not null"
    ) == [(0,)]
    assert query(
        run,
        "select observed_value, status, severity from audit.check_results "
        "where check_name = 'claim_versions_resolved'",
    ) == [("0", "passed", "warning")]


def test_every_planted_bad_row_is_quarantined_with_its_rule(run):
    truth = _truth(run, "bad_rows.csv")
    expected = {(r.file, int(r.row_number), r.rule) for r in truth.itertuples()}
    actual = set(query(run, "select source_file, row_number, rule from audit.quarantine"))
    assert len(expected) > 0
    assert actual == expected


def test_published_marts_hold_the_four_marts_without_identifiers(run):
    import duckdb

    con = duckdb.connect(str(run / "marts.duckdb"), read_only=True)
    try:
        for mart in (
            "episodes",
            "length_of_stay_by_level",
            "step_down_transitions_overall",
            "demographic_utilization",
        ):
            assert con.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart
        episodes = con.execute("select count(*) from marts.episodes").fetchone()[0]
        columns = {
            r[0]
            for r in con.execute("select column_name from information_schema.columns").fetchall()
        }
    finally:
        con.close()
    assert episodes == query(run, "select count(*) from core.episodes")[0][0]
    assert not columns & {
        "client_id",
        "member_id",
        "birth_date",
        "first_name",
        "last_name",
        "zip",
        "person_id",
        "start_date",
        "end_date",
    }
