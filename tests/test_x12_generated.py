"""The generator's X12 files (iop/generator/x12_writer.py) are real-style 5010 interchanges that
the project's reader takes strictly, with every envelope count and control number right
(checked here by a plain split, independently of iop.x12). It reads only the files the generator
writes, so it runs in a plain clone."""

from __future__ import annotations

from collections import Counter

import pytest

from iop.generator import generate
from iop.x12 import parse_x12


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen_x12")
    generate(root, clients=120, seed=5, start="2025-01-01", end="2025-09-30", hold_back_days=10)
    found = sorted(
        p for top in ("landing", "holdback") for p in (root / top / "claims").glob("*.83*")
    )
    assert found
    return found


def _segments(text: str) -> list[list[str]]:
    element, terminator = text[3], text[105]
    return [s.strip().split(element) for s in text.split(terminator) if s.strip()]


def test_envelopes_are_whole_and_counted(files):
    for path in files:
        text = path.read_text(encoding="ascii")
        assert text.startswith("ISA") and len(text.split("~")[0]) == 105, path.name
        segs = _segments(text)
        isa, gs, ge, iea = segs[0], segs[1], segs[-2], segs[-1]
        assert [isa[0], gs[0], ge[0], iea[0]] == ["ISA", "GS", "GE", "IEA"]
        assert iea[1:] == ["1", isa[13]] and ge[2] == gs[6], path.name
        starts = [i for i, s in enumerate(segs) if s[0] == "ST"]
        ends = [i for i, s in enumerate(segs) if s[0] == "SE"]
        assert len(starts) == len(ends) == int(ge[1]) > 0, path.name
        for st, se in zip(starts, ends, strict=True):
            assert segs[se][1:] == [str(se - st + 1), segs[st][2]], path.name
            assert segs[st][3] == gs[8]  # ST03 = GS08, the implementation guide


def test_the_reader_takes_them_strictly_without_warnings(files):
    kinds = Counter()
    for path in files:
        parsed = parse_x12(path)  # strict: any count or control-number mismatch raises
        assert parsed.errors == [], (path.name, parsed.errors[:3])
        kinds[parsed.transaction] += 1
        segments = Counter(s[0] for s in _segments(path.read_text()))
        assert len(parsed.claim_lines) == segments["SV1"] + segments["SV2"]
        assert len(parsed.remittance_lines) == segments["SVC"]
        expected = {".837p": "837P", ".837i": "837I", ".835": "835"}[path.suffix]
        assert parsed.transaction == expected, path.name
        assert all(line["payer"] == "Medicare" for line in parsed.claim_lines)
        assert all(line["received_date"] for line in parsed.claim_lines)
        assert all(line["payer_claim_control_number"] for line in parsed.remittance_lines)
    assert set(kinds) == {"837P", "837I", "835"}
    assert any("holdback" in p.parts for p in files)
