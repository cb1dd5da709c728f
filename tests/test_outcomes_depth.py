"""Cost of care, treatment intensity, diagnosis groups and power, end to end.

The generator plants claim amounts, 835 remittances for part of the claims, attended minutes and
ICD-10-CM diagnoses, and writes per truth episode what a correct pipeline finds
(truth/episode_costs.csv, episode_weeks.csv, episode_diagnoses.csv; iop/generator/outcomes.py).
One generated run; every core row must match the truth exactly, and the marts must equal what
the truth gives where they publish a value. The power formula (sql/macros/power.sql) is checked
against a worked textbook example and an independent computation with the standard library's
normal quantiles.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist

import duckdb
import jinja2
import pandas as pd
import pytest
from conftest import TEST_KEY, query

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "sql" / "seeds"
CLIENTS = 300


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("outcomes") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.setenv("IOP_DUCKDB_THREADS", "2")
        mp.delenv("IOP_DEMO", raising=False)
        from iop.generator import generate
        from iop.runner import run_full_refresh

        generate(data_dir, clients=CLIENTS, seed=20261129)
        assert run_full_refresh(log_level="WARNING").success
    return data_dir


def _truth(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir / "truth" / name, dtype=str, keep_default_na=False)


def _money(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _published(data_dir: Path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        return con.execute(f"select * from {table}").df()
    finally:
        con.close()


# ---------------------------------------------------------------------------------- cost


def test_every_episode_cost_is_recovered_exactly(run):
    truth = _truth(run, "episode_costs.csv")
    expected = {
        (r.person_id, r.level_of_care, r.start_date): (
            int(r.claim_lines),
            int(r.remitted_lines),
            _money(r.allowed_amount),
            _money(r.paid_amount),
            round(Decimal(r.attended_minutes) / 60, 2) if r.attended_minutes else None,
        )
        for r in truth.itertuples()
    }
    rows = query(
        run,
        "select e.person_id, e.level_of_care, e.start_date::varchar, c.claim_lines, "
        "c.remitted_lines, c.allowed_amount, c.paid_amount, c.attended_hours "
        "from core.episode_costs as c join core.episodes as e using (episode_id)",
    )
    actual = {
        (p, lvl, s): (n, rem, allowed, paid, None if hours is None else Decimal(str(hours)))
        for p, lvl, s, n, rem, allowed, paid, hours in rows
    }
    assert actual == expected
    # the planted mix: remitted, claim-only and mixed episodes, EHR-only and claims-only ones
    sources = dict(
        query(run, "select paid_amount_source, count(*) from core.episode_costs group by all")
    )
    assert {"remittance_835", "claim", "mixed", None} <= set(sources), sources
    coverage = dict(
        query(run, "select cost_coverage, count(*) from core.episode_costs group by all")
    )
    assert set(coverage) == {"ehr_only", "claims_only", "ehr_and_claims"}


def test_remittances_change_the_paid_amount_and_denials_pay_nothing(run):
    # the generator remits 97% of allowed, never the claim's own paid amount for Medicaid
    rows = query(
        run,
        "select remittance_status, count(*), count(*) filter (where remitted_paid_amount <> "
        "paid_amount) from core.claim_lines where remittance_status is not null group by all",
    )
    by_status = {s: (n, differs) for s, n, differs in rows}
    assert set(by_status) == {"paid", "denied"}
    assert by_status["paid"][1] > 0
    assert query(
        run, "select count(*) from core.claim_lines where remittance_status = 'denied' "
        "and remitted_paid_amount <> 0"
    ) == [(0,)]  # fmt: skip


def test_revenue_code_only_837i_lines_are_remitted_through_svc01_nu(run):
    # Medicare's 837I lines billed by revenue code alone come back as SVC*NU:<revenue code>: the
    # run must contain some (else the truth comparison above would not exercise the rule), and
    # every one of them is matched, so their episodes have a paid amount
    rows = query(
        run,
        "select count(*), count(remitted_paid_amount) from core.claim_lines "
        "where payer = 'Medicare' and claim_type = 'institutional' and procedure_code is null "
        "and revenue_code is not null",
    )
    ((lines, remitted),) = rows
    assert lines > 0 and remitted == lines


def test_a_claim_is_remitted_by_one_835_stream_only(run):
    # the planted remittances (remit_*.835) leave X12 claims to their payer's own 835s
    folder = run / "landing" / "claims"

    def clp01(pattern: str) -> set[str]:
        return {
            segment.split("*")[1]
            for path in folder.glob(pattern)
            for segment in path.read_text().split("~\n")
            if segment.startswith("CLP*")
        }

    planted, x12 = clp01("remit_*.835"), clp01("remittance_*.835")
    assert planted and x12 and planted.isdisjoint(x12)
    assert not list(folder.glob("remit_medicare_*"))


def test_episode_cost_mart_marks_missing_cost_and_hours_as_null(run):
    mart = _published(run, "episode_cost")
    ehr_only = mart[mart.cost_coverage == "ehr_only"]
    claims_only = mart[mart.cost_coverage == "claims_only"]
    assert len(ehr_only) and len(claims_only)
    assert ehr_only[["allowed_amount", "paid_amount", "allowed_per_day"]].isna().all().all()
    assert ehr_only.attended_hours.notna().all()
    assert claims_only[["attended_hours", "allowed_per_attended_hour"]].isna().all().all()
    # an allowed amount for every claims-only episode but those with an 837 line (X12 claims
    # carry none): Medicare's, exactly as many as the truth blanks
    costs = _truth(run, "episode_costs.csv").merge(
        _truth(run, "episodes.csv"), on=["person_id", "level_of_care", "start_date"]
    )
    blank = costs[(costs.source == "claims") & (costs.allowed_amount == "")]
    assert 0 < len(blank) < len(claims_only)
    assert claims_only.allowed_amount.isna().sum() == len(blank)
    assert set(claims_only[claims_only.allowed_amount.isna()].payer) == {"Medicare"}
    both = mart[(mart.cost_coverage == "ehr_and_claims") & (mart.attended_hours > 0)]
    per_day = (both.allowed_amount.astype(float) / both.length_of_stay).round(2)
    assert (per_day - both.allowed_per_day.astype(float)).abs().max() < 0.0101  # a cent: ties
    per_hour = (both.paid_amount.astype(float) / both.attended_hours.astype(float)).round(2)
    assert (per_hour - both.paid_per_attended_hour.astype(float)).abs().max() < 0.0101


def _closed_costs(run) -> pd.DataFrame:
    costs = _truth(run, "episode_costs.csv")
    episodes = _truth(run, "episodes.csv")
    df = costs.merge(episodes, on=["person_id", "level_of_care", "start_date"])
    df = df[(df.is_open == "false")].copy()
    df["allowed"] = pd.to_numeric(df.allowed_amount.replace("", None))
    df["paid"] = pd.to_numeric(df.paid_amount.replace("", None))
    return df


def test_cost_by_level_quartiles_match_the_truth(run):
    df = _closed_costs(run)
    mart = _published(run, "episode_cost_by_level").set_index("level_of_care")
    checked = 0
    for level, group in df.groupby("level_of_care"):
        row = mart.loc[level]
        if row.suppressed:
            continue
        costed = group.dropna(subset=["allowed", "paid"])
        assert row.episodes == len(group)
        assert row.costed_episodes == len(costed)
        if not pd.isna(row.episodes_without_claims):  # a count of its own, maybe suppressed
            assert row.episodes_without_claims == (group.claim_lines == "0").sum()
        for q, column in ((0.25, "p25"), (0.5, "median"), (0.75, "p75")):
            # within a cent: an interpolated quartile ending in half a cent rounds either way
            assert float(row[f"{column}_allowed_per_episode"]) == pytest.approx(
                costed.allowed.quantile(q), abs=0.0051
            )
            assert float(row[f"{column}_paid_per_episode"]) == pytest.approx(
                costed.paid.quantile(q), abs=0.0051
            )
        assert float(row.allowed_total) == pytest.approx(costed.allowed.sum(), abs=0.006)
        checked += 1
    assert checked >= 4


def test_cost_aggregates_are_one_grain_each_and_add_up(run):
    by_level = _published(run, "episode_cost_by_level")
    assert by_level.level_of_care.is_unique
    for mart, column in (
        ("episode_cost_by_program", "program"),
        ("episode_cost_by_payer", "payer"),
        ("episode_cost_monthly", "start_month"),
    ):
        df = _published(run, mart)
        assert not df.duplicated(["level_of_care", column]).any(), mart
        # where every row of a level is published, the rows add up to the level's row
        for level, group in df.groupby("level_of_care"):
            if group.suppressed.any():
                continue
            total = by_level.set_index("level_of_care").loc[level]
            assert group.episodes.sum() == total.episodes, (mart, level)


def test_step_down_cost_compares_iop_with_the_level_stepped_down_from(run):
    df = _published(run, "episode_cost_step_down")
    assert sorted(df.from_level) == ["PHP", "RES"]
    shown = df[~df.suppressed]
    assert len(shown)
    # per day, IOP is cheaper than the residential or partial-hospital stay it followed
    assert (shown.median_iop_allowed_per_day < shown.median_from_allowed_per_day).all()


# ----------------------------------------------------------------------------- intensity


def _thresholds() -> dict[tuple[str, str], float]:
    seed = pd.read_csv(SEEDS / "intensity_thresholds.csv", dtype=str)
    return {(r.level_of_care, r.age_band): float(r.min_hours_per_week) for r in seed.itertuples()}


def test_every_episode_week_is_recovered_exactly(run):
    truth = _truth(run, "episode_weeks.csv")
    expected = {
        (r.person_id, r.level_of_care, r.start_date, int(r.week_number)): int(r.minutes_attended)
        for r in truth.itertuples()
    }
    actual = {
        (p, lvl, s, w): m
        for p, lvl, s, w, m in query(
            run,
            "select w.person_id, w.level_of_care, e.start_date::varchar, w.week_number, "
            "w.minutes_attended from core.episode_weeks as w join core.episodes as e "
            "using (episode_id)",
        )
    }
    assert len(expected) > CLIENTS
    assert actual == expected
    assert 0 in set(expected.values())  # weeks without attendance are rows with 0 hours


def test_asam_minimum_is_judged_on_full_weeks_with_the_age_band_threshold(run):
    thresholds = _thresholds()
    rows = query(
        run,
        "select level_of_care, age_band, week_days, minutes_attended, meets_minimum "
        "from core.episode_weeks",
    )
    judged = 0
    for level, band, days, minutes, meets in rows:
        threshold = thresholds.get((level, band))
        if days < 7 or threshold is None:
            assert meets is None
        else:
            assert meets == (minutes >= threshold * 60)
            judged += 1
    assert judged > 100
    assert {r[4] for r in rows} == {True, False, None}


def test_treatment_intensity_shares_match_the_truth(run):
    weeks = _truth(run, "episode_weeks.csv")
    weeks["minutes"] = weeks.minutes_attended.astype(int)
    bands = {
        (p, lvl, s): band
        for p, lvl, s, band in query(
            run,
            "select distinct w.person_id, w.level_of_care, e.start_date::varchar, w.age_band "
            "from core.episode_weeks as w join core.episodes as e using (episode_id)",
        )
    }
    episodes = _truth(run, "episodes.csv").set_index(["person_id", "level_of_care", "start_date"])
    thresholds = _thresholds()
    levels = _published(run, "treatment_intensity_by_level").assign(program="All")
    programs = _published(run, "treatment_intensity_by_program")
    mart = pd.concat([levels, programs], ignore_index=True).set_index(["level_of_care", "program"])
    for level in ("IOP", "PHP"):
        w = weeks[weeks.level_of_care == level]
        judged = met = 0
        for r in w.itertuples():
            key = (r.person_id, r.level_of_care, r.start_date)
            ep = episodes.loc[key]
            start = pd.Timestamp(r.start_date) + pd.Timedelta(days=7 * (int(r.week_number) - 1))
            if (pd.Timestamp(ep.end_date) - start).days < 6:
                continue  # the last, partial week
            threshold = thresholds.get((level, bands[key]))
            if threshold is None:
                continue
            judged += 1
            met += r.minutes >= threshold * 60
        row = mart.loc[(level, "All")]
        assert not row.suppressed
        assert row.weeks_judged == judged
        assert float(row.share_weeks_meeting_minimum) == pytest.approx(met / judged, abs=5e-5)


def test_program_quality_monthly_carries_the_intensity_share(run):
    pqm = _published(run, "program_quality_monthly_by_program")
    overall = _published(run, "program_quality_monthly_overall")
    shown = pqm[(pqm.level_of_care == "IOP") & pqm.intensity_weeks_judged.notna()]
    assert len(shown) and shown.intensity_share_meeting_minimum.between(0, 1).all()
    assert pqm[pqm.level_of_care == "OP"].intensity_share_meeting_minimum.isna().all()
    totals = dict(
        query(
            run,
            "select level_of_care, count(*) filter (where meets_minimum is not null) "
            "from core.episode_weeks where full_week group by all",
        )
    )
    assert overall[overall.level_of_care == "OP"].intensity_share_meeting_minimum.isna().all()
    published = overall[~overall.intensity_weeks_judged.isna()]
    iop = published[published.level_of_care == "IOP"].intensity_weeks_judged.sum()
    assert 0 < iop <= totals["IOP"]


# ---------------------------------------------------------------------------- diagnoses


def test_every_episode_diagnosis_set_and_co_occurring_flag_is_recovered(run):
    truth = _truth(run, "episode_diagnoses.csv")
    expected = {
        (r.person_id, r.level_of_care, r.start_date): (
            r.diagnosis_codes or None,
            r.principal_diagnosis_code or None,
            {"true": True, "false": False, "": None}[r.co_occurring],
        )
        for r in truth.itertuples()
    }
    actual = {
        (p, lvl, s): (codes, principal, co)
        for p, lvl, s, codes, principal, co in query(
            run,
            "select e.person_id, e.level_of_care, e.start_date::varchar, d.diagnosis_codes, "
            "d.principal_diagnosis_code, d.co_occurring "
            "from core.episode_diagnoses as d join core.episodes as e using (episode_id)",
        )
    }
    assert actual == expected
    flags = [v[2] for v in expected.values()]
    assert flags.count(True) > 20 and flags.count(False) > 20 and flags.count(None) > 0


def test_principal_group_follows_the_seed(run):
    seed = pd.read_csv(SEEDS / "diagnosis_groups.csv", dtype=str)
    groups = dict(zip(seed.code_prefix, seed.diagnosis_group, strict=True))
    rows = query(
        run,
        "select principal_diagnosis_code, principal_diagnosis_group from core.episode_diagnoses",
    )
    for code, group in rows:
        assert group == (groups.get(code[:3]) if code else None), code
    assert {"alcohol", "opioid", "stimulant", "depressive", "anxiety"} <= {g for _, g in rows}


def test_diagnosis_outcomes_split_matches_the_truth(run):
    truth = _truth(run, "episode_diagnoses.csv")
    status = {"true": "co_occurring", "": "unknown"}
    counts = truth.groupby("level_of_care").co_occurring.value_counts()
    mart = _published(run, "diagnosis_outcomes")
    co = mart[(mart.dimension == "co_occurring") & ~mart.suppressed]
    assert len(co)
    for r in co.itertuples():
        flag = {v: k for k, v in status.items()}.get(r.dimension_value)
        if r.dimension_value in ("substance_use_only", "mental_health_only"):
            continue  # a split of the truth's 'false', checked below in total
        assert r.episodes == counts.get((r.level_of_care, flag), 0), r
    for level, group in mart[mart.dimension == "co_occurring"].groupby("level_of_care"):
        if group.suppressed.any():
            continue
        false = group[group.dimension_value.isin(["substance_use_only", "mental_health_only"])]
        assert false.episodes.sum() == counts.get((level, "false"), 0)
    # the values of a dimension add up to the level's 'all' row where all are published
    for (level, _dim), group in mart[mart.dimension != "all"].groupby(
        ["level_of_care", "dimension"]
    ):
        if group.suppressed.any():
            continue
        total = mart[(mart.level_of_care == level) & (mart.dimension == "all")].episodes.item()
        assert group.episodes.sum() == total


# -------------------------------------------------------------------------------- power


def _mdd(n1: float, n2: float, p: float, alpha: float = 0.05, power: float = 0.80) -> float:
    """Independent computation: z-values from the standard library's normal distribution."""
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def _macro_sql(n1: str, n2: str, p: str) -> str:
    """The SQL the project's macro renders (sql/macros/power.sql), with dbt's var() stubbed."""
    text = (ROOT / "sql" / "macros" / "power.sql").read_text()
    env = jinja2.Environment()
    module = env.from_string(text, globals={"var": lambda name, default=None: 10}).module
    return str(module.min_detectable_difference(n1, n2, p))


