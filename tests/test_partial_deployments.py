"""Partial deployments: a payer has no attendance feed, a provider may start without claims.

Generated XS data with only the claims feed (and then only the EHR feeds) landed: the run
succeeds and publishes; every check on a table resting only on a feed that never delivered a
file is `not_applicable` (row counts included), never failed; audit.feed_coverage says which
feeds the marts rest on.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import TEST_KEY, query

from iop import dbt_project

MARTS = tuple(sorted(m.table_name for m in dbt_project.models("marts")))


def _deployment(tmp_path_factory, keep: tuple[str, ...]):
    data_dir = tmp_path_factory.mktemp("partial") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=60, seed=12, claims_only_members=20)
        for feed in ("attendance", "roster", "census", "claims"):
            if feed not in keep:
                shutil.rmtree(data_dir / "landing" / feed)
        result = run_full_refresh(raise_on_error=False)
    return data_dir, result


@pytest.fixture(scope="module")
def claims_only(tmp_path_factory):
    return _deployment(tmp_path_factory, ("claims",))


@pytest.fixture(scope="module")
def attendance_only(tmp_path_factory):
    return _deployment(tmp_path_factory, ("attendance",))


def _latest_status(data_dir, table: str) -> dict[str, str]:
    return dict(
        query(
            data_dir,
            "select check_name, arg_max(status, checked_at) from audit.check_results "
            "where table_name = ? group by 1",
            [table],
        )
    )


def _published(data_dir) -> dict[str, int]:
    return {
        mart: query(data_dir, f"select count(*) from main.{mart}", database="marts.duckdb")[0][0]
        for mart in MARTS
    }


def test_claims_only_builds_and_publishes(claims_only):
    data_dir, result = claims_only
    assert result.success
    published = _published(data_dir)
    assert set(published) == set(MARTS)
    assert published["episodes"] > 0  # claims-only episodes
    # without sessions the as-of date is the latest care-span day, so openness is decided
    nulls, episodes = query(
        data_dir, "select count(*) filter (where is_open is null), count(*) from core.episodes"
    )[0]
    assert nulls == 0 and episodes > 0
    assert query(data_dir, "select count(distinct as_of_date) from core.episodes") == [(1,)]
    for table in ("staging.attendance", "core.sessions", "staging.roster", "staging.census"):
        statuses = _latest_status(data_dir, table)
        assert statuses, table
        assert set(statuses.values()) == {"not_applicable"}, (table, statuses)
    assert "failed" not in _latest_status(data_dir, "staging.claims").values()
    assert query(data_dir, "select feed, delivered from audit.feed_coverage order by feed") == [
        ("attendance", False),
        ("census", False),
        ("claims", True),
        ("roster", False),
    ]


def test_attendance_only_builds_and_publishes(attendance_only):
    data_dir, result = attendance_only
    assert result.success
    published = _published(data_dir)
    assert set(published) == set(MARTS)
    assert published["program_quality_monthly_overall"] > 0
    assert published["program_quality_monthly_by_program"] > 0
    for table in ("staging.claims", "core.claim_lines", "staging.roster", "staging.census"):
        statuses = _latest_status(data_dir, table)
        assert set(statuses.values()) == {"not_applicable"}, (table, statuses)
    assert "failed" not in _latest_status(data_dir, "staging.attendance").values()
    assert query(data_dir, "select feed, delivered from audit.feed_coverage order by feed") == [
        ("attendance", True),
        ("census", False),
        ("claims", False),
        ("roster", False),
    ]


def test_a_feed_that_delivered_an_empty_table_still_fails_its_row_count(tmp_path, monkeypatch):
    # The rule is "never delivered", not "empty": a delivered header-only file still fails.
    import duckdb

    from iop import validation

    con = duckdb.connect()
    con.execute("create schema raw; create schema staging")
    con.execute("create table raw.registry (feed varchar, status varchar)")
    con.execute("insert into raw.registry values ('attendance', 'ingested'), ('claims', 'ignored')")
    assert validation.undelivered_feeds(con, ("attendance",)) == []
    assert validation.undelivered_feeds(con, ("claims",)) == ["claims"]
    con.execute("create table staging.attendance (client_id varchar)")
    suite = validation.load_suite(validation.EXPECTATIONS_DIR / "staging.attendance.json")
    expectations = tuple(e for e in suite if e.type == "expect_table_row_count_to_be_between")
    results = validation.validate_table(con, "staging.attendance", expectations[:1])
    assert [r.status for r in results] == ["failed"]
    con.execute("delete from raw.registry")
    results = validation.validate_table(con, "staging.attendance", expectations[:1])
    assert [r.status for r in results] == ["not_applicable"]


def test_remittances_before_any_claim_file_do_not_block(tmp_path):
    # A payer's 835s may land before the first claim file of the feed: the claims tables are empty
    # by design then, their checks not applicable; a claim file delivered empty still fails.
    import duckdb

    from iop import validation

    con = duckdb.connect()
    con.execute("create schema raw; create schema staging")
    con.execute("create table raw.registry (feed varchar, layout varchar, status varchar)")
    con.execute("insert into raw.registry values ('claims', 'remittance_835', 'ingested')")
    con.execute("create table staging.claims (claim_id varchar)")
    assert validation.suite_layouts("staging.claims") == ("claims_csv",)
    assert validation.undelivered_feeds(con, ("claims",)) == []
    assert validation.undelivered_layouts(con, ("claims_csv",)) == ["claims_csv"]
    suite = validation.load_suite(validation.EXPECTATIONS_DIR / "staging.claims.json")
    count = tuple(e for e in suite if e.type == "expect_table_row_count_to_be_between")[:1]
    results = validation.validate_table(con, "staging.claims", count)
    assert [r.status for r in results] == ["not_applicable"]
    assert "no claims_csv file was delivered" in results[0].details["not_applicable"]
    con.execute("insert into raw.registry values ('claims', 'claims_csv', 'ingested')")
    results = validation.validate_table(con, "staging.claims", count)
    assert [r.status for r in results] == ["failed"]
