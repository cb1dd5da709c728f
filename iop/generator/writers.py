"""Fast CSV writing: numeric rows -> Arrow string columns -> one byte buffer -> files.

pyarrow.csv quotes every string and pandas.to_csv is slow, so a file is produced here by
gathering each column from a small vocabulary (`pc.take`), joining the columns with commas and
a newline in C++ (`binary_join_element_wise`), and writing slices of the resulting buffer: one
slice per file. Only columns that may contain a comma or a quote (names, planted bad values) go
through the quoting step, so fields are quoted only where needed, as the contract requires.

A `Frame` is one layout's rows in file order; extra rows (bad rows, duplicated claim lines) are
inserted at given positions inside their files at write time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BATCH_ROWS = 500_000  # rows rendered at once: bounds the memory of the string columns


@dataclass
class Frame:
    """One layout's rows, sorted by file, and how to render a set of them as strings."""

    feed: str  # landing sub-folder: attendance, roster, census, claims
    layout: str
    columns: list[str]
    file_names: list[str]  # per file id
    file_holdback: np.ndarray  # per file id
    row_file: np.ndarray  # per row, non-decreasing
    render: Callable[[np.ndarray], list[pa.Array]]  # row indices -> one string array per column
    quote: tuple[str, ...] = ()  # columns that may need quoting

    @property
    def n(self) -> int:
        return self.row_file.size

    def file_path(self, file_id: int) -> str:
        """Relative to the landing (or holdback) folder, e.g. 'attendance/x.csv'."""
        return f"{self.feed}/{self.file_names[file_id]}"


@dataclass
class Extras:
    """Rows added to a frame at write time: copies of `template` rows, placed at `offset`
    (0..rows-in-file) inside `file`, with some columns overridden."""

    template: np.ndarray
    file: np.ndarray
    offset: np.ndarray
    rule: np.ndarray  # object array of rule names ("" when not a bad row)
    overrides: dict[str, tuple[np.ndarray, list]] = field(default_factory=dict)
    # column -> (indices into the extras, values (str or None) for them)

    @property
    def n(self) -> int:
        return self.template.size