def test_power_formula_reproduces_the_textbook_example_and_an_independent_computation():
    # Fleiss, Levin & Paik ch. 4 pattern (DOMAIN.md): p = 0.40, n1 = 50, n2 = 1000 -> ~0.199
    con = duckdb.connect()
    value = con.execute(f"select {_macro_sql('50', '1000', '0.40')}").fetchone()[0]
    assert value == pytest.approx(0.1989, abs=5e-4)
    assert _mdd(50, 1000, 0.40) == pytest.approx(0.1989, abs=5e-4)
    for n1, n2, p in ((11, 12, 0.5), (30, 400, 0.1), (250, 250, 0.37), (1000, 9000, 0.92)):
        sql = _macro_sql(str(n1), str(n2), str(p))
        assert con.execute(f"select {sql}").fetchone()[0] == pytest.approx(
            _mdd(n1, n2, p), rel=1e-5
        )
    assert con.execute(f"select {_macro_sql('0', '10', '0.5')}").fetchone()[0] is None
    assert con.execute(f"select {_macro_sql('10', '10', '0.0')}").fetchone()[0] is None
    # arguments are expressions: n2 = total - subgroup must bind as one operand
    sql = _macro_sql("50", "1050 - 50", "0.40")
    assert con.execute(f"select {sql}").fetchone()[0] == pytest.approx(_mdd(50, 1000, 0.4))
    assert re.search(r"Fleiss", (ROOT / "sql" / "macros" / "power.sql").read_text())


