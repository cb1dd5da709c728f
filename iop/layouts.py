"""Source layouts: how a landed file's header identifies which staging model reads it.

Every layout is declared once, in `sql/macros/layouts.sql` (a YAML document inside a dbt macro, so
dbt can build its unions from it when it parses the project): its feed, its contract, its header
as delivered with the canonical column each delivered column becomes, and its date and time
formats. This module reads that declaration for Python: header detection at ingest, the raw
views, the text Excel dates are written in, the generator and the test builders.

A layout is recognized by its normalized header (lower case, runs of non-alphanumerics → `_`).
Adding a vendor (README, "Adding an EHR vendor or payer feed") is a layout entry there, a staging
model `sql/staging/staging__<layout>.sql` that calls its contract's macro, and its codes in
`sql/seeds/source_code_map.csv` — nothing else changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LAYOUTS_FILE = Path(__file__).resolve().parents[1] / "sql" / "macros" / "layouts.sql"
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_TIME_FORMAT = "%H:%M"
_DECLARATION = re.compile(r"\{%-?\s*raw\s*-?%\}(.*?)\{%-?\s*endraw\s*-?%\}", re.DOTALL)


@dataclass(frozen=True)
class Layout:
    name: str
    feed: str
    columns: tuple[str, ...]  # normalized names, delivered order: what a header must hold
    header: tuple[str, ...] = ()  # the same columns as the layout delivers them ("Level of Care")
    contract: str = ""  # attendance, census, roster, claims or remittance (sql/macros/staging.sql)
    date_format: str = DEFAULT_DATE_FORMAT  # strptime formats of its dates and times
    time_format: str = DEFAULT_TIME_FORMAT
    canonical: tuple[str, ...] = ()  # the canonical column each of `columns` becomes

    def missing(self, header: list[str]) -> list[str]:
        present = set(header)
        return [c for c in self.columns if c not in present]


def normalize_column(name: str) -> str:
    """'Level of Care ' → 'level_of_care'; a BOM or stray quotes are dropped."""
    cleaned = name.replace("\ufeff", "").strip().strip('"').lower()
    return re.sub(r"[^0-9a-z]+", "_", cleaned).strip("_")


def load_layouts(path: Path = LAYOUTS_FILE) -> tuple[Layout, ...]:
    """The layouts declared in `path` (the YAML between `raw` and `endraw`), in declared order."""
    match = _DECLARATION.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{path}: no layout declaration (a raw ... endraw block) found")
    declared: dict[str, Any] = yaml.safe_load(match.group(1)) or {}
    return tuple(_layout(name, spec, path) for name, spec in declared.items())


def _layout(name: str, spec: dict[str, Any], path: Path) -> Layout:
    labels: list[str] = []
    canonical: list[str] = []
    for entry in spec["columns"]:
        label, target = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
        if not isinstance(label, str):
            # YAML reads an unquoted Yes, No, On or 1 as something else than the label
            raise ValueError(f"{path}: layout {name}: quote the column label {label!r}")
        labels.append(label)
        canonical.append(target or normalize_column(label))
    columns = tuple(normalize_column(label) for label in labels)
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path}: layout {name}: two columns normalize to the same name")
    return Layout(
        name=name,
        feed=spec["feed"],
        columns=columns,
        header=tuple(labels),
        contract=spec.get("contract", spec["feed"]),
        date_format=spec.get("date_format", DEFAULT_DATE_FORMAT),
        time_format=spec.get("time_format", DEFAULT_TIME_FORMAT),
        canonical=tuple(canonical),
    )


LAYOUTS: tuple[Layout, ...] = load_layouts()


def layout(name: str) -> Layout:
    for candidate in LAYOUTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"layout {name} is not declared in {LAYOUTS_FILE}")


def layouts_for_feed(feed: str) -> list[Layout]:
    return [candidate for candidate in LAYOUTS if candidate.feed == feed]


class UnrecognizedLayout(ValueError):
    pass


def detect_layout(feed: str, header: list[str]) -> Layout:
    """The feed's layout whose columns the header holds (the one with the most columns when
    several do: a vendor's header may extend another's); else an error naming what is missing."""
    candidates = layouts_for_feed(feed)
    matching = [candidate for candidate in candidates if not candidate.missing(header)]
    if matching:
        return max(matching, key=lambda candidate: len(candidate.columns))
    closest = min(candidates, key=lambda candidate: len(candidate.missing(header)))
    raise UnrecognizedLayout(
        f"header matches no {feed} layout; closest is {closest.name}, "
        f"missing required column(s): {', '.join(closest.missing(header))}"
    )
