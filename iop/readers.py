"""Landed file → raw Parquet: read one delivered file whole, or reject it whole.

`convert_to_raw_parquet` takes one landed file (CSV in any of the shapes feeds really send, or an
Excel .xlsx export), recognizes its layout by the normalized header (`iop.layouts.detect_layout`)
and writes one Parquet file (zstd) with one *text* column per header column — normalized names, in
file order — plus the lineage columns `_source_file`, `_file_sha256`, `_row_number` (1-based
data-row number, header not counted) and `_landed_at`. The Parquet is written under a temporary
name in the destination folder and renamed into place, so a reader never sees half a file.

A file that cannot be taken whole raises `RejectedFile` (a `ValueError`) whose message starts with
the file's landing-relative path; nothing is written then. Everything that was accepted but is
worth a human's look is returned as `RawConversion.warnings`, each message naming the file too.

Decisions (the contract the staging models can rely on):

* Encoding: strict UTF-8 (a UTF-8 BOM is dropped); a file with a UTF-16 BOM is read as UTF-16;
  otherwise, if UTF-8 fails, the file is read as Windows-1252 with a warning. Bytes that are
  neither (NUL bytes, the five bytes cp1252 leaves undefined, mostly control characters) mean
  binary content: rejected. Non-UTF-8 files are transcoded to a temporary UTF-8 copy first.
* Delimiter: sniffed from the header line among `,` `;` `|` and tab (the one occurring most
  outside quotes; `,` when none does). Quote `"`, a quote inside a quoted field is doubled, no
  backslash escape. CRLF, LF and CR line endings; quoted fields may hold delimiters, quotes and
  line breaks, and such a record still counts as one row.
* Empty values: an empty field (quoted or not) or empty cell is NULL, as in the DuckDB ingest
  this replaces; every other value is kept exactly as delivered (no trimming).
* Blank lines are not rows, wherever they are; blank lines before the header are skipped (warned).
  Trailing records with no value at all (e.g. `,,,,` lines an Excel "Save as CSV" leaves) are
  dropped with a warning; such a record in the middle of the file is kept as a row (staging
  quarantines it), so the row numbers of the other rows stay the file's own.
* Ragged rows: a row with MORE fields than the header is rejected (naming the row numbers). A row
  with FEWER fields is padded with NULLs and reported in a warning naming the rows: writers that
  drop trailing empty fields are common, the values present stay in their columns, and a missing
  required value is caught by the staging quarantine rules. A row short only of unnamed trailing
  columns is padded silently.
* Unnamed columns (a header ending in delimiters, or an empty name): dropped when every value in
  them is empty; otherwise kept as `column_<position>` (1-based) with a warning, and reported as
  extra columns.
* Duplicate column names after normalization: rejected. Missing required columns: rejected with
  the message of `UnrecognizedLayout` ("missing required column(s): ..."). Columns the layout does
  not know: kept, listed in `extra_columns` and warned about.
* Excel (.xlsx, recognized by content, not name): first sheet, header in row 1, cached values of
  formulas. Dates and times Excel stored as such are written in the layout's own text format
  (its `date_format` / `time_format` in sql/macros/layouts.sql: vendor A `MM/DD/YYYY` and
  `HH:MM AM`, ISO elsewhere; `%p` is written AM/PM whatever the locale); whole numbers have
  no `.0`; a number formatted `00000` keeps its leading zeros. An empty sheet row inside the data
  is a row (so row numbers are the sheet's row minus one); trailing empty rows are dropped.
  Legacy .xls and compressed files are rejected.

* Quoting errors: a quoted field that is never closed (a truncated file) is rejected naming the
  row it opens in, and so is a closing quote followed by more text (`"ab"c`), when the file is
  re-read record by record (below). A quote inside an unquoted value (`5'10"`) is literal.

Speed: the common UTF-8 path is parsed by Arrow's multi-threaded CSV reader (all columns typed as
string). Only a file with ragged rows, an odd number of quote characters, or anything else Arrow
will not parse is re-read with Python's csv module (strict), to name the offending rows exactly.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from iop.files import private_dir
from iop.layouts import (
    LAYOUTS,
    Layout,
    UnrecognizedLayout,
    detect_layout,
    layouts_for_feed,
    normalize_column,
)

DELIMITERS = (",", ";", "\t", "|")  # tie-break order for sniffing
QUOTE = '"'
CHUNK = 1 << 20
SAMPLE = 64 << 10
MAX_HEADER_BYTES = 1 << 20
MAX_LISTED = 5  # row numbers listed in one message
LINEAGE_COLUMNS = ("_source_file", "_file_sha256", "_row_number", "_landed_at")

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other OLE2 documents)
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# C0 control bytes that never belong in a delimited text file (tab, LF, VT, FF, CR are fine).
CONTROL_BYTES = bytes([*range(0x01, 0x09), *range(0x0E, 0x20)])
CONTROL_SHARE_LIMIT = 0.01


class RejectedFile(ValueError):
    """The file cannot be taken whole; the message names the file and the problem."""


@dataclass
class RawConversion:
    layout: str
    rows: int
    columns: list[str]  # the data columns written, normalized names, file order (no lineage)
    extra_columns: list[str] = field(default_factory=list)  # written but not in the layout
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None  # utf-8, utf-8-sig, utf-16, cp1252; None for .xlsx
    delimiter: str | None = None  # None for .xlsx
    format: str = "csv"  # csv | xlsx


@dataclass
class _Header:
    raw: list[str]  # names as delivered
    names: list[str]  # normalized; unnamed columns get column_<position>
    unnamed: list[int]  # indexes of columns whose delivered name is empty
    layout: Layout
    short_rows: list[int] = field(default_factory=list)  # rows padded with NULLs (CSV only)

    @property
    def named_width(self) -> int:
        """Fields up to the last named column: a row shorter than this lost real columns."""
        named = [i for i in range(len(self.names)) if i not in set(self.unnamed)]
        return named[-1] + 1 if named else 0


def convert_to_raw_parquet(
    path: Path,
    *,
    feed: str,
    relative: str,
    sha256: str,
    landed_at: datetime,
    out_path: Path,
    x12_strict: bool = False,
) -> RawConversion:
    """Read one landed file whole and write its raw Parquet; `RejectedFile` if it can't be.

    X12 is read tolerantly unless `x12_strict` (IOP_X12_STRICT=1): control-count and
    control-number mismatches and a non-fixed-width ISA become warnings, not a rejection."""
    path, out_path = Path(path), Path(out_path)
    if not layouts_for_feed(feed):
        raise RejectedFile(f"{relative}: no layout is defined for feed {feed!r}")
    size = path.stat().st_size
    if size == 0:
        raise RejectedFile(f"{relative}: empty file (0 bytes)")
    with path.open("rb") as handle:
        magic = handle.read(8)
    if feed == "claims" and _looks_like_x12(path):
        header, table, result = _read_x12(path, relative, strict=x12_strict)
    elif _looks_like_x12_without_isa(path):
        raise RejectedFile(
            f"{relative}: X12 without an ISA interchange header: the file starts with X12 "
            "segments but no ISA; land the whole interchange (ISA ... IEA)"
        )
    elif magic.startswith(ZIP_MAGIC):
        header, table, result = _read_xlsx(path, feed, relative)
    elif magic.startswith(OLE_MAGIC):
        raise RejectedFile(
            f"{relative}: binary content: a legacy Excel .xls (or other OLE2) document; "
            "save it as .xlsx or CSV"
        )
    elif magic.startswith(GZIP_MAGIC):
        raise RejectedFile(f"{relative}: binary content: gzip-compressed; land it uncompressed")
    else:
        header, table, result = _read_delimited(path, feed, relative, out_path)

    table = _finish(table, header, result, relative, warn_blank_tail=result.format == "csv")
    _write(table, relative, sha256, landed_at, out_path)
    return result


def _looks_like_x12(path: Path) -> bool:
    """An X12 interchange starts with ISA (after an optional BOM and white space)."""
    with path.open("rb") as handle:
        start = handle.read(512)
    return start.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"ISA")


# The first segment of an interchange stripped of its ISA: a GS, ST or one of the segments of
# an 837/835 body, then an element separator (X12 allows any non-alphanumeric; these are used).
X12_BODY_START = re.compile(
    rb"(?:GS|ST|BHT|HL|NM1|CLM|SV1|SV2|BPR|TRN|CLP|SVC|SE|GE|IEA)[*|^~!](?:[^\r\n,;\t]*)[~\r\n]"
)


def _looks_like_x12_without_isa(path: Path) -> bool:
    """X12 segments where an interchange should start with ISA (a truncated or hand-cut file):
    rejected with an X12 message rather than a CSV header's."""
    with path.open("rb") as handle:
        start = handle.read(512)
    return X12_BODY_START.match(start.removeprefix(b"\xef\xbb\xbf").lstrip()) is not None