RATES = {
    "demographic_utilization": (
        ("completion", "completion_denominator"),
        ("step_down", "step_down_denominator"),
    ),
    "diagnosis_outcomes": (
        ("completion", "completion_denominator"),
        ("step_down", "window_denominator"),
        ("continuity", "window_denominator"),
    ),
}


def test_power_columns_equal_an_independent_computation(run):
    for mart, key in (
        ("demographic_utilization", ["period", "level_of_care"]),
        ("diagnosis_outcomes", ["level_of_care"]),
    ):
        df = _published(run, mart)
        totals = df[df.dimension == "all"].set_index(key)
        checked = 0
        for name, denominator in RATES[mart]:
            rate = "continuity_rate" if name == "continuity" else f"{name}_rate"
            mdd, flag = f"{name}_min_detectable_difference", f"{name}_underpowered"
            for r in df[(df.dimension != "all") & df[mdd].notna()].to_dict("records"):
                total = totals.loc[tuple(r[k] for k in key)]
                n1 = r[denominator]
                n2 = total[denominator] - n1
                # the 'all' rate is published to 4 decimals; the mart uses the exact one
                expected = _mdd(n1, n2, float(total[rate]))
                assert float(r[mdd]) == pytest.approx(expected, abs=2e-3), (mart, name, r)
                assert r[flag] == (float(r[mdd]) > 0.10)
                checked += 1
            # no power where the subgroup's rate is hidden (the MDD would give its count back)
            hidden = df[(df.dimension != "all") & df[rate].isna()]
            assert hidden[mdd].isna().all(), (mart, name)
            assert df[df.dimension == "all"][mdd].isna().all()
        assert checked > 3, mart
    # a few hundred clients cannot detect 10 points anywhere; the other side of the flag (a
    # configured difference the subgroups can detect) is a dbt unit test of demographic_utilization
    flags = pd.concat([_published(run, m)[f"{n}_underpowered"] for m in RATES for n, _ in RATES[m]])
    assert flags.eq(True).any()


