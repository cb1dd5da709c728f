"""Text the pipeline writes for people: CSV cells and HTML, safe to open.

Staging already normalizes free text (sql/macros/staging.sql, `normalize_text`: NFC, ANSI escapes,
control and bidi characters removed) and quarantines program and payer names that start like a
formula or mix scripts (`unsafe_text`). Text written out still passes through here, because a CSV
export or an HTML page may carry values from outside the marts (a quarantined row's raw record, a
file name, an error message):

* `csv_cell(value)`: a spreadsheet would run a cell that starts with `=`, `+`, `-`, `@` (or a tab
  or CR before one) as a formula (CSV injection, OWASP). Such a cell is prefixed with `'`, which
  spreadsheets show as text; numbers (`-12.5`) stay numbers. Control characters become spaces.
* `html_text(value)`: HTML-escaped (`<`, `>`, `&`, quotes), control and bidi characters removed,
  so a value cannot open a tag or reorder the text around it.
* `write_csv(path, header, rows)`: a CSV file whose every cell went through `csv_cell`. Every CSV
  output of the project is written with it.
"""

from __future__ import annotations

import csv
import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def clean_text(value: Any) -> str:
    """`value` as text the way staging normalizes it: NFC, ANSI escape sequences removed, format
    characters (bidi overrides, zero-width) removed, control characters and Unicode spaces as one
    space, runs of spaces collapsed, trimmed. None is ''."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", ANSI_ESCAPE.sub("", str(value)))
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        out.append(" " if category == "Cc" or category.startswith("Z") else char)
    return re.sub(" {2,}", " ", "".join(out)).strip()


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text and never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = clean_text(value)
    if text.startswith(FORMULA_START) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def html_text(value: Any) -> str:
    """Text for an HTML element or attribute: cleaned and escaped."""
    return html.escape(clean_text(value), quote=True)


def write_csv(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a CSV file (UTF-8, header first) with every cell made safe; the rows written."""
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([csv_cell(h) for h in header])
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
            count += 1
    return count