def _read_x12(
    path: Path, relative: str, *, strict: bool = False
) -> tuple[_Header, pa.Table, RawConversion]:
    """837P/837I service lines → the canonical claim-line layout; 835 SVC lines → remittance."""
    from iop.x12 import X12Error, parse_x12

    try:
        parsed = parse_x12(path, strict=strict)
    except X12Error as error:
        raise RejectedFile(f"{relative}: malformed X12: {error}") from error
    kinds = {"837": bool(parsed.claim_lines), "835": bool(parsed.remittance_lines)}
    if kinds["837"] and kinds["835"]:
        raise RejectedFile(
            f"{relative}: mixes 837 claims and 835 remittances; land them as separate files"
        )
    if kinds["837"]:
        layout_name, lines, label = "claims_csv", parsed.claim_lines, "x12-837"
    elif kinds["835"]:
        layout_name, lines, label = "remittance_835", parsed.remittance_lines, "x12-835"
    elif parsed.transaction.startswith(("837", "835")):
        layout_name, lines = (
            ("claims_csv" if parsed.transaction.startswith("837") else "remittance_835"),
            [],
        )
        label = f"x12-{parsed.transaction[:3]}"
    else:
        raise RejectedFile(
            f"{relative}: X12 transaction {parsed.transaction or 'unknown'} is not a claim (837) "
            "or remittance (835) file"
        )
    layout = next(x for x in LAYOUTS if x.name == layout_name)
    columns = list(layout.columns)
    table = pa.table(
        {c: pa.array([line.get(c) or None for line in lines], pa.string()) for c in columns}
    )
    header = _Header(raw=columns, names=columns, unnamed=[], layout=layout)
    result = RawConversion(
        layout=layout_name,
        rows=table.num_rows,
        columns=columns,
        warnings=[f"{relative}: {message}" for message in parsed.errors],
        format=label,
    )
    return header, table, result