def insert_positions(
    row_file: np.ndarray, n_files: int, extra_file: np.ndarray, extra_offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge extras into sorted rows.

    Returns (order, extra_final_pos, final_file_start): `order[i]` is a row index (< n) or
    n + extra index, `extra_final_pos[j]` the 0-based final position of extra j.
    """
    n = row_file.size
    counts = np.bincount(row_file, minlength=n_files)
    file_start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    idx = file_start[extra_file] + extra_offset
    srt = np.lexsort((np.arange(idx.size), idx))
    pos = np.empty(idx.size, dtype=np.int64)
    pos[srt] = idx[srt] + np.arange(idx.size)
    order = np.insert(np.arange(n, dtype=np.int64), idx[srt], n + srt)
    final_counts = counts + np.bincount(extra_file, minlength=n_files)
    final_start = np.r_[0, np.cumsum(final_counts)[:-1]].astype(np.int64)
    return order, pos, final_start


def quote_needed(arr: pa.Array) -> pa.Array:
    """Quote a field only if it holds a comma, a quote or a line break (RFC 4180)."""
    needs = pc.match_substring_regex(arr, r'[",\r\n]')
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def _quote_value(value: str | None) -> str | None:
    if value is not None and any(ch in value for ch in '",\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_lines(columns: list[pa.Array]) -> pa.Array:
    """One string per row: fields joined by commas, nulls empty, ending in a newline."""
    joined = pc.binary_join_element_wise(
        *columns, ",", null_handling="replace", null_replacement=""
    )
    return pc.binary_join_element_wise(joined, "\n", "")


def _buffer_slices(lines: pa.Array):
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = memoryview(lines.buffers()[2]) if lines.buffers()[2] is not None else memoryview(b"")
    return offsets, data


def write_frame(frame: Frame, landing: Path, holdback: Path, extras: Extras | None) -> dict:
    """Write every file of the frame; return row numbers of the extras and counts."""
    n_files = len(frame.file_names)
    if extras is None:
        extras = Extras(*(np.zeros(0, np.int64) for _ in range(3)), np.zeros(0, object))
    order, extra_pos, final_start = insert_positions(
        frame.row_file, n_files, extras.file, extras.offset
    )
    final_counts = np.diff(np.r_[final_start, order.size])
    n = frame.n
    header = (",".join(frame.columns) + "\n").encode()
    col_index = {c: i for i, c in enumerate(frame.columns)}
    # Overrides as (final position -> value) per column, sorted by position.
    overrides = {}
    for col, (which, values) in extras.overrides.items():
        p = extra_pos[which]
        srt = np.argsort(p, kind="stable")
        overrides[col_index[col]] = (p[srt], [_quote_value(values[i]) for i in srt])
    quote_cols = {col_index[c] for c in frame.quote}

    f = 0
    while f < n_files:
        # A batch of whole files, about BATCH_ROWS rows.
        g = f
        rows = 0
        while g < n_files and (rows == 0 or rows + final_counts[g] <= BATCH_ROWS):
            rows += final_counts[g]
            g += 1
        a, b = final_start[f], final_start[f] + rows
        sel = order[a:b]
        if extras.n:
            src = np.where(sel < n, sel, extras.template[np.clip(sel - n, 0, extras.n - 1)])
        else:
            src = sel
        cols = frame.render(src)
        for ci, (pos, values) in overrides.items():
            lo, hi = np.searchsorted(pos, [a, b])
            if hi > lo:
                mask = np.zeros(b - a, dtype=bool)
                mask[pos[lo:hi] - a] = True
                cols[ci] = pc.replace_with_mask(
                    cols[ci], pa.array(mask), pa.array(values[lo:hi], pa.string())
                )
        for ci in quote_cols:
            cols[ci] = quote_needed(cols[ci])
        offsets, data = _buffer_slices(csv_lines(cols))
        for fid in range(f, g):
            s = final_start[fid] - a
            e = s + final_counts[fid]
            base = holdback if frame.file_holdback[fid] else landing
            path = base / frame.feed / frame.file_names[fid]
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(header)
                fh.write(data[offsets[s] : offsets[e]])
        f = g

    extra_file = extras.file
    row_number = extra_pos - final_start[extra_file] + 1
    hold_rows = int(final_counts[frame.file_holdback].sum()) if n_files else 0
    return {
        "row_number": row_number,
        "rows": int(order.size),
        "rows_holdback": hold_rows,
        "files": int((~frame.file_holdback).sum()),
        "files_holdback": int(frame.file_holdback.sum()),
        "final_start": final_start,
        "final_counts": final_counts,
    }


def write_table(path: Path, columns: dict[str, object]) -> None:
    """A small table (truth) to CSV with the same quoting rules; values may be numpy arrays."""
    arrays = []
    for values in columns.values():
        if isinstance(values, pa.Array):
            arr = values
        else:
            values = np.asarray(values)
            if values.dtype == object:
                arr = pa.array(values.tolist(), pa.string())
            else:
                arr = pc.cast(pa.array(values), pa.string())
        arrays.append(quote_needed(arr))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write((",".join(columns) + "\n").encode())
        if arrays and len(arrays[0]):
            offsets, data = _buffer_slices(csv_lines(arrays))
            fh.write(data[offsets[0] : offsets[-1]])


def int_strings(values: np.ndarray) -> pa.Array:
    """Integers as decimal strings (vectorized cast)."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def cents_strings(cents: np.ndarray) -> pa.Array:
    """Amounts in cents -> '250.00'."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = int_strings(cents // 100)
    frac = pc.utf8_lpad(int_strings(cents % 100), 2, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


def take(vocab: pa.Array | list, idx: np.ndarray) -> pa.Array:
    """Gather strings from a small vocabulary (None entries render as empty fields)."""
    if not isinstance(vocab, pa.Array):
        vocab = pa.array(list(vocab), pa.string())
    return pc.take(vocab, pa.array(np.asarray(idx, dtype=np.int64)))
