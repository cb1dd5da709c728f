"""One gate for every message that leaves the data stores: logs, Dagster events and metadata, the
raw registry's error/warnings, dbt failures.

Messages name positions (file, row or segment number, column or element, rule), never the
values found there: landing files, raw/ and audit.quarantine are PHI storage, but Dagster's run
database, captured stdout/stderr and compute logs are kept for months and read by people who never
see PHI. Two rules make a message safe:

* a quoted literal (`'…'` or `"…"`, as `repr` and DuckDB's errors write values) is replaced by
  `<value>` unless it is a declared non-identifying value: a feed, layout or column name, a code
  of one of the value sets, or punctuation only (X12 delimiters);
* a landing file's name is shown with its digit runs masked (`claims/export_A#.csv`: names are
  often built from an MRN or a date), unless the operator opts in with `IOP_LOG_FILE_NAMES=1`.

Code that builds a message from a value should not quote it in the first place; this gate is what
makes a forgotten case harmless. `tests/test_planted_identifiers.py` checks both.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

REDACTED = "<value>"
# a quoted literal as repr() or DuckDB writes it: '…' or "…" (with escaped quotes inside)
_QUOTED = re.compile(r"""(?<![A-Za-z0-9])'((?:[^'\\\n]|\\.|'')*)'|"((?:[^"\\\n]|\\.)*)\"""")
_DIGITS = re.compile(r"\d+")
_SEEDS = Path(__file__).resolve().parents[1] / "sql" / "seeds"


def file_names_allowed() -> bool:
    """The operator's opt-in to real landing file names in messages."""
    return os.environ.get("IOP_LOG_FILE_NAMES") == "1"


def file_label(relative: str) -> str:
    """A landing file's name as messages show it: digit runs masked unless opted in."""
    return relative if file_names_allowed() else _DIGITS.sub("#", relative)


@functools.cache
def non_identifying_values() -> frozenset[str]:
    """Values a message may quote: feed, layout and column names and the value sets' codes."""
    from iop.layouts import LAYOUTS
    from iop.settings import FEEDS

    values: set[str] = set(FEEDS)
    for layout in LAYOUTS:
        values.add(layout.name)
        values.update(layout.columns)
    for seed in sorted(_SEEDS.glob("*.csv")):
        with seed.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            values.update(next(reader, []))  # column names
            for row in reader:
                values.update(cell for cell in row if cell and len(cell) <= 40)
    return frozenset(v.strip().lower() for v in values if v.strip())


def _is_declared(value: str) -> bool:
    stripped = value.strip()
    if not any(ch.isalnum() for ch in stripped):
        return True  # punctuation only: delimiters, separators
    return stripped.lower() in non_identifying_values()


def _quoted(match: re.Match[str]) -> str:
    value = match.group(1) if match.group(1) is not None else match.group(2)
    if _is_declared(value):
        return match.group(0)
    quote = match.group(0)[0]
    return f"{quote}{REDACTED}{quote}"


def redact(message: object, files: Iterable[str] = ()) -> str:
    """`message` safe for logs and run history: quoted values replaced, the named landing files'
    names masked (see the module docstring)."""
    text = str(message)
    if not file_names_allowed():
        # longest first, so a name that contains another is masked whole
        for name in sorted({f for f in files if f}, key=len, reverse=True):
            text = text.replace(name, file_label(name))
    return _QUOTED.sub(_quoted, text)


def redact_all(messages: Iterable[object], files: Iterable[str] = ()) -> list[str]:
    names = list(files)
    return [redact(m, names) for m in messages]


class RedactedError(RuntimeError):
    """An error whose text went through `redact` (its original is not chained: Dagster would
    store the original's text with the run)."""


@contextlib.contextmanager
def redacted_errors(files: Iterable[str] = ()) -> Iterator[None]:
    """Around a Dagster step: an unexpected error (a DuckDB conversion error quotes the value it
    could not convert) is re-raised with its text redacted. Dagster's `Failure`, whose text this
    project builds already redacted, and the key errors, which hold no data, pass unchanged."""
    from dagster import Failure

    from iop.settings import PseudonymKeyError

    try:
        yield
    except (Failure, PseudonymKeyError):
        raise
    except Exception as error:
        raise RedactedError(f"{type(error).__name__}: {redact(error, files)}") from None
