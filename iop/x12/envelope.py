"""Bytes → interchanges → functional groups → transaction sets, with the envelope checks.

Delimiters come from each ISA (element separator = ISA character 4, component separator = ISA16,
segment terminator = the character after ISA16), so every interchange of a file may use its own.
Whitespace around segments (newlines, indentation) and a UTF-8 byte-order mark are tolerated;
everything else that the X12 envelope rules forbid is a *problem*. Problems are of two kinds:

* fatal: the file cannot be read as X12 at all or its structure is broken (no ISA, a missing
  IEA/GE/SE trailer, an invalid segment identifier, NUL or non-UTF-8 bytes). Always raised.
* count: the structure is whole but a trailer disagrees with it (SE01/GE01/IEA01 counts,
  SE02/GE02/IEA02 control numbers) or the ISA is not fixed-width. Raised in strict mode; in
  lenient mode they become warnings (X12 senders that never fill SE01 correctly exist).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 3 + sum(w + 1 for w in ISA_WIDTHS)  # 106 characters including the last separator
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
UTF8_BOM = b"\xef\xbb\xbf"
MAX_SHOWN = 6  # problems quoted in one exception message


class X12Error(ValueError):
    """A file that is not well-formed X12; the message names the file and each problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(self.problems[:MAX_SHOWN])
        more = len(self.problems) - MAX_SHOWN
        super().__init__(f"{source}: {shown}" + (f" (and {more} more)" if more > 0 else ""))


@dataclass(slots=True)
class Segment:
    elements: list[str]  # elements[0] is the segment identifier
    number: int  # 1-based position in the file
    offset: int  # character offset in the decoded text, for line numbers in messages

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, index: int) -> str:
        """Element `index` (1-based like X12's NM109), '' when absent."""
        return self.elements[index].strip() if index < len(self.elements) else ""


@dataclass
class Transaction:
    type: str  # ST01: 837, 835, 999, ...
    control_number: str  # ST02
    version: str  # ST03, else GS08
    group_version: str  # GS08
    component_separator: str
    segments: list[Segment]  # ST..SE inclusive


@dataclass
class Envelope:
    transactions: list[Transaction] = field(default_factory=list)
    segment_counts: Counter = field(default_factory=Counter)
    fatal: list[str] = field(default_factory=list)
    count: list[str] = field(default_factory=list)


def decode(data: bytes, source: str) -> str:
    """Bytes → text; NUL bytes (UTF-16, binary) and invalid UTF-8 are fatal."""
    if not data.strip():
        raise X12Error(source, ["file is empty"])
    nul = data.find(b"\x00")
    if nul >= 0:
        raise X12Error(
            source,
            [f"contains NUL bytes (first at byte {nul}): UTF-16 or binary, not 8-bit X12 text"],
        )
    bom = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start + bom
        raise X12Error(
            source, [f"byte 0x{data[bad]:02x} at offset {bad} is not valid UTF-8"]
        ) from None


def read_envelope(text: str, source: str) -> Envelope:
    """Tokenize every interchange of `text` and check its envelope."""
    env = Envelope()
    start = _skip_space(text, 0)
    if not text.startswith("ISA", start):
        raise X12Error(source, [f"does not start with an ISA segment (line {_line(text, start)})"])
    number = 0
    while start < len(text):
        if not text.startswith("ISA", start):
            env.fatal.append(
                f"line {_line(text, start)}: text after an IEA trailer does not start with ISA"
            )
            break
        delimiters = _read_isa(text, start, env)
        if delimiters is None:
            break
        segments, start, number = _tokenize(text, start, delimiters, number, env)
        _check_interchange(segments, delimiters[1], text, env)
        start = _skip_space(text, start)
    return env


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def where(text: str, seg: Segment) -> str:
    """'segment 12 (line 12)' for messages."""
    return f"segment {seg.number} (line {_line(text, seg.offset)})"


def _read_isa(text: str, start: int, env: Envelope) -> tuple[str, str, str] | None:
    """(element separator, component separator, segment terminator) from the ISA at `start`."""
    element = text[start + 3 : start + 4]
    if not element or element.isalnum() or element.isspace():
        env.fatal.append(f"line {_line(text, start)}: ISA has no valid element separator")
        return None
    positions, pos = [], start + 3
    while len(positions) < 16:
        pos = text.find(element, pos)
        if pos < 0 or pos - start > 2 * ISA_LENGTH:
            env.fatal.append(f"line {_line(text, start)}: ISA segment is truncated")
            return None
        positions.append(pos)
        pos += 1
    component, terminator = text[pos : pos + 1], text[pos + 1 : pos + 2]
    if not component or not terminator or component.isalnum() or terminator.isalnum():
        env.fatal.append(
            f"line {_line(text, start)}: ISA16 component separator {component!r} / segment "
            f"terminator {terminator!r} must be single non-alphanumeric characters"
        )
        return None
    if len({element, component, terminator}) < 3:
        env.fatal.append(
            f"line {_line(text, start)}: ISA delimiters are not distinct "
            f"({element!r}, {component!r}, {terminator!r})"
        )
        return None
    widths = [b - a - 1 for a, b in zip(positions, positions[1:] + [pos + 1], strict=True)]
    for index, (got, want) in enumerate(zip(widths, ISA_WIDTHS, strict=True), start=1):
        if got != want:
            env.count.append(
                f"line {_line(text, start)}: ISA{index:02d} is {got} characters, expected {want} "
                "(the ISA segment is fixed-width)"
            )
    return element, component, terminator


