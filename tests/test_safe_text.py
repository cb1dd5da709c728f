"""iop/safe_text.py: CSV cells never run as formulas, HTML never opens a tag, text is cleaned as
staging cleans it."""

from __future__ import annotations

import csv

import pytest

from iop.safe_text import clean_text, csv_cell, html_text, write_csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("  =1+1", "'=1+1"),  # leading blanks do not hide a formula
        ("\t=1+1", "'=1+1"),
        ("-12.5", "-12.5"),  # numbers stay numbers
        ("+1", "+1"),
        ("HILLCREST", "HILLCREST"),
        ("a=b", "a=b"),
        (None, ""),
        (-3, "-3"),
        (True, "true"),
        ("\x1b[31mRED\x1b[0m", "RED"),
        ("two\r\nlines", "two lines"),
    ],
)
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_html_text_escapes_and_drops_bidi_and_controls():
    assert html_text('<script>alert("x")</script>') == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    )
    assert html_text("\u202eTSERCLLIH & co\x07") == "TSERCLLIH &amp; co"
    assert html_text(None) == ""


def test_clean_text_matches_the_staging_normalization():
    # the same cases tests/test_hostile_input.py lands through staging
    assert clean_text("HILL\rCREST") == "HILL CREST"
    assert clean_text("LAKE\x07VIEW\u200b") == "LAKE VIEW"
    assert clean_text("Cafe\u0301 Program") == "Caf\u00e9 Program"
    assert clean_text("\x1b]0;title\x07Medicaid\r\n") == "Medicaid"
    assert clean_text("S\x1b[2J1\u202e") == "S1"


def test_write_csv_escapes_every_cell(tmp_path):
    path = tmp_path / "out.csv"
    rows = [["=1+1", "ok", -1], ["@x", "line\nbreak", None]]
    assert write_csv(path, ["program", "=header", "n"], rows) == 2
    with path.open(newline="") as handle:
        read = list(csv.reader(handle))
    assert read == [
        ["program", "'=header", "n"],
        ["'=1+1", "ok", "-1"],
        ["'@x", "line break", ""],
    ]
