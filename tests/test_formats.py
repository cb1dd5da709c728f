"""iop.readers: every file shape the feeds really send, and every way a file is rejected whole.

Each test writes the landed file's exact bytes (BOM, cp1252, CRLF, ...) into tmp_path, converts it
and reads the Parquet back: column names, text values, row numbers, warnings and error messages.
"""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from iop.readers import RawConversion, RejectedFile, convert_to_raw_parquet

SHA = "ab" * 32
LANDED = datetime(2025, 3, 15, 6, 30, 0)
HEADER = [
    "MRN",
    "Program",
    "Level of Care",
    "Session Date",
    "Start Time",
    "Service Type",
    "Minutes",
    "Attendance",
    "Clinician ID",
]
COLUMNS = [
    "mrn",
    "program",
    "level_of_care",
    "session_date",
    "start_time",
    "service_type",
    "minutes",
    "attendance",
    "clinician_id",
]
LINEAGE = ["_source_file", "_file_sha256", "_row_number", "_landed_at"]
ROW1 = [
    "A0000001",
    "RIVERSIDE",
    "IOP",
    "03/14/2025",
    "09:00 AM",
    "Group Therapy",
    "180",
    "Present",
    "CL0001",
]
ROW2 = [
    "A0000002",
    "LAKEVIEW",
    "PHP",
    "03/14/2025",
    "01:30 PM",
    "Individual Therapy",
    "60",
    "Absent",
    "CL0002",
]
B_HEADER = [
    "client_id",
    "program_code",
    "asam_level",
    "service_date",
    "start_time",
    "service_code",
    "duration_min",
    "attendance_code",
    "staff_id",
]


def line(fields, delimiter=","):
    return delimiter.join(fields)


def convert(tmp_path, name: str, data: bytes, feed: str = "attendance"):
    landed = tmp_path / "landing" / feed / name
    landed.parent.mkdir(parents=True, exist_ok=True)
    landed.write_bytes(data)
    out = tmp_path / "raw" / f"{name}.parquet"
    result = convert_to_raw_parquet(
        landed, feed=feed, relative=f"{feed}/{name}", sha256=SHA, landed_at=LANDED, out_path=out
    )
    return result, out


def rejected(tmp_path, name: str, data: bytes, feed: str = "attendance") -> str:
    with pytest.raises(RejectedFile) as caught:
        convert(tmp_path, name, data, feed)
    raw = tmp_path / "raw"
    assert not raw.exists() or not any(raw.iterdir()), "nothing may be written for a rejection"
    return str(caught.value)


def rows(out, columns=None) -> list[tuple]:
    table = pq.read_table(out)
    names = columns or [c for c in table.column_names if c not in LINEAGE]
    return [tuple(r[c] for c in names) for r in table.to_pylist()]


def row_numbers(out) -> list[int]:
    return pq.read_table(out, columns=["_row_number"]).column(0).to_pylist()


def assert_clean(result: RawConversion, encoding="utf-8", delimiter=","):
    assert result.layout == "attendance_vendor_a"
    assert result.columns == COLUMNS
    assert result.extra_columns == []
    assert result.warnings == []
    assert (result.encoding, result.delimiter, result.format) == (encoding, delimiter, "csv")


# --- accepted formats ---------------------------------------------------------------------------


def test_plain_utf8_lf_with_lineage_and_text_schema(tmp_path):
    data = f"{line(HEADER)}\n{line(ROW1)}\n{line(ROW2)}\n".encode()
    result, out = convert(tmp_path, "a.csv", data)
    assert_clean(result)
    assert result.rows == 2
    table = pq.read_table(out)
    assert table.column_names == COLUMNS + LINEAGE
    assert all(table.schema.field(c).type == pa.string() for c in COLUMNS + LINEAGE[:2])
    assert table.schema.field("_row_number").type == pa.int64()
    assert table.schema.field("_landed_at").type == pa.timestamp("us")
    assert rows(out) == [tuple(ROW1), tuple(ROW2)]
    assert rows(out, LINEAGE) == [
        ("attendance/a.csv", SHA, 1, LANDED),
        ("attendance/a.csv", SHA, 2, LANDED),
    ]
    assert not [p for p in out.parent.iterdir() if p != out], "no temporary file is left behind"