# ---------------------------------------------------------------------------------------------
# Delimited text


def _read_delimited(
    path: Path, feed: str, relative: str, out_path: Path
) -> tuple[_Header, pa.Table, RawConversion]:
    warnings: list[str] = []
    encoding, not_utf8 = _detect_encoding(path, relative)
    with contextlib.ExitStack() as stack:
        source, start = path, 0
        if encoding == "utf-8-sig":
            start = len(UTF8_BOM)
        elif encoding in ("cp1252", "utf-16"):
            source = _transcode_to_utf8(path, encoding, relative, out_path)
            stack.callback(_unlink_quietly, source)
        if encoding == "cp1252":
            warnings.append(
                f"{relative}: not valid UTF-8 ({not_utf8}); read as Windows-1252 (cp1252)"
            )
        header_text, data_start, blank_before = _header_line(source, start, relative)
        if blank_before:
            warnings.append(f"{relative}: skipped {blank_before} blank line(s) before the header")
        delimiter = _sniff_delimiter(header_text)
        header = _parse_header(header_text, delimiter, feed, relative)
        table = _parse_rows(source, data_start, delimiter, header, relative)
    result = RawConversion(
        layout=header.layout.name,
        rows=0,
        columns=[],
        warnings=warnings,
        encoding=encoding,
        delimiter=delimiter,
        format="csv",
    )
    return header, table, result


