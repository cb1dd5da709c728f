"""X12 5010 claim files (837P, 837I) and remittances (835) → canonical lines.

    from iop.x12 import parse_x12
    x = parse_x12(Path("claims.837"))
    x.transaction        # '837P', '837I', '835', '999', ... ('837P+835' when a file mixes them)
    x.claim_lines        # one dict per SV1/SV2 with exactly the claims_csv columns
    x.remittance_lines   # one dict per SVC with REMITTANCE_COLUMNS
    x.segment_counts     # {'CLM': 2, 'SV1': 5, ...}
    x.errors             # non-fatal findings (odd dates, version mismatches, ...)

A malformed file raises X12Error (a ValueError) naming the file and every problem found. What
counts as malformed, and why our own tokenizer rather than a library: docs/x12.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from iop.x12.claims import CLAIM_COLUMNS, map_837
from iop.x12.envelope import X12Error, decode, read_envelope, sniff_component_separator, where
from iop.x12.remittance import REMITTANCE_COLUMNS, map_835

__all__ = ["CLAIM_COLUMNS", "REMITTANCE_COLUMNS", "X12Error", "X12File", "parse_x12"]


@dataclass
class X12File:
    path: Path
    transaction: str
    transactions: list[str] = field(default_factory=list)  # one label per ST..SE, in file order
    claim_lines: list[dict[str, str]] = field(default_factory=list)
    remittance_lines: list[dict[str, str]] = field(default_factory=list)
    segment_counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def parse_x12(path: Path, *, strict: bool = True) -> X12File:
    """Read every interchange, group and transaction set of an X12 file.

    strict=False downgrades count and control-number mismatches (SE01, GE01, IEA01, SE02, GE02,
    IEA02) and a non-fixed-width ISA to entries in `errors`; structural problems always raise.
    """
    path = Path(path)
    source = path.name
    text = decode(path.read_bytes(), source)
    env = read_envelope(text, source)
    if env.fatal:
        raise X12Error(source, env.fatal + env.count)

    problems: list[str] = []
    warnings: list[str] = []
    result = X12File(path, "", segment_counts=dict(env.segment_counts))
    versions_seen: set[str] = set()
    for tx in env.transactions:
        version = tx.group_version
        if not version.startswith("005010") and version not in versions_seen:
            versions_seen.add(version)
            warnings.append(
                f"GS08 {version!r} is not a 005010 implementation guide id; "
                "read with the 5010 mapping"
            )
        tx.component_separator = sniff_component_separator(tx, warnings)
        if tx.type == "837":
            label, lines = map_837(tx, partial(where, text), problems, warnings)
            result.claim_lines.extend(lines)
        elif tx.type == "835":
            label = "835"
            result.remittance_lines.extend(map_835(tx, partial(where, text), problems, warnings))
        else:
            label = tx.type
        result.transactions.append(label)
    if problems or (strict and env.count):
        raise X12Error(source, problems + (env.count if strict else []))
    result.errors = env.count + warnings
    result.transaction = "+".join(dict.fromkeys(result.transactions))
    return result