def test_utf8_bom_and_crlf(tmp_path):
    data = b"\xef\xbb\xbf" + f"{line(HEADER)}\r\n{line(ROW1)}\r\n{line(ROW2)}\r\n".encode()
    result, out = convert(tmp_path, "bom.csv", data)
    assert_clean(result, encoding="utf-8-sig")
    assert rows(out) == [tuple(ROW1), tuple(ROW2)]
    assert row_numbers(out) == [1, 2]


def test_windows_1252_is_transcoded_with_a_warning(tmp_path):
    # 0x92 is the right single quote, 0x96 an en dash, 0xE9 'é' in Windows-1252.
    row = (
        "A0000003,ST MARY\x92S,IOP,03/14/2025,09:00 AM,Group Therapy,180,"
        "Cancelled \x96 Client,CL\xe9"
    )
    data = f"{line(HEADER)}\r\n{row}\r\n".encode("latin-1")
    result, out = convert(tmp_path, "cp.csv", data)
    assert (result.encoding, result.rows) == ("cp1252", 1)
    offset = data.index(b"\x92")  # the first byte that is not UTF-8
    assert result.warnings == [
        f"attendance/cp.csv: not valid UTF-8 (byte 0x92 at offset {offset}); "
        "read as Windows-1252 (cp1252)"
    ]
    assert rows(out) == [
        (
            "A0000003",
            "ST MARY\u2019S",
            "IOP",
            "03/14/2025",
            "09:00 AM",
            "Group Therapy",
            "180",
            "Cancelled \u2013 Client",
            "CL\u00e9",
        )
    ]
    assert not [p for p in out.parent.iterdir() if p != out], "the UTF-8 copy is removed"


def test_utf16_with_bom_tab_delimited(tmp_path):
    # Excel's "Unicode text" export.
    data = f"{line(HEADER, chr(9))}\r\n{line(ROW1, chr(9))}\r\n".encode("utf-16")
    result, out = convert(tmp_path, "u16.txt", data)
    assert_clean(result, encoding="utf-16", delimiter="\t")
    assert rows(out) == [tuple(ROW1)]


def test_quoted_delimiters_quotes_and_newlines_count_as_one_row(tmp_path):
    quoted = ROW1[:5] + ['"Group, ""Open"" Therapy\r\nsecond line"'] + ROW1[6:]
    empty_quoted = ROW1[:8] + ['""']
    data = (
        f"{line(HEADER)}\r\n{line(quoted)}\r\n{line(ROW2)}\r\n{line(empty_quoted)}\r\n"
    ).encode()
    result, out = convert(tmp_path, "q.csv", data)
    assert_clean(result)
    assert rows(out) == [
        tuple(ROW1[:5] + ['Group, "Open" Therapy\r\nsecond line'] + ROW1[6:]),
        tuple(ROW2),
        tuple(ROW1[:8] + [None]),  # an empty field, quoted or not, is NULL
    ]
    assert row_numbers(out) == [1, 2, 3]


def test_quote_inside_an_unquoted_value_is_literal(tmp_path):
    bare = ROW1[:5] + ["Group 5'10\" Therapy"] + ROW1[6:]
    result, out = convert(tmp_path, "bare.csv", f"{line(HEADER)}\n{line(bare)}\n".encode())
    assert_clean(result)
    assert rows(out) == [tuple(bare)]


@pytest.mark.parametrize("delimiter", [";", "|", "\t"])
def test_sniffed_delimiter(tmp_path, delimiter):
    value_with_comma = ROW2[:5] + ["Family, Couples"] + ROW2[6:]
    data = "\n".join(line(r, delimiter) for r in (HEADER, ROW1, value_with_comma)) + "\n"
    result, out = convert(tmp_path, "d.csv", data.encode())
    assert_clean(result, delimiter=delimiter)
    assert rows(out) == [tuple(ROW1), tuple(value_with_comma)]


def test_header_case_and_spacing_variants(tmp_path):
    header = [
        " mrn",
        "PROGRAM ",
        "level  of care",
        "Session-Date",
        '"Start Time"',
        "service_type",
        "MINUTES",
        "Attendance",
        "Clinician  ID ",
    ]
    data = f"{line(header)}\n{line(ROW1)}\n".encode()
    result, out = convert(tmp_path, "case.csv", data)
    assert_clean(result)
    assert pq.read_table(out).column_names == COLUMNS + LINEAGE
    assert rows(out) == [tuple(ROW1)]


