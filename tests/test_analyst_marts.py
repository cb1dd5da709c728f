"""Marts an analyst can read without the codebook: every coded column has a label column, no
mart mixes grains, NULL says why it is null (suppressed or not applicable), the check history is
published de-identified, and the Parquet copies keep their integer types and carry the column
descriptions. Read from one small generated dataset, built and published once (conftest)."""

from __future__ import annotations

import csv
import json

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import query

from iop import dbt_project, dictionary
from iop.dictionary import ModelDoc

MARTS = sorted(m.table_name for m in dbt_project.models("marts"))
SEEDS = dbt_project.PROJECT_DIR / "sql" / "seeds"
# Columns that hold codes wherever a mart publishes them (levels, TEDS-D codes, demographics,
# reasons, statuses): each must be declared coded (meta.values or meta.labels) in its mart.
CODE_COLUMNS = {
    "level_of_care",
    "from_level",
    "to_level",
    "next_level_of_care",
    "teds_services_d",
    "teds_los",
    "teds_reason",
    "discharge_reason",
    "age_band",
    "sex",
    "race_ethnicity",
    "payer",
    "transition_direction",
    "direction",
    "source",
    "status",
    "measure",
    "dimension",
    "dimension_value",
    "breakdown",
    "tier",
    "severity",
}
# The marts that replaced the mixed-grain ones.
SPLIT_MARTS = {
    "length_of_stay_by_level",
    "length_of_stay_by_program",
    "length_of_stay_by_discharge_month",
    "length_of_stay_by_discharge_reason",
    "length_of_stay_by_payer",
    "reconciliation_person_day",
    "reconciliation_program_month",
    "step_down_transitions_overall",
    "step_down_transitions_by_program",
    "step_down_transitions_by_discharge_month",
    "continuity_of_care_overall",
    "continuity_of_care_by_program",
    "continuity_of_care_by_discharge_month",
    "treatment_intensity_by_level",
    "treatment_intensity_by_program",
    "program_quality_monthly_overall",
    "program_quality_monthly_by_program",
}
# The mixed-grain marts they replaced.
REPLACED_MARTS = {
    "claims_attendance_reconciliation",
    "length_of_stay",
    "step_down_transitions",
    "continuity_of_care",
    "treatment_intensity",
    "program_quality_monthly",
}


@pytest.fixture(scope="module")
def docs() -> dict[str, ModelDoc]:
    return dictionary.load_all()


@pytest.fixture(scope="module")
def published(published_small):
    con = duckdb.connect(str(published_small / "marts.duckdb"), read_only=True)
    yield con
    con.close()


def _tables(con) -> list[str]:
    return [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]


def _columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f'describe "{table}"').fetchall()]


def test_every_coded_column_is_declared_and_has_a_label(docs, published):
    missing = []
    for mart, doc in docs.items():
        built = _columns(published, mart)
        for column in doc.columns:
            if column.name in CODE_COLUMNS and not column.coded:
                missing.append(f"{mart}.{column.name}: not declared coded (meta.values/labels)")
            if column.coded:
                label = f"{column.name}_label"
                if label not in built:
                    missing.append(f"{mart}.{label}: missing")
                elif built.index(label) != built.index(column.name) + 1:
                    missing.append(f"{mart}.{label}: not beside {column.name}")
    assert not missing, missing
    assert any(c.coded for doc in docs.values() for c in doc.columns)


def test_no_label_is_null_where_the_code_is_not(docs, published):
    nulls = {}
    checked = 0
    for mart, doc in docs.items():
        for column in (c for c in doc.columns if c.coded):
            rows = published.execute(
                f'select distinct "{column.name}"::varchar from "{mart}" '
                f'where "{column.name}" is not null and "{column.name}_label" is null'
            ).fetchall()
            if rows:
                nulls[f"{mart}.{column.name}"] = [r[0] for r in rows]
            checked += published.execute(
                f'select count(*) from "{mart}" where "{column.name}" is not null'
            ).fetchone()[0]
    assert not nulls, nulls
    assert checked > 1000