def _tokenize(
    text: str, start: int, delimiters: tuple[str, str, str], number: int, env: Envelope
) -> tuple[list[Segment], int, int]:
    """Segments from the ISA at `start` through its IEA (or up to the next ISA / end of text)."""
    element, _, terminator = delimiters
    segments: list[Segment] = []
    pos = start
    while pos < len(text):
        end = text.find(terminator, pos)
        if end < 0:
            end = len(text)
        raw = text[pos:end]
        stripped = raw.strip()
        if stripped:
            offset = pos + (len(raw) - len(raw.lstrip()))
            if segments and stripped[:3] == "ISA" and stripped[3:4] and not stripped[3].isalnum():
                return segments, offset, number  # next interchange; this one lacks its IEA
            number += 1
            seg = Segment(stripped.split(element), number, offset)
            if not SEGMENT_ID.fullmatch(seg.id):
                env.fatal.append(
                    f"{where(text, seg)}: invalid segment identifier (not 2-3 capital letters or "
                    "digits starting with a letter; the segment's text is not shown: it can "
                    "hold a patient's data)"
                )
            env.segment_counts[seg.id] += 1
            segments.append(seg)
            if seg.id == "IEA":
                return segments, end + 1, number
        pos = end + 1
    return segments, len(text), number


def _count_check(env: Envelope, what: str, declared: str, actual: int, unit: str) -> None:
    if declared != str(actual):
        env.count.append(f"{what} says {declared or 'nothing'} {unit}, found {actual}")


def _check_interchange(segments: list[Segment], component: str, text: str, env: Envelope) -> None:
    """Walk ISA/GS/ST/SE/GE/IEA and collect transactions; problems go to `env`."""
    isa = segments[0]
    isa13 = isa.get(13)
    groups = 0
    gs: Segment | None = None
    group_sets = 0
    st_index: int | None = None
    for i, seg in enumerate(segments[1:], start=1):
        sid = seg.id
        if sid in ("GS", "GE", "IEA", "ST") and st_index is not None:
            st = segments[st_index]
            env.fatal.append(f"transaction set {st.get(2)} ({st.get(1)}) has no SE trailer")
            st_index = None
        if sid == "GS":
            if gs is not None:
                env.fatal.append(f"functional group {gs.get(6)} has no GE trailer")
            gs, group_sets, groups = seg, 0, groups + 1
        elif sid == "ST":
            if gs is None:
                env.fatal.append(f"{where(text, seg)}: ST outside a functional group (no GS)")
            st_index = i
        elif sid == "SE":
            if st_index is None:
                env.fatal.append(f"{where(text, seg)}: SE without an ST")
                continue
            st = segments[st_index]
            body = segments[st_index : i + 1]
            _count_check(
                env, f"SE01 of transaction set {st.get(2)}", seg.get(1), len(body), "segments"
            )
            if seg.get(2) != st.get(2):
                env.count.append(f"SE02 {seg.get(2)!r} does not match ST02 {st.get(2)!r}")
            group_sets += 1
            group_version = gs.get(8) if gs is not None else ""
            env.transactions.append(
                Transaction(
                    st.get(1), st.get(2), st.get(3) or group_version, group_version, component, body
                )
            )
            st_index = None
        elif sid == "GE":
            if gs is None:
                env.fatal.append(f"{where(text, seg)}: GE without a GS")
                continue
            _count_check(
                env,
                f"GE01 of functional group {gs.get(6)}",
                seg.get(1),
                group_sets,
                "transaction sets",
            )
            if seg.get(2) != gs.get(6):
                env.count.append(f"GE02 {seg.get(2)!r} does not match GS06 {gs.get(6)!r}")
            gs = None
        elif sid == "IEA":
            if gs is not None:
                env.fatal.append(f"functional group {gs.get(6)} has no GE trailer")
            _count_check(
                env, f"IEA01 of interchange {isa13}", seg.get(1), groups, "functional groups"
            )
            if seg.get(2) != isa13:
                env.count.append(f"IEA02 {seg.get(2)!r} does not match ISA13 {isa13!r}")
            return
        elif st_index is None and sid != "TA1":
            env.fatal.append(f"{where(text, seg)}: segment {sid} outside a transaction set")
    if st_index is not None:
        st = segments[st_index]
        env.fatal.append(f"transaction set {st.get(2)} ({st.get(1)}) has no SE trailer")
    if gs is not None:
        env.fatal.append(f"functional group {gs.get(6)} has no GE trailer")
    env.fatal.append(f"interchange {isa13} has no IEA trailer")


# Elements that are always composites when filled: CLM05, SV101, SV202, SVC01, HI01.
COMPOSITE_ELEMENTS = {"CLM": 5, "SV1": 1, "SV2": 2, "SVC": 1, "HI": 1}


def sniff_component_separator(tx: Transaction, warnings: list[str]) -> str:
    """The component separator the transaction really uses.

    Some senders (and several implementation-guide examples) declare one ISA16 but write their
    composites with another, e.g. ISA16 ':' with CLM05 '11>B>1'. The first always-composite
    element decides; a disagreement with ISA16 is a warning, not a rejection.
    """
    declared = tx.component_separator
    for seg in tx.segments:
        index = COMPOSITE_ELEMENTS.get(seg.id)
        value = seg.get(index) if index is not None else ""
        used = next((c for c in value if not c.isalnum() and not c.isspace()), "")
        if not used:
            continue
        if used != declared:
            warnings.append(
                f"transaction set {tx.control_number}: ISA16 declares {declared!r} but "
                f"{seg.id}{index:02d} {value!r} uses {used!r}; read with {used!r}"
            )
        return used
    return declared