def test_trailing_empty_columns_are_dropped_when_empty(tmp_path):
    data = (f"{line(HEADER)},,\r\n{line(ROW1)},,\r\n{line(ROW2)},,\r\n").encode()
    result, out = convert(tmp_path, "trail.csv", data)
    assert_clean(result)
    assert pq.read_table(out).column_names == COLUMNS + LINEAGE
    assert rows(out) == [tuple(ROW1), tuple(ROW2)]


def test_trailing_unnamed_column_with_values_is_kept_with_a_warning(tmp_path):
    data = (f"{line(HEADER)},,\n{line(ROW1)},,\n{line(ROW2)},,note\n").encode()
    result, out = convert(tmp_path, "trail2.csv", data)
    assert result.columns == COLUMNS + ["column_11"]
    assert result.extra_columns == ["column_11"]
    assert result.warnings == [
        "attendance/trail2.csv: column 11 has no header name but holds values in 1 row(s); "
        "kept as 'column_11'"
    ]
    assert rows(out) == [tuple(ROW1) + (None,), tuple(ROW2) + ("note",)]


def test_blank_lines_at_the_end_are_not_rows(tmp_path):
    data = f"{line(HEADER)}\r\n{line(ROW1)}\r\n{line(ROW2)}\r\n\r\n\r\n\n".encode()
    result, out = convert(tmp_path, "blank.csv", data)
    assert_clean(result)
    assert result.rows == 2
    assert row_numbers(out) == [1, 2]


def test_trailing_delimiter_only_rows_are_dropped_with_a_warning(tmp_path):
    empty = "," * 8
    data = f"{line(HEADER)}\n{line(ROW1)}\n{empty}\n{line(ROW2)}\n{empty}\n{empty}\n\n".encode()
    result, out = convert(tmp_path, "excel.csv", data)
    assert result.warnings == [
        "attendance/excel.csv: dropped 2 trailing row(s) without any value (empty fields only)"
    ]
    # the empty record between two real rows stays a row (staging quarantines it)
    assert rows(out) == [tuple(ROW1), (None,) * 9, tuple(ROW2)]
    assert row_numbers(out) == [1, 2, 3]


def test_blank_lines_before_the_header_are_skipped_with_a_warning(tmp_path):
    data = f"\r\n\r\n{line(HEADER)}\r\n{line(ROW1)}\r\n".encode()
    result, out = convert(tmp_path, "lead.csv", data)
    assert result.warnings == ["attendance/lead.csv: skipped 2 blank line(s) before the header"]
    assert rows(out) == [tuple(ROW1)]
    assert row_numbers(out) == [1]


def test_header_only_file_gives_zero_rows_and_a_warning(tmp_path):
    result, out = convert(tmp_path, "h.csv", f"{line(HEADER)}\n".encode())
    assert result.rows == 0
    assert result.warnings == ["attendance/h.csv: no data rows (header only)"]
    assert pq.read_table(out).num_rows == 0
    assert pq.read_table(out).column_names == COLUMNS + LINEAGE


def test_short_rows_are_padded_with_nulls_and_reported(tmp_path):
    data = (
        f"{line(HEADER)}\n{line(ROW1)}\nA0000009,LAKEVIEW,OP\n{line(ROW2)}\n{line(ROW1[:8])}\n"
    ).encode()
    result, out = convert(tmp_path, "short.csv", data)
    assert result.warnings == [
        "attendance/short.csv: 2 row(s) had fewer fields than the header's 9 and were padded "
        "with empty values: row(s) 2, 4"
    ]
    assert rows(out) == [
        tuple(ROW1),
        ("A0000009", "LAKEVIEW", "OP") + (None,) * 6,
        tuple(ROW2),
        tuple(ROW1[:8]) + (None,),
    ]
    assert row_numbers(out) == [1, 2, 3, 4]


def test_schema_drift_extra_column_is_kept_and_named_in_a_warning(tmp_path):
    header = HEADER[:3] + ["Room"] + HEADER[3:]
    row = ROW1[:3] + ["B12"] + ROW1[3:]
    result, out = convert(tmp_path, "drift.csv", f"{line(header)}\n{line(row)}\n".encode())
    assert result.layout == "attendance_vendor_a"
    assert result.columns == COLUMNS[:3] + ["room"] + COLUMNS[3:]
    assert result.extra_columns == ["room"]
    assert result.warnings == [
        "attendance/drift.csv: column(s) not in layout attendance_vendor_a kept as extra: room"
    ]
    assert rows(out) == [tuple(row)]