def test_labels_read_as_the_codebooks_say(published):
    """Spot checks against TEDS-D and the seeds: LOS code 32 is 46-60 days, SERVICES_D 6 is
    intensive outpatient, REASON 1 completed."""
    los = dict(
        published.execute("select distinct teds_los, teds_los_label from episodes").fetchall()
    )
    assert los.get(32, "46 to 60 days") == "46 to 60 days"
    assert los.get(3, "3 days") == "3 days"
    assert all(1 <= code <= 37 for code in los)
    services = dict(
        published.execute(
            "select distinct teds_services_d, teds_services_d_label from episodes"
        ).fetchall()
    )
    assert services[6] == "Ambulatory intensive outpatient"
    reasons = dict(
        published.execute(
            "select distinct teds_reason, teds_reason_label from episodes where teds_reason "
            "is not null"
        ).fetchall()
    )
    assert reasons[1] == "Treatment completed"
    sexes = dict(published.execute("select distinct sex, sex_label from episodes").fetchall())
    assert sexes["F"] == "Female"


def test_label_seed_has_one_label_per_code():
    with (SEEDS / "code_labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = [(r["code_set"], r["code"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["label"].strip() for r in rows)


def test_no_mart_mixes_grains(docs, published):
    """One grain per table: no row-type discriminator column, and each mart's declared unique
    key (meta.unique_key) identifies its rows in the published data."""
    assert set(docs) >= SPLIT_MARTS
    assert not REPLACED_MARTS & set(docs)
    assert not REPLACED_MARTS & set(_tables(published))
    checked_rollups = 0
    for mart, doc in docs.items():
        built = _columns(published, mart)
        documented = [c.name for c in doc.columns]
        # no row-type discriminator: a `breakdown` (or `grain`) column means rows of several
        # groupings in one table; split it into one mart per grouping
        for discriminator in ("grain", "breakdown"):
            assert discriminator not in built, (mart, discriminator)
            assert not any(c.startswith(discriminator) for c in documented), (mart, discriminator)
        # a long-format mart (demographic_utilization, diagnosis_outcomes: dimension /
        # dimension_value) names the dimension in its unique key
        if "dimension" in built:
            assert "dimension" in doc.unique_key, mart
            # its 'all' dimension is one subgroup cell (everyone) of its year / level, the
            # reference of the subgroups' rates, not roll-ups of another grain
            prefix = [c for c in doc.unique_key if c not in ("dimension", "dimension_value")]
            by = ", ".join(f'"{c}"' for c in prefix)
            values = published.execute(
                f'select max(n) from (select count(distinct dimension_value) as n from "{mart}" '
                f"where dimension = 'all' group by {by})"
            ).fetchone()[0]
            assert values == 1, (mart, values)
        assert doc.unique_key, f"{mart}: declare meta.unique_key"
        assert set(doc.unique_key) <= set(built), mart
        key = ", ".join(f'"{c}"' for c in doc.unique_key)
        rows, distinct = published.execute(
            f'select count(*), count(distinct ({key})) from "{mart}"'
        ).fetchone()
        assert rows == distinct, f"{mart}: {rows - distinct} rows share a unique key"
        # no roll-up row beside the rows it rolls up: program 'All' (every program) belongs in
        # its own mart (e.g. program_quality_monthly_overall), not among the programs' rows
        # (likewise level_of_care 'All' beside the levels)
        for column in ("program", "level_of_care"):
            if column not in built:
                continue
            rollup, parts = published.execute(
                f"select count(*) filter (where {column} = 'All'), "
                f"count(*) filter (where {column} <> 'All') from \"{mart}\""
            ).fetchone()
            assert not (rollup and parts), f"{mart}: {column} 'All' rows beside the others"
            checked_rollups += 1
    assert checked_rollups >= 5, checked_rollups


def test_a_split_mart_sums_to_the_level_row(published):
    """The by-program rows of a level add up to its by-level row wherever nothing is
    suppressed (the five marts are one computation)."""
    rows = published.execute(
        """
        select l.level_of_care, l.episodes, sum(p.episodes), bool_or(p.suppressed)
        from length_of_stay_by_level as l
        join length_of_stay_by_program as p using (level_of_care)
        where not l.suppressed
        group by all
        """
    ).fetchall()
    assert rows
    for level, total, parts, any_suppressed in rows:
        if not any_suppressed:
            assert total == parts, level


@pytest.mark.parametrize(
    ("overall", "by", "key", "count"),
    [
        ("continuity_of_care_overall", "continuity_of_care_by_program", "measure", "denominator"),
        (
            "continuity_of_care_overall",
            "continuity_of_care_by_discharge_month",
            "measure",
            "denominator",
        ),
        (
            "step_down_transitions_overall",
            "step_down_transitions_by_program",
            "from_level, to_level",
            "transitions",
        ),
        (
            "step_down_transitions_overall",
            "step_down_transitions_by_discharge_month",
            "from_level, to_level",
            "transitions",
        ),
    ],
)
def test_split_breakdowns_sum_to_the_overall_row(published, overall, by, key, count):
    """The by-program (by-month) rows of a measure or transition add up to its overall row
    wherever none is suppressed, and are suppressed consistently: the three marts are one
    computation (one suppression), so the overall row never stands alone beside a single
    suppressed part."""
    rows = published.execute(
        f"""
        select {key}, any_value(o.{count}), sum(b.{count}), count(*) filter (where b.suppressed)
        from {overall} as o
        join {by} as b using ({key})
        where not o.suppressed
        group by all
        """
    ).fetchall()
    assert rows
    for *_, total, parts, n_suppressed in rows:
        assert n_suppressed != 1, rows  # one hidden part would be total minus the others
        if n_suppressed == 0:
            assert total == parts, rows


# Measures published whatever their row: a level's open episodes are in no line of the rule; the
# data-quality figures of a month count checks, not persons.
ROW_INDEPENDENT = {
    ("length_of_stay_by_level", "open_episodes"),
    ("program_quality_monthly_overall", "data_quality_checks"),
    ("program_quality_monthly_overall", "data_quality_pass_rate"),
    ("program_quality_monthly_by_program", "data_quality_checks"),
    ("program_quality_monthly_by_program", "data_quality_pass_rate"),
}

# Marts whose every cell is published in the small generated data (few rows of large counts).
NOTHING_SUPPRESSED_IN_SMALL_DATA = {
    "episode_cost_step_down",
    "treatment_intensity_by_level",
    "treatment_intensity_by_program",
}


def _null_reasons(df: pd.DataFrame, mart: str, measure: str) -> tuple[pd.Series, pd.Series]:
    """(suppressed, not applicable) per row for `measure`, from the row's and its own flags."""
    hidden = pd.Series(False, index=df.index)
    if "suppressed" in df and (mart, measure) not in ROW_INDEPENDENT:
        hidden = df["suppressed"].copy()
    if f"{measure}_suppressed" in df:
        hidden |= df[f"{measure}_suppressed"]
    na = df.get(f"{measure}_not_applicable", pd.Series(False, index=df.index))
    return hidden, na


@pytest.mark.parametrize("mart", MARTS)
def test_a_null_measure_is_either_suppressed_or_not_applicable(published, docs, mart):
    """NULL never means two things: a measure (a documented column with a unit) is null exactly
    when its row is suppressed, it is suppressed on its own (`<measure>_suppressed`) or it does
    not apply (`<measure>_not_applicable`), never both; the confidence bounds of a rate are null
    with it. Marts without suppression flag only what does not apply."""
    df = published.execute(f'select * from "{mart}"').df()
    doc = docs[mart]
    measures = [c.name for c in doc.columns if c.unit and c.name not in doc.unique_key] + [
        c.name.removesuffix("_not_applicable")
        for c in doc.columns
        if c.name.endswith("_not_applicable")
    ]
    if "suppressed" not in df:
        # record-level marts: only flagged measures
        measures = [m for m in measures if f"{m}_not_applicable" in df]
    seen = set()
    for measure in dict.fromkeys(measures):
        if measure.endswith(("_ci_low", "_ci_high")):
            rate = measure.rsplit("_ci_", 1)[0]
            assert (df[measure].isna() == df[rate].isna()).all(), (mart, measure)
            continue
        hidden, na = _null_reasons(df, mart, measure)
        if {f"{measure}_suppressed", "suppressed"} <= set(df) and (mart, measure) not in (
            ROW_INDEPENDENT
        ):
            # a measure hidden with its row is flagged as well
            assert df.loc[df["suppressed"], f"{measure}_suppressed"].all(), (mart, measure)
        assert not (hidden & na).any(), (mart, measure)
        unexplained = df[measure].isna() & ~(hidden | na)
        assert not unexplained.any(), (mart, measure, int(unexplained.sum()))
        assert not (df[measure].notna() & (hidden | na)).any(), (mart, measure)
        seen |= {"suppressed"} if (hidden & df[measure].isna()).any() else set()
        seen |= {"not_applicable"} if na.any() else set()
    if mart == "length_of_stay_by_level":
        open_ = df["open_episodes"]
        assert not open_.between(1, 10).any()
    if mart in NOTHING_SUPPRESSED_IN_SMALL_DATA:
        # their flags are exercised by the dbt unit tests (sql/marts/_outcomes_unit_tests.yml);
        # if the small data comes to suppress a cell, drop the mart from the set
        assert "suppressed" not in seen and not df["suppressed"].any(), mart
    elif "suppressed" in df:
        assert "suppressed" in seen, mart


def test_check_history_is_published_without_failing_values(published_small, published):
    columns = _columns(published, "check_history")
    assert not {"observed_value", "failing_sample"} & set(columns)
    assert {"checked_table", "expectation", "status", "checked_at", "unexpected_count"} <= set(
        columns
    )
    published_rows = published.execute("select count(*) from check_history").fetchone()[0]
    recorded = query(published_small, "select count(*) from audit.check_results")[0][0]
    # the marts' own checks run after the marts are built: they reach the next publication
    marts_checks = query(
        published_small,
        "select count(*) from audit.check_results where table_name like 'marts.%'",
    )[0][0]
    assert published_rows == recorded - marts_checks > 0
    statuses = {
        r[0] for r in published.execute("select distinct status from check_history").fetchall()
    }
    assert statuses <= {"passed", "failed", "not_applicable"} and "passed" in statuses


@pytest.mark.parametrize("mart", MARTS)
def test_parquet_copy_keeps_types_and_carries_descriptions(published_small, published, docs, mart):
    path = published_small / "marts" / f"{mart}.parquet"
    schema = pq.read_schema(path)
    doc = docs[mart]
    described = json.loads(schema.metadata[b"column_descriptions"])
    types = {r[0]: r[1] for r in published.execute(f'describe "{mart}"').fetchall()}
    for field in schema:
        assert field.metadata[b"description"].decode() == doc.column(field.name).comment
        assert described[field.name] == doc.column(field.name).comment
        if types[field.name] == "BIGINT":
            assert field.type == pa.int64(), (mart, field.name)
    assert schema.metadata[b"description"].decode() == doc.comment
    frame = pd.read_parquet(path)
    for name, kind in types.items():
        if kind in ("BIGINT", "INTEGER"):
            assert str(frame[name].dtype) in ("Int64", "Int32"), (mart, name, frame[name].dtype)
    assert len(frame) == published.execute(f'select count(*) from "{mart}"').fetchone()[0]
