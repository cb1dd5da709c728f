"""The outcomes report: one self-contained HTML file a quality team opens from disk or an email.

`build_report(settings)` reads the working database read-only (iop/report/data.py: every query),
renders the page (iop/report/render.py, charts in iop/report/charts.py) and writes
`$IOP_DATA_DIR/reports/outcomes_<as_of>.html` and a copy `latest.html`, each written to a
temporary file and renamed, so a reader never sees half a report. `python -m iop.report`
(`make report`) rebuilds it outside Dagster; the Dagster asset `reports/outcomes_report` builds it
after each publication.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from iop.settings import IopSettings


@dataclass(frozen=True)
class Report:
    path: Path
    latest: Path
    as_of: str
    bytes: int
    data: object  # iop.report.data.ReportData


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def build_report(settings: IopSettings, run_id: str | None = None) -> Report:
    from iop import engine
    from iop.report import data, render

    with engine.connect(settings) as con:
        if settings.on_spark:  # the latest check results, as the marts read them
            from iop import spark

            spark.mirror_sources(con.spark, settings)
        loaded = data.load(con, settings.provisional_days)
    html = render.render(loaded, run_id=run_id)
    folder = settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"outcomes_{loaded.as_of.isoformat()}.html"
    latest = folder / "latest.html"
    _write(path, html)
    _write(latest, html)
    return Report(path, latest, loaded.as_of.isoformat(), len(html.encode()), loaded)