def test_xlsx_attendance_export(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER + [None])  # a formatted but empty trailing column
    sheet.append(
        [
            "A0000001",
            "RIVERSIDE",
            "IOP",
            datetime(2025, 3, 4),
            time(9, 0),
            "Group Therapy",
            180,
            "Present",
            "CL0001",
        ]
    )
    sheet.append(
        [
            "A0000002",
            "LAKEVIEW",
            "PHP",
            datetime(2025, 12, 24),
            time(13, 30),
            "Individual Therapy",
            60.0,
            "Absent",
            1234,
        ]
    )
    sheet.append([None] * 9)  # an empty row inside the data stays a row
    sheet.append(
        [
            "A0000003",
            "LAKEVIEW",
            "OP",
            "03/05/2025",
            "10:15 AM",
            "Assessment",
            45.5,
            "Excused",
            None,
        ]
    )
    sheet["D3"].number_format = "mm/dd/yyyy"
    sheet["E2"].number_format = "h:mm AM/PM"
    sheet["I3"].number_format = "000000"
    sheet.append([None] * 9)  # trailing empty rows are dropped
    sheet.append([None] * 9)
    workbook.create_sheet("Notes")["A1"] = "ignored"
    path = tmp_path / "export.xlsx"
    workbook.save(path)

    result, out = convert(tmp_path, "export.xlsx", path.read_bytes())
    assert (result.layout, result.format, result.encoding, result.delimiter) == (
        "attendance_vendor_a",
        "xlsx",
        None,
        None,
    )
    assert result.columns == COLUMNS and result.extra_columns == []
    assert result.warnings == [
        "attendance/export.xlsx: workbook has 2 sheets; read only the first ('Sheet')"
    ]
    assert rows(out) == [
        (
            "A0000001",
            "RIVERSIDE",
            "IOP",
            "03/04/2025",
            "09:00 AM",
            "Group Therapy",
            "180",
            "Present",
            "CL0001",
        ),
        (
            "A0000002",
            "LAKEVIEW",
            "PHP",
            "12/24/2025",
            "01:30 PM",
            "Individual Therapy",
            "60",
            "Absent",
            "001234",
        ),
        (None,) * 9,
        (
            "A0000003",
            "LAKEVIEW",
            "OP",
            "03/05/2025",
            "10:15 AM",
            "Assessment",
            "45.5",
            "Excused",
            None,
        ),
    ]
    assert row_numbers(out) == [1, 2, 3, 4]
    assert pq.read_table(out).schema.field("minutes").type == pa.string()