def _detect_encoding(path: Path, relative: str) -> tuple[str, str]:
    """The file's encoding, and for cp1252 what made UTF-8 fail."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE)
    if head.startswith(UTF16_BOMS):
        return "utf-16", ""
    if b"\x00" in head:
        raise RejectedFile(f"{relative}: binary content (NUL bytes): not a text file")
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if controls > CONTROL_SHARE_LIMIT * len(head):
        raise RejectedFile(
            f"{relative}: binary content ({controls} control bytes in the first "
            f"{len(head)} bytes): not a text file"
        )
    not_utf8 = _decodes(path, "utf-8", relative)
    if not_utf8 is None:
        return ("utf-8-sig" if head.startswith(UTF8_BOM) else "utf-8"), ""
    bad = _decodes(path, "cp1252", relative)
    if bad is not None:
        raise RejectedFile(
            f"{relative}: undecodable content: byte 0x{bad[1]:02X} at offset {bad[0]} is "
            "neither UTF-8 nor Windows-1252 (binary file?)"
        )
    return "cp1252", f"byte 0x{not_utf8[1]:02X} at offset {not_utf8[0]}"


def _decodes(path: Path, encoding: str, relative: str) -> tuple[int, int] | None:
    """None when the whole file decodes strictly; else (offset, value) of the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if b"\x00" in chunk:
                raise RejectedFile(f"{relative}: binary content (NUL bytes): not a text file")
            pending = len(decoder.getstate()[0])  # bytes of an unfinished sequence held back
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                return offset - pending + error.start, error.object[error.start]
            if not chunk:
                return None
            offset += len(chunk)


def _temporary_beside(out_path: Path, suffix: str) -> tuple[int, Path]:
    """A new, uniquely named hidden file in the destination folder (same file system)."""
    private_dir(out_path.parent)
    handle, name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=suffix, dir=out_path.parent)
    return handle, Path(name)


def _transcode_to_utf8(path: Path, encoding: str, relative: str, out_path: Path) -> Path:
    """A temporary UTF-8 copy of the file, next to where its Parquet will be written."""
    handle, target = _temporary_beside(out_path, ".utf8.tmp")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with path.open("rb") as src, os.fdopen(handle, "wb") as dst:
            while True:
                chunk = src.read(CHUNK)
                dst.write(decoder.decode(chunk, final=not chunk).encode("utf-8"))
                if not chunk:
                    break
    except UnicodeDecodeError as error:
        _unlink_quietly(target)
        raise RejectedFile(f"{relative}: undecodable {encoding} content: {error.reason}") from None
    except BaseException:
        _unlink_quietly(target)
        raise
    return target


def _header_line(source: Path, start: int, relative: str) -> tuple[str, int, int]:
    """The first non-blank record's text, the byte offset where data starts, blank lines skipped."""
    with source.open("rb") as handle:
        handle.seek(start)
        buffer = handle.read(MAX_HEADER_BYTES + 1)
    at_eof = len(buffer) <= MAX_HEADER_BYTES
    position, blank = 0, 0
    while True:
        end, after = _record_end(buffer, position)
        if end is None:
            if not at_eof:
                raise RejectedFile(f"{relative}: no line break in the first 1 MiB: no header row")
            end = after = len(buffer)
        text = buffer[position:end]
        if text.strip():
            return text.decode("utf-8"), start + after, blank
        if after >= len(buffer):
            raise RejectedFile(f"{relative}: no header row (the file is blank)")
        blank += 1
        position = after


def _record_end(buffer: bytes, position: int) -> tuple[int | None, int]:
    """End of the record starting at `position` (a line break outside quotes) and the next start."""
    quoted = False
    index, length = position, len(buffer)
    while index < length:
        byte = buffer[index]
        if byte == 0x22:
            quoted = not quoted
        elif not quoted and byte in (0x0A, 0x0D):
            after = index + 1
            if byte == 0x0D and after < length and buffer[after] == 0x0A:
                after += 1
            return index, after
        index += 1
    return None, length