# ---------------------------------------------------------------------- privacy attacks
# The new aggregate marts attacked as tests/test_suppression.py attacks the others: from the
# published file alone, every count printed or given back by a rate is 0 or 11+, and no
# suppressed count is pinned by the identities the marts publish (a dimension's values add up to
# the 'all' row; the programs of a level to its 'All' row; a cost breakdown of a level to the
# level's row of episode_cost_by_level). The attacker's guesses are compared with a recount from
# the warehouse's core tables.

DX = ("persons", "episodes", "completion_denominator", "completions", "window_denominator",
      "step_downs", "continuations")  # fmt: skip
TI = ("persons", "episodes", "weeks_judged", "weeks_meeting_minimum")
COST = ("persons", "episodes", "costed_episodes", "episodes_without_claims")
COST_MARTS = {"episode_cost_by_program": "program", "episode_cost_by_payer": "payer",
              "episode_cost_monthly": "start_month"}  # fmt: skip
LOWER = {"persons": 1, "episodes": 1}


def _outcome_attack(marts: dict[str, pd.DataFrame]):
    from test_suppression import Attack, _count_from_rate, _int

    attack = Attack()
    df = marts["diagnosis_outcomes"]
    groups: dict[tuple, list] = {}
    for r in df.itertuples(index=False):
        values = {
            "persons": _int(r.persons),
            "episodes": _int(r.episodes),
            "completion_denominator": _int(r.completion_denominator),
            "completions": _count_from_rate(r.completion_rate, r.completion_denominator),
            "window_denominator": _int(r.window_denominator),
            "step_downs": _count_from_rate(r.step_down_rate, r.window_denominator),
            "continuations": _count_from_rate(r.continuity_rate, r.window_denominator),
        }
        cell = ("dx", r.level_of_care, r.dimension, r.dimension_value)
        for m in DX:
            attack.cell(cell + (m,), values[m], LOWER.get(m, 0))
        if r.dimension != "all":
            groups.setdefault((r.level_of_care, r.dimension), []).append(cell)
    for (level, dim), cells in groups.items():
        for m in DX:
            total = ("dx", level, "all", "All episodes", m)
            attack.add(
                f"'diagnosis_outcomes' {level} {m} by {dim}", total, [c + (m,) for c in cells]
            )

    df = marts["treatment_intensity"]
    groups = {}
    for r in df.itertuples(index=False):
        values = {
            "persons": _int(r.persons),
            "episodes": _int(r.episodes),
            "weeks_judged": _int(r.weeks_judged),
            "weeks_meeting_minimum": _count_from_rate(
                r.share_weeks_meeting_minimum, r.weeks_judged
            ),
        }
        cell = ("ti", r.level_of_care, r.program)
        for m in TI:
            attack.cell(cell + (m,), values[m], LOWER.get(m, 0))
        if r.program != "All":
            groups.setdefault(r.level_of_care, []).append(cell)
    for level, cells in groups.items():
        for m in TI:
            attack.add(f"'treatment_intensity' {level} {m}", ("ti", level, "All", m),
                       [c + (m,) for c in cells])  # fmt: skip

    for r in marts["episode_cost_by_level"].itertuples(index=False):
        for m in COST:
            attack.cell(("cost", r.level_of_care, "All", m), _int(getattr(r, m)), LOWER.get(m, 0))
    for mart, column in COST_MARTS.items():
        groups = {}
        for r in marts[mart].itertuples(index=False):
            cell = ("cost", r.level_of_care, f"{column}={_text(getattr(r, column))}")
            for m in COST:
                attack.cell(cell + (m,), _int(getattr(r, m)), LOWER.get(m, 0))
            groups.setdefault(r.level_of_care, []).append(cell)
        for level, cells in groups.items():
            for m in COST:
                attack.add(f"'{mart}' {level} {m}", ("cost", level, "All", m),
                           [c + (m,) for c in cells])  # fmt: skip
    for r in marts["episode_cost_step_down"].itertuples(index=False):
        attack.cell(("sdc", r.from_level, "persons"), _int(r.persons), 1)
        attack.cell(("sdc", r.from_level, "episode_pairs"), _int(r.episode_pairs), 1)
    return attack