def test_xlsx_vendor_b_dates_and_times_use_iso_and_24_hour(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(B_HEADER)
    workbook.active.append(
        ["B-000001", "HILLCREST", 2.1, datetime(2025, 3, 14), time(13, 30), "GRP", 60, "A", "S0456"]
    )
    path = tmp_path / "b.xlsx"
    workbook.save(path)
    result, out = convert(tmp_path, "b.xlsx", path.read_bytes())
    assert result.layout == "attendance_vendor_b"
    assert rows(out) == [
        ("B-000001", "HILLCREST", "2.1", "2025-03-14", "13:30", "GRP", "60", "A", "S0456")
    ]


def test_row_numbers_follow_file_order_across_parse_blocks(tmp_path):
    # 200k rows (~20 MB, several parse blocks), built without a Python loop: the clinician id
    # carries the row's position, so every _row_number can be checked.
    n = 200_000
    index = pa.array(np.arange(1, n + 1)).cast(pa.string())
    constant = {c: pa.repeat(pa.scalar(v), n) for c, v in zip(HEADER, ROW1, strict=True)}
    constant["Service Type"] = pa.repeat(pa.scalar('Group "Open"\nTherapy'), n)
    constant["Clinician ID"] = index
    path = tmp_path / "big.csv"
    pacsv.write_csv(pa.table(constant), path)
    result, out = convert(tmp_path, "big.csv", path.read_bytes())
    assert result.rows == n and result.warnings == []
    table = pq.read_table(out, columns=["clinician_id", "_row_number", "service_type"])
    assert pc.all(pc.equal(table["clinician_id"].cast(pa.int64()), table["_row_number"])).as_py()
    assert table["service_type"][n - 1].as_py() == 'Group "Open"\nTherapy'


# --- rejections ----------------------------------------------------------------------------------


def test_empty_file_is_rejected(tmp_path):
    assert rejected(tmp_path, "e.csv", b"") == "attendance/e.csv: empty file (0 bytes)"


def test_blank_file_without_header_is_rejected(tmp_path):
    message = rejected(tmp_path, "b.csv", b"\xef\xbb\xbf\r\n  \r\n")
    assert message == "attendance/b.csv: no header row (the file is blank)"


def test_header_matching_no_layout_is_rejected_listing_missing_columns(tmp_path):
    data = b"patient,visit_day\nA1,2025-03-14\n"
    assert rejected(tmp_path, "x.csv", data) == (
        "attendance/x.csv: header matches no attendance layout; closest is attendance_vendor_a, "
        "missing required column(s): mrn, program, level_of_care, session_date, start_time, "
        "service_type, minutes, attendance, clinician_id"
    )


def test_missing_required_column_is_rejected(tmp_path):
    header = [h for h in HEADER if h != "Minutes"]
    row = [v for h, v in zip(HEADER, ROW1, strict=True) if h != "Minutes"]
    message = rejected(tmp_path, "m.csv", f"{line(header)}\n{line(row)}\n".encode())
    assert message == (
        "attendance/m.csv: header matches no attendance layout; closest is attendance_vendor_a, "
        "missing required column(s): minutes"
    )


def test_row_with_more_fields_than_the_header_is_rejected_naming_the_row(tmp_path):
    quoted = ROW1[:5] + ['"two\nlines"'] + ROW1[6:]
    data = (
        f"{line(HEADER)}\n{line(quoted)}\n{line(ROW2)}\n{line(ROW1)},extra\n{line(ROW2)},x,y\n"
    ).encode()
    assert rejected(tmp_path, "long.csv", data) == (
        "attendance/long.csv: row 3 has 10 fields but the header has 9; rows with more fields "
        "than the header: 3, 4"
    )


def test_quoted_field_never_closed_is_rejected(tmp_path):
    cut = ROW2[:5] + ['"Individual Therapy,60,Absent,CL0002']
    data = f"{line(HEADER)}\n{line(ROW1)}\n{line(cut)}\n".encode()
    assert rejected(tmp_path, "cut.csv", data) == (
        "attendance/cut.csv: row 2: a quoted field opened in this row is never closed "
        "(truncated file?)"
    )


def test_duplicate_column_names_after_normalization_are_rejected(tmp_path):
    header = HEADER + ["mrn "]
    data = f"{line(header)}\n{line(ROW1)},A0000001\n".encode()
    assert rejected(tmp_path, "dup.csv", data) == (
        "attendance/dup.csv: duplicate column name(s) after normalization: mrn (from 'MRN', 'mrn ')"
    )


def test_binary_content_is_rejected(tmp_path):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert rejected(tmp_path, "scan.csv", data) == (
        "attendance/scan.csv: binary content (NUL bytes): not a text file"
    )


def test_bytes_neither_utf8_nor_cp1252_are_rejected(tmp_path):
    data = f"{line(HEADER)}\n{line(ROW1)}\n".encode() + b"A0000002,\x81\x8d\x90\n"
    offset = data.index(b"\x81")
    assert rejected(tmp_path, "u.csv", data) == (
        f"attendance/u.csv: undecodable content: byte 0x81 at offset {offset} is "
        "neither UTF-8 nor Windows-1252 (binary file?)"
    )


def test_legacy_xls_and_broken_xlsx_are_rejected(tmp_path):
    xls = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64
    assert rejected(tmp_path, "old.xls", xls) == (
        "attendance/old.xls: binary content: a legacy Excel .xls (or other OLE2) document; "
        "save it as .xlsx or CSV"
    )
    message = rejected(tmp_path, "broken.xlsx", b"PK\x03\x04 not really a zip")
    assert message.startswith(
        "attendance/broken.xlsx: a zip archive that is not a readable .xlsx workbook"
    )


def test_xlsx_value_beyond_the_header_is_rejected(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(HEADER)
    workbook.active.append(ROW1)
    workbook.active.append(ROW2 + [None, "stray note"])
    path = tmp_path / "w.xlsx"
    workbook.save(path)
    assert rejected(tmp_path, "w.xlsx", path.read_bytes()) == (
        "attendance/w.xlsx: row 2 (sheet row 3) has a value in column 11, beyond the header's "
        "9 columns"
    )