def _sniff_delimiter(header_text: str) -> str:
    outside = re.sub(r'"[^"]*"', "", header_text)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def _parse_header(header_text: str, delimiter: str, feed: str, relative: str) -> _Header:
    raw = next(csv.reader([header_text], delimiter=delimiter, quotechar=QUOTE, doublequote=True))
    return _make_header([str(name) for name in raw], feed, relative)


def _make_header(raw: list[str], feed: str, relative: str) -> _Header:
    normalized = [normalize_column(name) for name in raw]
    unnamed = [i for i, name in enumerate(normalized) if not name]
    names = [name or f"column_{i + 1}" for i, name in enumerate(normalized)]
    if len(unnamed) == len(names):
        raise RejectedFile(f"{relative}: no header row (the first row has no column names)")
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    duplicates = {name: idx for name, idx in seen.items() if len(idx) > 1}
    if duplicates:
        described = "; ".join(
            f"{name} (from {', '.join(repr(raw[i]) for i in idx)})"
            for name, idx in duplicates.items()
        )
        raise RejectedFile(f"{relative}: duplicate column name(s) after normalization: {described}")
    try:
        layout = detect_layout(feed, [n for n in normalized if n])
    except UnrecognizedLayout as error:
        raise RejectedFile(f"{relative}: {error}") from None
    return _Header(raw=raw, names=names, unnamed=unnamed, layout=layout)


def _parse_rows(
    source: Path, start: int, delimiter: str, header: _Header, relative: str
) -> pa.Table:
    width = len(header.names)
    if _odd_quote_count(source, start):
        # a quoted field left open (a truncated file) or a bare quote inside a value: only the
        # exact re-read tells which, and rejects the first
        return _parse_rows_python(source, start, delimiter, header, relative)
    placeholders = [f"c{i}" for i in range(width)]

    def on_invalid_row(row) -> str:
        return "error"  # a row with more or fewer fields: leave it to the exact re-read below

    try:
        with pa.memory_map(str(source)) as stream:
            stream.seek(start)
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=placeholders, block_size=8 << 20),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    quote_char=QUOTE,
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                    invalid_row_handler=on_invalid_row,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in placeholders},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
    except pa.ArrowInvalid:
        # ragged rows, or something Arrow will not parse: re-read record by record, which names
        # the offending rows exactly (and pads or rejects as documented above)
        return _parse_rows_python(source, start, delimiter, header, relative)
    return table.rename_columns(header.names)


def _odd_quote_count(source: Path, start: int) -> bool:
    quotes = 0
    with source.open("rb") as handle:
        handle.seek(start)
        while chunk := handle.read(CHUNK):
            quotes += chunk.count(b'"')
    return quotes % 2 == 1


def _parse_rows_python(
    source: Path, start: int, delimiter: str, header: _Header, relative: str
) -> pa.Table:
    """Record by record: names rows with more fields (rejected) or fewer (padded) exactly."""
    width, named_width = len(header.names), header.named_width
    columns: list[list[str | None]] = [[] for _ in range(width)]
    long_rows: list[tuple[int, int]] = []
    short_rows: list[int] = []
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        with source.open("rb") as raw:
            raw.seek(start)
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.reader(
                text, delimiter=delimiter, quotechar=QUOTE, doublequote=True, strict=True
            )
            row_number = 0
            try:
                for record in reader:
                    if not record:
                        continue  # blank line: not a row
                    row_number += 1
                    count = len(record)
                    if count > width:
                        long_rows.append((row_number, count))
                        continue
                    if count < width:
                        if count < named_width:
                            short_rows.append(row_number)
                        record.extend([""] * (width - count))
                    for column, value in zip(columns, record, strict=True):
                        column.append(value if value != "" else None)
            except csv.Error as error:
                problem = (
                    "a quoted field opened in this row is never closed (truncated file?)"
                    if "unexpected end of data" in str(error)
                    else f"malformed quoting ({error})"
                )
                raise RejectedFile(f"{relative}: row {row_number + 1}: {problem}") from None
    finally:
        csv.field_size_limit(previous_limit)
    if long_rows:
        first, count = long_rows[0]
        listed = ", ".join(str(n) for n, _ in long_rows[:MAX_LISTED])
        more = f" ({len(long_rows)} rows in all)" if len(long_rows) > MAX_LISTED else ""
        raise RejectedFile(
            f"{relative}: row {first} has {count} fields but the header has {width}; "
            f"rows with more fields than the header: {listed}{more}"
        )
    header.short_rows = short_rows
    return pa.table([pa.array(values, type=pa.string()) for values in columns], names=header.names)