def _text(value) -> str:
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        return str(pd.Timestamp(value).date())
    return str(value)


OUTCOME_RECOUNT = {
    "dx": """
        with e as (
            select e.level_of_care, p.person_key, 'All episodes' as all_episodes,
                coalesce(d.principal_diagnosis_group, 'Unknown') as principal_diagnosis_group,
                d.co_occurring_status as co_occurring, e.is_open, e.discharge_reason,
                t.window_complete, t.direction, t.within_window
            from core.episodes as e join core.persons as p using (person_id)
            join core.transitions as t using (episode_id)
            join core.episode_diagnoses as d using (episode_id)
        ), long as (
            unpivot e on all_episodes, principal_diagnosis_group, co_occurring
            into name dimension value dimension_value
        )
        select level_of_care, case dimension when 'all_episodes' then 'all' else dimension end,
            dimension_value, count(distinct person_key), count(*),
            count(*) filter (where not is_open and discharge_reason is not null),
            count(*) filter (where not is_open and discharge_reason = 'completed'),
            count(*) filter (where not is_open and window_complete),
            count(*) filter (where not is_open and window_complete and direction = 'step_down'),
            count(*) filter (where not is_open and window_complete and within_window)
        from long group by all""",
    "ti": """
        select level_of_care, coalesce(program, 'All'), count(distinct person_id),
            count(distinct episode_id), count(*) filter (where meets_minimum is not null),
            count(*) filter (where meets_minimum)
        from core.episode_weeks where full_week and level_of_care in ('IOP', 'PHP')
        group by grouping sets ((level_of_care, program), (level_of_care))""",
}


