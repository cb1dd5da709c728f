"""The outcomes report (iop/report, assets/report.py): every section, nothing from outside the
file, no small cell, provisional months out of the headline; the KPI series by month; the
suppression of the one table the report aggregates itself."""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from conftest import TEST_KEY

from iop.report import charts, render
from iop.report.data import SUPPRESSED_PROGRAMS
from iop.report.reference import LOS_BINS, TEDS_D_2019_LOS, national_los_shares
from iop.report.suppress import SMALL, suppress_lines, suppress_table

CLIENTS = 200


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Generated data, one refresh, then the report job, on one instance."""
    data_dir = tmp_path_factory.mktemp("report") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOP_DATA_DIR", str(data_dir))
        mp.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("IOP_DEMO", raising=False)
        from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

        from iop.generator import generate
        from iop.report.__main__ import run_report_job
        from iop.runner import run_full_refresh
        from iop.settings import IopSettings

        generate(data_dir, clients=CLIENTS, seed=7)
        instance = DagsterInstance.ephemeral()
        refresh = run_full_refresh(instance)
        assert refresh.success
        # the refresh leaves the report out: it has its own job
        assert not (data_dir / "reports").exists()
        settings = IopSettings.from_env()
        result = run_report_job(settings, instance)
        assert result.success
        materialization = instance.get_latest_materialization_event(
            AssetKey(["reports", "outcomes_report"])
        ).asset_materialization
        kpi_key = AssetKey(["reports", "kpi_by_month"])
        kpi_months = {}  # partition -> metadata of its latest materialization
        for record in instance.fetch_materializations(
            AssetRecordsFilter(asset_key=kpi_key), limit=1000, ascending=True
        ).records:
            event = record.event_log_entry.dagster_event
            kpi_months[event.partition] = event.event_specific_data.materialization.metadata
        yield {
            "data_dir": data_dir,
            "settings": settings,
            "metadata": materialization.metadata,
            "kpi_months": kpi_months,
            "html": (data_dir / "reports" / "latest.html").read_text(encoding="utf-8"),
        }


def _warehouse(data_dir: Path):
    return duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)


class Cells(HTMLParser):
    """Table cells with their class, the section each is in, and every tag/attribute seen."""

    def __init__(self):
        super().__init__()
        self.cells: list[tuple[str, str, str]] = []  # (section, css class, text)
        self.tags: list[tuple[str, dict]] = []
        self.section = ""
        self._cell: list[str] | None = None
        self._class = ""

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "section":
            self.section = attributes.get("id", "")
        if tag == "td":
            self._cell, self._class = [], attributes.get("class", "")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append((self.section, self._class, "".join(self._cell).strip()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


def test_report_files_and_asset_metadata(built):
    reports = built["data_dir"] / "reports"
    metadata = built["metadata"]
    as_of = metadata["as_of"].value
    dated = reports / f"outcomes_{as_of}.html"
    assert Path(metadata["path"].value) == dated
    assert Path(metadata["latest"].value) == reports / "latest.html"
    assert metadata["url"].value == (reports / "latest.html").as_uri()
    assert dated.read_bytes() == (reports / "latest.html").read_bytes()
    assert metadata["bytes"].value == dated.stat().st_size
    with _warehouse(built["data_dir"]) as con:
        assert as_of == str(
            con.execute("select max(session_date) from core.sessions").fetchone()[0]
        )
    assert not list(reports.glob(".*.tmp"))


def test_every_section_is_rendered_with_its_charts(built):
    html = built["html"]
    parsed = _parse(html)
    sections = [attrs.get("id") for tag, attrs in parsed.tags if tag == "section"]
    assert sections == [key for key, _ in render.SECTIONS]
    for key, title in render.SECTIONS:
        body = html.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]
        assert f"<h2>{title}</h2>" in body
        assert "<svg" in body, key  # each section has at least one chart
        assert "<table>" in body, key
    # LOS beside the national reference, step-down matrix, Wilson intervals, rate ratios
    assert "TEDS-D 2019" in html and "Wilson" in html and "Rate ratio" in html
    assert "NONE" in html  # the matrix column of discharges with no next level


def test_report_is_self_contained(built):
    html = built["html"]
    parsed = _parse(html)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for tag, attributes in parsed.tags:
        for name, value in attributes.items():
            if name in {"src", "href", "xlink:href"}:
                # ids in the file, or data inline (matplotlib embeds a heat map as a PNG)
                assert value.startswith(("#", "data:image/png;base64,")), (tag, name, value[:40])
    # CSS references only ids inside the file (matplotlib's clip paths)
    assert set(re.findall(r"url\(([^)]*)\)", html)) <= {
        u for u in re.findall(r"url\(([^)]*)\)", html) if u.startswith("#")
    }
    assert "@import" not in html
    assert "<11" not in html and "&lt;11" in html  # the mark of a suppressed cell, escaped


def test_no_small_count_is_shown(built):
    parsed = _parse(built["html"])
    counts = [(section, text) for section, css, text in parsed.cells if css == "n"]
    assert len(counts) > 50
    for section, text in counts:
        if text in {render.SUPPRESSED, render.MISSING}:
            continue
        number = int(text.replace(",", ""))
        assert number == 0 or number > SMALL, (section, text)
    assert any(text == render.SUPPRESSED for _, text in counts)  # small data has small cells


def test_every_small_cell_of_the_warehouse_reads_less_than_11(built):
    """Compare with the warehouse's unsuppressed counts: every mart row the rule suppressed shows
    "<11" in its count cells, and every LOS-bin cell of 1-10 episodes or persons too."""
    html = built["html"]
    with _warehouse(built["data_dir"]) as con:
        small_bins = con.execute(
            f"""
            select level_of_care, program
                , case {
                " ".join(
                    f"when teds_los between {lo} and {hi} then '{label}'"
                    for label, lo, hi in LOS_BINS
                )
            } end as los_bin
                , count(*) as episodes, count(distinct person_key) as persons
            from marts.episodes
            where not is_open and teds_los is not null
            group by all
            having count(*) between 1 and {SMALL} or count(distinct person_key) between 1 and {
                SMALL
            }
            """
        ).fetchall()
        suppressed_levels = {
            lvl
            for (lvl,) in con.execute(
                "select level_of_care from marts.length_of_stay_by_level where suppressed"
            ).fetchall()
        }
        suppressed_programs = set(
            con.execute(
                "select level_of_care, program from marts.length_of_stay_by_program "
                "where suppressed"
            ).fetchall()
        )
        suppressed_groups = con.execute(
            "select period, level_of_care, dimension, dimension_value "
            "from marts.demographic_utilization where suppressed"
        ).fetchall()
    assert small_bins and suppressed_groups
    columns = [label for label, _, _ in LOS_BINS]
    checked = 0
    for level, program, los_bin, _, _ in small_bins:
        if level in suppressed_levels:
            assert f"<h3>{level}: discharged episodes by program</h3>" not in html
            continue
        table = html.split(f"<h3>{level}: discharged episodes by program</h3>", 1)[1]
        table = table.split("</table>", 1)[0]
        label = SUPPRESSED_PROGRAMS if (level, program) in suppressed_programs else program
        row = table.split(f'<td class="l">{label}</td>', 1)[1].split("</tr>", 1)[0]
        cells = re.findall(r'<td class="n">([^<]*)</td>', row)
        assert cells[columns.index(los_bin)] == "&lt;11", (level, program, los_bin)
        checked += 1
    assert checked
    for period, level, dimension, value in suppressed_groups:
        prefix = (
            f'<td class="l">{period}</td><td class="l">{level}</td>'
            f'<td class="l">{dimension}</td><td class="l">{value}</td>'
        )
        row = html.split(prefix, 1)[1].split("</tr>", 1)[0]
        # persons and episodes
        assert re.findall(r'<td class="n">([^<]*)</td>', row) == ["&lt;11", "&lt;11"]


def _section(html: str, key: str) -> str:
    return html.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]


def _rows(section: str) -> list[list[str]]:
    """The cells of every body row of a section's tables (text as in the HTML)."""
    body = "".join(part.split("</tbody>", 1)[0] for part in section.split("<tbody>")[1:])
    return [
        re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_cost_by_level_reads_as_the_mart(built):
    """Cost of care: one row per level of marts.episode_cost_by_level, its counts "<11" where the
    row is suppressed (no amount shown then), its quartiles and per-day / per-hour medians as
    published otherwise."""
    with _warehouse(built["data_dir"]) as con:
        marts = con.execute(
            "select level_of_care, suppressed, episodes, p25_allowed_per_episode"
            ", median_allowed_per_episode, p75_allowed_per_episode, median_allowed_per_day"
            ", median_allowed_per_attended_hour from marts.episode_cost_by_level"
        ).fetchall()
    rows = {r[0]: r for r in _rows(_section(built["html"], "cost"))}
    assert set(rows) == {m[0] for m in marts} and marts
    for level, suppressed, episodes, p25, median, p75, per_day, per_hour in marts:
        row = rows[level]
        if suppressed:
            assert row[1] == "&lt;11" and set(row[4:10]) == {render.MISSING}, row
            continue
        assert row[1] == f"{episodes:,}"
        assert row[4:7] == [render.money(p25), render.money(median), render.money(p75)]
        assert row[8] == render.money(per_day) and row[9] == render.money(per_hour, 2)
    assert any(r[5] != render.MISSING for r in rows.values())  # some amounts are shown


def test_treatment_intensity_by_program_reads_as_the_mart(built):
    """Treatment intensity: each level (program "All") and level x program of
    marts.treatment_intensity_by_level / _by_program, the share of weeks meeting the ASAM minimum
    as published, "<11" for every count of a suppressed row."""
    with _warehouse(built["data_dir"]) as con:
        marts = con.execute(
            "select level_of_care, 'All', suppressed, persons, weeks_judged"
            ", share_weeks_meeting_minimum from marts.treatment_intensity_by_level union all "
            "select level_of_care, program, suppressed, persons, weeks_judged"
            ", share_weeks_meeting_minimum from marts.treatment_intensity_by_program"
        ).fetchall()
    rows = {(r[0], r[1]): r for r in _rows(_section(built["html"], "intensity"))}
    assert set(rows) == {(m[0], m[1]) for m in marts}
    assert any(program != "All" for _, program in rows)  # by program, not only the level
    for level, program, suppressed, persons, weeks, share in marts:
        row = rows[(level, program)]
        assert row[5] == render.rate(share), row
        if suppressed:
            assert row[2:5] == ["&lt;11"] * 3, row
        else:
            assert row[2] == f"{persons:,}" and row[4] == render.count(weeks)
    assert any(r[5] != render.MISSING for r in rows.values())


def test_headline_uses_the_latest_final_month_and_marks_provisional_ones(built):
    html = built["html"]
    settings = built["settings"]
    with _warehouse(built["data_dir"]) as con:
        as_of = con.execute("select max(session_date) from core.sessions").fetchone()[0]
        months = con.execute(
            "select distinct month from marts.program_quality_monthly_overall order by month"
        ).fetchall()
    final = [m for (m,) in months if (as_of - _last_day(m)).days >= settings.provisional_days]
    provisional = [m for (m,) in months if m not in final]
    assert final and provisional
    headline = html.split("<h3>Headline: latest final month</h3>", 1)[1].split("<svg", 1)[0]
    shown = set(re.findall(r", (\d{4}-\d{2})</div>", headline))
    assert shown and shown <= {final[-1].strftime("%Y-%m")}
    for month in provisional:
        assert f"{month.strftime('%Y-%m')} (provisional)" in html
    assert f"{final[-1].strftime('%Y-%m')} (provisional)" not in html


def _last_day(month: dt.date) -> dt.date:
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def test_kpis_by_month_are_partitions_of_the_months_they_describe(built):
    kpi_months = built["kpi_months"]
    settings = built["settings"]
    with _warehouse(built["data_dir"]) as con:
        rows = con.execute(
            "select month, census, claims_reconciliation_rate "
            "from marts.program_quality_monthly_overall "
            "where level_of_care = 'IOP' and month_complete order by month"
        ).fetchall()
        as_of = con.execute("select max(session_date) from core.sessions").fetchone()[0]
    assert sorted(kpi_months) == [m.strftime("%Y-%m-%d") for m, _, _ in rows]
    for month, census, claims_rate in rows:
        metadata = kpi_months[month.strftime("%Y-%m-%d")]
        if census is None:
            assert "iop_census" not in metadata
        else:
            assert metadata["iop_census"].value == census
        provisional = (as_of - _last_day(month)).days < settings.provisional_days
        assert metadata["provisional"].value == int(provisional)
        if provisional or claims_rate is None:
            assert "iop_claims_reconciliation_rate" not in metadata
        else:
            assert metadata["iop_claims_reconciliation_rate"].value == pytest.approx(claims_rate)


def test_latest_kpis_take_the_claims_rate_of_the_latest_final_month(built):
    from iop.kpis import latest_kpis

    settings = built["settings"]
    with _warehouse(built["data_dir"]) as con:
        kpis = latest_kpis(con, provisional_days=settings.provisional_days)
        as_of = con.execute("select max(session_date) from core.sessions").fetchone()[0]
        expected_month = max(
            m
            for (m,) in con.execute(
                "select month from marts.program_quality_monthly_overall where month_complete"
            ).fetchall()
            if (as_of - _last_day(m)).days >= settings.provisional_days
        )
        rate = con.execute(
            "select claims_reconciliation_rate from marts.program_quality_monthly_overall "
            "where level_of_care = 'IOP' and month = ?",
            [expected_month],
        ).fetchone()[0]
    assert kpis["claims_kpi_month"] == expected_month.year * 100 + expected_month.month
    assert kpis["claims_kpi_month"] < kpis["kpi_month"]
    assert kpis["iop_claims_reconciliation_rate"] == pytest.approx(rate)


CHROMIUM = next(
    (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None
)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium here (chromium, chromium-browser or google-chrome on PATH): the "
    "screenshot check of the report runs where one is installed",
)
def test_report_renders_in_headless_chromium(built, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox", "--window-size=1200,4000",
         f"--screenshot={shot}", (built["data_dir"] / "reports" / "latest.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.stat().st_size > 10_000


# --- pure parts, no pipeline ---------------------------------------------------------------


def test_text_from_data_is_escaped_in_tables_and_charts():
    hostile = '<script>alert("x")</script>'
    html = render.table(["<b>h</b>"], [[(hostile, "l")]])
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>h" not in html
    svg = charts.bars([hostile], [3.0], title=hostile, xlabel="rows")
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_counts_render_small_values_as_suppressed():
    assert render.count(None) == "<11"  # a null count in a mart is a suppressed one
    assert render.count(None, suppressed=False) == render.MISSING
    assert render.count(0) == "0" and render.count(11) == "11" and render.count(1234) == "1,234"
    assert all(render.count(n) == "<11" for n in range(1, 11))


def test_national_reference_is_the_codebook_distribution():
    shares = national_los_shares()
    assert sum(TEDS_D_2019_LOS.values()) == 1_722_503  # every 2019 discharge
    assert list(shares) == [label for label, _, _ in LOS_BINS]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["1-7 d"] == pytest.approx(
        sum(TEDS_D_2019_LOS[c] for c in range(1, 8)) / 1_722_503
    )


def test_one_small_cell_gets_a_complement_in_its_row_and_column():
    counts, hidden = suppress_table(
        {"A": {"x": 5, "y": 40, "z": 30}, "B": {"x": 20, "y": 25, "z": 12}}, ["x", "y", "z"]
    )
    assert counts["All"] == {"x": 25, "y": 65, "z": 42, "Total": 132}
    assert ("A", "x") in hidden
    # row A: the smallest other cell of 11+ (z = 30); column x: B's 20
    assert ("A", "z") in hidden and ("B", "x") in hidden
    assert all(n == 0 or n > SMALL or (r, c) in hidden
               for r, row in counts.items() for c, n in row.items())  # fmt: skip


def test_published_totals_are_never_hidden_nor_count_as_protection():
    # row A's total (45) is published elsewhere: hiding it would protect nothing, so the small
    # cell needs a second hidden member (30), not the total
    counts, hidden = suppress_table(
        {"A": {"x": 5, "y": 10, "z": 30}, "B": {"x": 40, "y": 25, "z": 12}},
        ["x", "y", "z"],
        published_totals=True,
    )
    # A's two small cells hold no 11+, so A's 30 goes too; then each column needs B's cell
    assert hidden == {(r, c) for r in "AB" for c in "xyz"}


@pytest.mark.parametrize("published_totals", [False, True])
def test_suppression_holds_its_rule_on_random_tables(published_totals):
    rng = random.Random(3)
    for _ in range(300):
        rows = [f"r{i}" for i in range(rng.randint(1, 4))]
        columns = [f"c{j}" for j in range(rng.randint(1, 5))]
        table = {r: {c: rng.choice([0, 0, 1, 3, 9, 10, 11, 12, 25, 60]) for c in columns}
                 for r in rows}  # fmt: skip
        counts, hidden = suppress_table(table, columns, published_totals=published_totals)
        cells = {(r, c): n for r, row in counts.items() for c, n in row.items()}
        published = {(r, "Total") for r in [*rows, "All"]} if published_totals else set()
        assert not hidden & published
        assert not [c for c, n in cells.items() if 0 < n <= SMALL and c not in hidden | published]
        lines = [([(r, c) for c in columns], (r, "Total")) for r in [*rows, "All"]]
        lines += [([(r, c) for r in rows], ("All", c)) for c in [*columns, "Total"]]
        for members, total in lines:
            held = [c for c in [*members, total] if c in hidden]
            if not held:
                continue
            protected = len(held) >= 2 and any(cells[c] > SMALL for c in held)
            # otherwise nothing is left to hide: the other members are zeros, and the total is
            # hidden already or known elsewhere
            degenerate = all(c in hidden or cells[c] == 0 for c in members) and (
                total in hidden or total in published
            )
            assert protected or degenerate, (table, members, held)
        assert suppress_lines(cells, lines, published=published) == hidden