# ---------------------------------------------------------------------------------------------
# Excel


def _read_xlsx(path: Path, feed: str, relative: str) -> tuple[_Header, pa.Table, RawConversion]:
    try:
        from openpyxl import load_workbook
    except ImportError as error:  # pragma: no cover - dependency pinned in the project
        raise RuntimeError("reading .xlsx files needs openpyxl") from error
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise RejectedFile(
            f"{relative}: a zip archive that is not a readable .xlsx workbook "
            f"({type(error).__name__}: {error})"
        ) from None
    warnings: list[str] = []
    try:
        if not workbook.worksheets:
            raise RejectedFile(f"{relative}: the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        if len(workbook.worksheets) > 1:
            warnings.append(
                f"{relative}: workbook has {len(workbook.worksheets)} sheets; "
                f"read only the first ({sheet.title!r})"
            )
        rows = sheet.iter_rows()
        first = next(rows, None)
        raw_header = [] if first is None else [_header_cell(cell.value) for cell in first]
        while raw_header and raw_header[-1] == "":
            raw_header.pop()  # trailing empty cells are not columns
        if not any(raw_header):
            raise RejectedFile(f"{relative}: no header row (row 1 of the first sheet is empty)")
        header = _make_header(raw_header, feed, relative)
        width = len(header.names)
        # dates and times Excel stored as numbers, written as the layout's staging model parses them
        date_format, time_format = header.layout.date_format, header.layout.time_format
        kinds = [_column_kind(name) for name in header.names]
        columns: list[list[str | None]] = [[] for _ in range(width)]
        for row_number, cells in enumerate(rows, start=1):
            values = [
                _cell_text(cell, kinds[i] if i < width else "", date_format, time_format)
                for i, cell in enumerate(cells)
            ]
            beyond = [i for i in range(width, len(values)) if values[i] is not None]
            if beyond:
                raise RejectedFile(
                    f"{relative}: row {row_number} (sheet row {row_number + 1}) has a value in "
                    f"column {beyond[0] + 1}, beyond the header's {width} columns"
                )
            values.extend([None] * (width - len(values)))
            for column, value in zip(columns, values[:width], strict=True):
                column.append(value)
    finally:
        workbook.close()
    table = pa.table([pa.array(v, type=pa.string()) for v in columns], names=header.names)
    result = RawConversion(
        layout=header.layout.name,
        rows=0,
        columns=[],
        warnings=warnings,
        encoding=None,
        delimiter=None,
        format="xlsx",
    )
    return header, table, result


def _header_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column_kind(name: str) -> str:
    if name == "date" or name.endswith("_date"):
        return "date"
    if name == "time" or name.endswith("_time"):
        return "time"
    return ""


def _format(value: date | time | datetime, pattern: str) -> str:
    hour = getattr(value, "hour", 0)
    return value.strftime(pattern.replace("%p", "AM" if hour < 12 else "PM"))


def _round_to_second(value: time | datetime) -> time | datetime:
    if isinstance(value, datetime):
        if value.microsecond >= 500_000:
            value += timedelta(seconds=1)
        return value.replace(microsecond=0)
    if value.microsecond < 500_000:
        return value.replace(microsecond=0)
    moment = datetime.combine(date(2000, 1, 1), value.replace(microsecond=0)) + timedelta(seconds=1)
    return moment.time()


def _cell_text(cell, kind: str, date_format: str, time_format: str) -> str | None:
    value = cell.value
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        value = _round_to_second(value)
        if kind == "time":
            return _format(value.time(), time_format)
        if kind == "date" or value.time() == time(0, 0):
            return _format(value.date(), date_format)
        return f"{_format(value.date(), date_format)} {_format(value.time(), time_format)}"
    if isinstance(value, date):
        return _format(value, date_format)
    if isinstance(value, time):
        return _format(_round_to_second(value), time_format)
    if isinstance(value, timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            return format(value, ".15g")
        text = str(int(value))
        number_format = getattr(cell, "number_format", "") or ""
        if re.fullmatch(r"0+", number_format) and not text.startswith("-"):
            text = text.zfill(len(number_format))
        return text
    return str(value)


# ---------------------------------------------------------------------------------------------
# Shared finish and write


def _has_value(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(column), ""), False)


def _row_flags(table: pa.Table) -> np.ndarray:
    """Per row: does any field hold a non-blank value?"""
    any_value = None
    for column in table.columns:
        present = _has_value(column)
        any_value = present if any_value is None else pc.or_(any_value, present)
    return np.asarray(any_value.to_numpy(zero_copy_only=False), dtype=bool)


def _finish(
    table: pa.Table, header: _Header, result: RawConversion, relative: str, *, warn_blank_tail: bool
) -> pa.Table:
    """Drop trailing value-less records and empty unnamed columns; fill in the result."""
    warnings = result.warnings
    keep = table.num_rows
    if keep and not _row_flags(table.slice(keep - 1))[0]:
        filled = np.flatnonzero(_row_flags(table))
        keep = int(filled[-1]) + 1 if filled.size else 0
    short_rows = [n for n in header.short_rows if n <= keep]
    if short_rows:
        listed = ", ".join(str(n) for n in short_rows[:MAX_LISTED])
        more = ", ..." if len(short_rows) > MAX_LISTED else ""
        warnings.append(
            f"{relative}: {len(short_rows)} row(s) had fewer fields than the header's "
            f"{header.named_width} and were padded with empty values: row(s) {listed}{more}"
        )
    if keep < table.num_rows:
        if warn_blank_tail:
            warnings.append(
                f"{relative}: dropped {table.num_rows - keep} trailing row(s) without any "
                "value (empty fields only)"
            )
        table = table.slice(0, keep)

    keep_columns: list[str] = []
    for i, name in enumerate(header.names):
        if i in header.unnamed:
            filled_rows = pc.sum(_has_value(table.column(name))).as_py() or 0
            if not filled_rows:
                continue
            warnings.append(
                f"{relative}: column {i + 1} has no header name but holds values in "
                f"{filled_rows} row(s); kept as {name!r}"
            )
        keep_columns.append(name)
    table = table.select(keep_columns)

    known = set(header.layout.columns)
    extras = [name for name in keep_columns if name not in known]
    named_extras = [
        name for i, name in enumerate(header.names) if name in extras and i not in header.unnamed
    ]
    if named_extras:
        warnings.append(
            f"{relative}: column(s) not in layout {header.layout.name} kept as extra: "
            + ", ".join(named_extras)
        )
    if table.num_rows == 0:
        warnings.append(f"{relative}: no data rows (header only)")
    result.rows = table.num_rows
    result.columns = keep_columns
    result.extra_columns = extras
    return table


def _write(
    table: pa.Table, relative: str, sha256: str, landed_at: datetime, out_path: Path
) -> None:
    rows = table.num_rows
    if landed_at.tzinfo is not None:
        landed_at = landed_at.astimezone(UTC).replace(tzinfo=None)
    lineage = {
        "_source_file": pa.repeat(pa.scalar(relative, pa.string()), rows),
        "_file_sha256": pa.repeat(pa.scalar(sha256, pa.string()), rows),
        "_row_number": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        "_landed_at": pa.repeat(pa.scalar(landed_at, pa.timestamp("us")), rows),
    }
    for name, values in lineage.items():
        table = table.append_column(name, values)
    handle, temporary = _temporary_beside(out_path, ".tmp")
    os.close(handle)
    # mkstemp creates it 0600: raw holds PHI, so it stays private to the pipeline's user
    try:
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, out_path)
    except BaseException:
        _unlink_quietly(temporary)
        raise


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