def _outcome_truth(data_dir: Path) -> dict[tuple, int]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    truth: dict[tuple, int] = {}
    try:
        for level, dim, value, *counts in con.execute(OUTCOME_RECOUNT["dx"]).fetchall():
            truth.update({("dx", level, dim, value, m): n for m, n in zip(DX, counts, strict=True)})
        for level, program, *counts in con.execute(OUTCOME_RECOUNT["ti"]).fetchall():
            truth.update({("ti", level, program, m): n for m, n in zip(TI, counts, strict=True)})
        for column in ("All", *COST_MARTS.values()):
            by = "" if column == "All" else f", {column}"
            rows = con.execute(f"""
                select level_of_care, {"'All'" if column == "All" else column}::varchar,
                    count(distinct person_key), count(*),
                    count(*) filter (where allowed_amount is not null and paid_amount is not null),
                    count(*) filter (where cost_coverage = 'ehr_only')
                from marts.episode_cost where not is_open group by level_of_care{by}
            """).fetchall()
            for level, value, *counts in rows:
                label = "All" if column == "All" else f"{column}={value}"
                truth.update(
                    {("cost", level, label, m): n for m, n in zip(COST, counts, strict=True)}
                )
    finally:
        con.close()
    return truth


def test_new_aggregate_marts_print_no_count_of_1_to_10_and_leak_none(run):
    from test_suppression import read_published, recovered

    marts = read_published(run)
    attack = _outcome_attack(marts)
    truth = _outcome_truth(run)
    small = {k: v for k, v in attack.known.items() if 1 <= v <= 10}
    assert not small, list(small.items())[:20]
    wrong = {k: (v, truth.get(k, 0)) for k, v in attack.known.items()
             if k[0] != "sdc" and truth.get(k, 0) != v}  # fmt: skip
    assert not wrong, list(wrong.items())[:10]  # the attacker's reading matches the recount
    assert not recovered(attack, truth)
    # the rule had work to do here: primary and complementary suppressions
    hidden = [truth.get(k, 0) for k in attack.unknown if k[-1] == "persons" and k[0] != "sdc"]
    assert any(1 <= n <= 10 for n in hidden) and any(n > 10 for n in hidden), hidden
