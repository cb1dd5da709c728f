"""X12 parsing (iop.x12) on the real public samples in ../shared/data (see its SOURCES.md).

Every X12 sample file is classified by hand in one of four tables below; a test checks that the
tables cover the sample folders exactly, so a new sample cannot go unclassified. Expected line
counts come from a plain segment split written here, independent of iop.x12.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import NO_SHARED_DATA, SHARED_DATA

from iop.x12 import CLAIM_COLUMNS, REMITTANCE_COLUMNS, X12Error, parse_x12

SHARED = SHARED_DATA
SAMPLE_FOLDERS = ("linuxforhealth-x12", "oopfactory-x12parser", "imsweb-x12-parser", "pyx12")
LFH_P = "linuxforhealth-x12/837_005010X222A2/"
LFH_I = "linuxforhealth-x12/837_005010X223A3/"
LFH_R = "linuxforhealth-x12/835_005010X221A1/"
LFH_E = "linuxforhealth-x12/834_005010X220A1/"
OOP = "oopfactory-x12parser/"
IMS = "imsweb-x12-parser/837_5010/"
PYX = "pyx12/test_files_4010_at_57f2f32/"


class Bad(NamedTuple):
    problem: str  # text the X12Error message must contain
    lenient: bool  # still readable with strict=False (only counts/control numbers disagree)
    meant: str = ""  # what the source repository made the file to test, when that differs


# Valid 5010 claim and remittance files → transaction label.
VALID_5010 = {
    LFH_P + "demo.ambulance.example5.837": "837P",
    LFH_P + "demo.autoaccident.837": "837P",
    LFH_P + "demo.cob.2ndary.example4.837": "837P",  # ISA16 ':' but composites use '>'
    LFH_P + "demo.cob.example3.A.837": "837P",
    LFH_P + "demo.cob.example3.B.837": "837P",
    LFH_P + "demo.cob.example3.C.837": "837P",
    LFH_P + "demo.cob.example4.837": "837P",
    LFH_P + "demo.drug.example10.1.837": "837P",
    LFH_P + "demo.drug.example10.2.837": "837P",
    LFH_P + "demo.drug.example10.3.837": "837P",
    LFH_P + "demo.example1.837": "837P",
    LFH_P + "demo.example11.837": "837P",
    LFH_P + "demo.example12.837": "837P",
    LFH_P + "demo.example2.837": "837P",
    LFH_P + "demo.example6.837": "837P",
    LFH_P + "demo.example7.837": "837P",
    LFH_P + "demo.example8.837": "837P",
    LFH_P + "demo.example9.837": "837P",
    LFH_I + "institutional-claim.837i": "837I",
    LFH_I + "out-of-network-repriced-claim.837i": "837I",
    LFH_I + "ppo-repriced-claim.837i": "837I",
    LFH_I + "two-claims-single-provider.837i": "837I",
    LFH_R + "cob-contractural-adjustment.835": "835",
    LFH_R + "managed-care.835": "835",
    LFH_R + "medicare-part-a.835": "835",  # claim-level CLPs only, no SVC
    LFH_R + "secondary-payment.835": "835",
    LFH_R + "tertiary-payment.835": "835",
    OOP + "_835/_5010/Example1.txt": "835",  # BOM, indented, ISA12 00401 with GS08 "5010"
    OOP + "_835/_5010/ExampleFromNth.txt": "835",  # 3 interchanges
    OOP + "_835/_5010/FromNth/835_WithMultipleInterchanges.txt": "835",  # 3 interchanges
    OOP + "_837I/_5010/Spec_3.1.1.txt": "837I",  # ISA16 '^' but composites use ':'
    OOP + "_837I/_5010/Spec_3.1.2_TwoClaimsForTheSameProvider.txt": "837I",
    OOP + "_837I/_5010/Spec_3.1.3_PPORepricedClaim.txt": "837I",
    OOP + "_837I/_5010/Spec_3.1.4_OutOfNetworkRepricedClaim.txt": "837I",
    OOP + "_837P/_5010/Example1_2_And_3_Combined.txt": "837P",  # 2 transaction sets
    OOP + "_837P/_5010/Example1_HealthInsurance.txt": "837P",
    OOP + "_837P/_5010/Example2_Encounter.txt": "837P",
    OOP + "_837P/_5010/Example3_COB.txt": "837P",
    OOP + "_837P/_5010/MedicaidExample.txt": "837P",  # masked codes ("XX>99999")
    OOP + "_837P/_5010/MissingEntityCode.txt": "837P",
    OOP + "_837P/_5010/ST1309-XX.txt": "837P",  # carriage return as segment terminator
    "pyx12/tests_5010_HEAD/835_mult_loops.txt": "835",
}

# Well-formed files of older versions (4010): read with the 5010 mapping and a warning.
VALID_OTHER_VERSION = {
    OOP + "_835/_4010/Example1_GripElements.txt": "835",
    OOP + "_837I/_4010/FromSwreed/Batch2.txt": "837I",  # 50 transaction sets
    PYX + "bad_2010AA_bug.txt": "837P",  # an IG-level defect only (billing provider loop)
    PYX + "blank1.txt": "837I",
    PYX + "loop_counting.txt": "837P",
    PYX + "mult_trn.txt": "278+837P+835",  # 5 transaction sets, none with service lines
    PYX + "per_repeat.txt": "837P",
    PYX + "simple1.txt": "837P",  # an empty 837
    PYX + "simple_837i.txt": "837I",
    PYX + "simple_837p.txt": "837P",
}

# Well-formed files that are not claims: transaction tells what they are, no lines, no error.
NOT_CLAIMS = {
    LFH_E + "add-dependent.834": "834",
    LFH_E + "add-subscriber-coverage.834": "834",
    LFH_E + "cancel-dependent.834": "834",
    LFH_E + "change-subscriber-information.834": "834",
    LFH_E + "enroll-employee-managed-care.834": "834",
    LFH_E + "enroll-employee-multiple-products.834": "834",
    LFH_E + "reinstate-employee-coverage-level.834": "834",
    LFH_E + "reinstate-employee.834": "834",
    LFH_E + "reinstate-member-eligiblity-ins.834": "834",
    LFH_E + "terminate-subscriber-eligibility.834": "834",
    "pyx12/tests_5010_HEAD/834_deident_family.txt": "834",
    IMS + "x12_999_rejected.txt": "999",
}

# Malformed files. All imsweb 837s carry a stale SE01 of 25 (their own parser never checks it).
GE01_2 = "GE01 of functional group 1 says 1 transaction sets, found 2"


def se01(control: str, says: int, found: int) -> str:
    return f"SE01 of transaction set {control} says {says} segments, found {found}"


MALFORMED = {
    IMS + "x12_999_accepted.txt": Bad("IEA02 '000000001' does not match ISA13 '000000286'", True),
    IMS + "x12_ambiguous_loop.txt": Bad(se01("987654", 25, 33), True, "ambiguous loop"),
    IMS + "x12_bad_first_line.txt": Bad("line 1: ISA02 is 9 characters, expected 10", True),
    IMS + "x12_bad_segment_identifier.txt": Bad(
        "segment 11 (line 11): invalid segment identifier (not 2-3 capital", False
    ),
    IMS + "x12_bad_valid_code.txt": Bad(
        se01("987654", 25, 34), True, "NM101 '117', a code-value error"
    ),
    IMS + "x12_complex.txt": Bad(GE01_2, True, "many loops"),
    IMS + "x12_loop_errors1_exceeds_max_1_parent.txt": Bad(
        se01("987654", 25, 31), True, "loop repeats"
    ),
    IMS + "x12_loop_errors2_exceeds_max_repeats_multiple_parents.txt": Bad(
        se01("987654", 25, 50), True, "loop repeats"
    ),
    IMS + "x12_loop_errors3_missing_loops.txt": Bad(se01("987654", 25, 19), True, "no 2010AA loop"),
    IMS + "x12_missing_elements.txt": Bad(se01("987654", 25, 34), True, "no NM102, no CLM05"),
    IMS + "x12_missing_required_loop_in_one_repeat.txt": Bad(
        se01("987654", 25, 40), True, "missing loop"
    ),
    IMS + "x12_missing_required_loops_mult_repeats.txt": Bad(
        se01("987654", 25, 59), True, "missing LX"
    ),
    IMS + "x12_multiple_gs.txt": Bad(
        "IEA01 of interchange 000000905 says 1 functional groups, found 3", True
    ),
    IMS + "x12_multiple_st.txt": Bad(GE01_2, True),
    IMS + "x12_no_errors.txt": Bad(se01("987654", 25, 41), True, "meant valid"),
    IMS + "x12_segment_errors.txt": Bad(se01("987654", 25, 23), True, "missing/extra segments"),
    IMS + "x12_valid.txt": Bad(se01("987654", 25, 34), True, "meant valid"),
    IMS + "x12_writer_test.txt": Bad(se01("987654", 25, 31), True, "writer output"),
    IMS + "x223-test.txt": Bad(se01("987654", 25, 48), True, "an 837I"),
    OOP + "TestData/InstitutionalClaim5010.txt": Bad(se01("987654", 43, 78), True),
    OOP + "_837P/_4010/FromNth/837_DeIdent_01.dat": Bad(
        "GE02 '39834001' does not match GS06 '99999999'", True, "de-identified 4010"
    ),
    OOP + "_837P/_4010/FromNth/837_DeIdent_04.dat": Bad(
        "IEA02 '152635000' does not match ISA13 '999999999'", True, "de-identified 4010"
    ),
    OOP + "_837P/_5010/UnicodeExample.txt": Bad("contains NUL bytes (first at byte 1)", False),
    PYX + "bad_elements.txt": Bad(se01("000000001", 30, 29), True),
    PYX + "bad_header_looping.txt": Bad(se01("0001", 39, 72), True),
    PYX + "fail_no_IEA.txt": Bad("interchange 000010121 has no IEA trailer", False),
}

READABLE = {**VALID_5010, **VALID_OTHER_VERSION}


def segment_ids(path: Path) -> Counter:
    """Segment identifiers by a plain split on the ISA's delimiters (fixed-width ISA)."""
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8").lstrip()
    element, terminator = text[3], text[105]
    return Counter(s.strip().split(element)[0] for s in text.split(terminator) if s.strip())


def sample(relative: str) -> Path:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED_DATA)
    return SHARED / relative


def variant(
    tmp_path: Path, relative: str, edit: Callable[[list[str]], list[str]], name: str = "v.x12"
) -> Path:
    """A copy of a '~'-terminated sample with its segments edited and SE01 recounted."""
    segments = [s.strip() for s in sample(relative).read_text("utf-8-sig").split("~")]
    segments = edit([s for s in segments if s])
    start = 0
    for i, seg in enumerate(segments):
        if seg.startswith("ST*"):
            start = i
        elif seg.startswith("SE*"):
            control = seg.split("*")[2]
            segments[i] = f"SE*{i - start + 1}*{control}"
    path = tmp_path / name
    path.write_text("~\n".join(segments) + "~\n")
    return path


def test_tables_cover_every_sample_file_once():
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED_DATA)
    tables = [VALID_5010, VALID_OTHER_VERSION, NOT_CLAIMS, MALFORMED]
    classified = [key for table in tables for key in table]
    assert len(classified) == len(set(classified))
    on_disk = {
        str(p.relative_to(SHARED))
        for folder in SAMPLE_FOLDERS
        for p in (SHARED / folder).rglob("*")
        if p.is_file()
    }
    assert set(classified) == on_disk


@pytest.mark.parametrize("relative", sorted(READABLE))
def test_valid_file_has_one_line_per_service_segment(relative):
    path = sample(relative)
    result = parse_x12(path)
    ids = segment_ids(path)
    assert result.transaction == READABLE[relative]
    assert len(result.claim_lines) == ids["SV1"] + ids["SV2"]
    assert len(result.remittance_lines) == ids["SVC"]
    assert result.segment_counts == dict(ids)
    assert all(tuple(line) == CLAIM_COLUMNS for line in result.claim_lines)
    assert all(tuple(line) == REMITTANCE_COLUMNS for line in result.remittance_lines)
    values = [v for line in result.claim_lines + result.remittance_lines for v in line.values()]
    assert all(isinstance(v, str) for v in values)
    if relative in VALID_OTHER_VERSION:
        assert any("is not a 005010 implementation guide id" in e for e in result.errors)


@pytest.mark.parametrize("relative", sorted(NOT_CLAIMS))
def test_not_a_claim_file_is_named_and_empty(relative):
    result = parse_x12(sample(relative))
    assert result.transaction == NOT_CLAIMS[relative]
    assert result.claim_lines == [] and result.remittance_lines == []
    assert result.errors == []


@pytest.mark.parametrize("relative", sorted(MALFORMED))
def test_malformed_file_is_rejected_with_file_and_problem(relative):
    problem = MALFORMED[relative].problem
    with pytest.raises(X12Error) as caught:
        parse_x12(sample(relative))
    message = str(caught.value)
    assert message.startswith(Path(relative).name + ": ")
    assert problem in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("relative", sorted(k for k, v in MALFORMED.items() if v.lenient))
def test_count_mismatches_are_readable_in_lenient_mode(relative):
    path = sample(relative)
    result = parse_x12(path, strict=False)
    ids = segment_ids(path)
    assert MALFORMED[relative].problem in " ".join(result.errors)
    assert len(result.claim_lines) == ids["SV1"] + ids["SV2"]
    assert len(result.remittance_lines) == ids["SVC"]


def test_a_999_with_a_wrong_iea02_reads_as_999_in_lenient_mode():
    result = parse_x12(sample(IMS + "x12_999_accepted.txt"), strict=False)
    assert (result.transaction, result.claim_lines, result.remittance_lines) == ("999", [], [])


@pytest.mark.parametrize("relative", sorted(k for k, v in MALFORMED.items() if not v.lenient))
def test_structural_problems_raise_even_in_lenient_mode(relative):
    with pytest.raises(X12Error) as caught:
        parse_x12(sample(relative), strict=False)
    assert MALFORMED[relative].problem in str(caught.value)


def test_behavioral_health_835_with_bom_indentation_and_reversals():
    result = parse_x12(sample(OOP + "_835/_5010/Example1.txt"))
    assert result.segment_counts["CLP"] == 10 and result.segment_counts["SVC"] == 9
    by_claim = {line["claim_id"]: line for line in result.remittance_lines}
    h0015 = by_claim["777777"]
    assert h0015["procedure_code"] == "H0015"
    assert h0015["modifiers"] == "HF|99|H9"
    assert (h0015["charge_amount"], h0015["paid_amount"], h0015["units"]) == ("136.9", "0", "1")
    assert h0015["adjustment_amount"] == "136.90"  # CAS*PI*104*136.72 + CAS*CO*42*0.18
    assert h0015["adjustment_codes"] == "PI-104|CO-42"
    assert h0015["service_date"] == "2003-09-11"
    assert h0015["payer_claim_control_number"] == "0000000622222222"
    assert h0015["member_id"] == "4444444"
    assert h0015["payer"] == "ASHTABULA COUNTY ADAMH BD"
    assert h0015["payment_date"] == "2004-03-15"
    reversal = by_claim["123456"]
    assert reversal["claim_status"] == "22"
    assert (reversal["procedure_code"], reversal["modifiers"]) == ("H0036", "GT|UK")
    assert (reversal["charge_amount"], reversal["paid_amount"]) == ("-42.58", "-42.58")
    assert reversal["units"] == "-2"
    assert by_claim["121212"]["adjustment_amount"] == "56.52"  # 0 + 57.6 - 1.08
    assert by_claim["090909"]["service_date"] == "2004-02-10"  # DTM*150 when there is no 472
    assert any("GS08 '5010'" in e for e in result.errors)
    assert any("claim '090909' (CLP) has no SVC" in e for e in result.errors)


def test_835_service_period_and_line_adjustments():
    result = parse_x12(sample(LFH_R + "managed-care.835"))
    first, second = result.remittance_lines
    assert first["service_date"] == "2002-03-01"  # DTM*150, the start of the period
    # The claim-level CAS*CO*A2*50.00 (before the SVC) is not a line adjustment.
    assert (first["adjustment_amount"], first["adjustment_codes"]) == ("300.00", "PR-1")
    assert (second["adjustment_amount"], second["adjustment_codes"]) == ("650.00", "PR-1|CO-45")
    # BPR16 20002316 is no date: passed through for staging to quarantine, with a warning.
    assert first["payment_date"] == "20002316"
    assert "BPR16: '20002316' is not a CCYYMMDD date" in result.errors


def test_837i_revenue_code_bill_type_and_subscriber():
    result = parse_x12(sample(LFH_I + "institutional-claim.837i"))
    first, second = result.claim_lines
    assert first["claim_type"] == "institutional"
    assert (first["revenue_code"], first["procedure_code"]) == ("0305", "85025")
    assert (second["revenue_code"], second["procedure_code"]) == ("0730", "93005")
    assert first["bill_type"] == "0141"  # CLM05 14:A:1
    assert (second["units"], second["charge_amount"]) == ("3.00", "76.54")
    assert first["member_id"] == "030005074A"  # 2010BA, not the COB subscriber 222004433
    assert first["payer"] == "MEDICARE B"
    assert first["diagnosis_codes"] == "3669|4019|79431"  # BH/BE/BG codes are not diagnoses
    assert (first["billing_npi"], first["received_date"]) == ("9876540809", "1996-09-18")
    assert first["place_of_service"] == first["allowed_amount"] == first["paid_amount"] == ""


def test_837i_lines_without_dates_take_the_statement_period(tmp_path):
    def edit(segments):
        segments = [s for s in segments if not s.startswith("DTP*472")]
        return [s.replace("DTP*434*RD8*20050315-20050315", "DTP*434*RD8*20050301-20050315")
                for s in segments]  # fmt: skip

    result = parse_x12(variant(tmp_path, LFH_I + "two-claims-single-provider.837i", edit))
    dates = [
        (x["claim_id"], x["service_from_date"], x["service_to_date"]) for x in result.claim_lines
    ]
    assert dates == [
        ("756048Q", "2005-03-01", "2005-03-15"),
        ("756048Q", "2005-03-01", "2005-03-15"),
        ("756049Q", "2005-04-01", "2005-04-01"),
    ]


def test_837p_service_line_fields():
    result = parse_x12(sample(LFH_P + "demo.cob.example3.C.837"))
    lines = result.claim_lines
    assert [x["procedure_code"] for x in lines] == ["99213", "90782", "J3301"]
    first = lines[0]
    assert first["claim_type"] == "professional"
    assert (first["claim_id"], first["claim_frequency_code"]) == ("26407789", "1")
    assert (first["units"], first["charge_amount"]) == ("1.00", "43.00")
    assert (first["service_from_date"], first["service_to_date"]) == ("2005-10-03", "2005-10-03")
    assert first["diagnosis_codes"] == "4779|2724|2780|53081"
    assert first["place_of_service"] == "11"  # SV105 blank → CLM05-1
    # The subscriber (2010BA), not the other subscriber of the COB loop 2330A.
    assert (first["member_id"], first["payer"]) == ("22233444", "GREAT PRAIRIES HEALTH")
    # Claim-level NM1*82 (2310B); the empty NM1*82 of loop 2330D does not erase it.
    assert first["rendering_npi"] == "1999996666"
    assert first["original_claim_id"] == ""


def test_837p_modifiers_and_date_range():
    line = parse_x12(sample(LFH_P + "demo.example8.837")).claim_lines[0]
    assert (line["procedure_code"], line["modifiers"]) == ("K0001", "RR|KH|BR")
    anesthesia = parse_x12(sample(LFH_P + "demo.example9.837"))
    line = anesthesia.claim_lines[0]  # ISA16 ':' but the file writes '>' composites
    assert (line["procedure_code"], line["modifiers"]) == ("00142", "QK|QS|P1")
    assert (line["place_of_service"], line["claim_frequency_code"]) == ("22", "1")
    assert line["rendering_npi"] == "5678912345"
    assert any("ISA16 declares ':'" in e for e in anesthesia.errors)
    ims = parse_x12(sample(IMS + "x12_valid.txt"), strict=False).claim_lines[0]
    assert (ims["service_from_date"], ims["service_to_date"]) == ("2005-03-14", "2005-03-25")
    # HI*BK*8901*BF*87200*BF:5559: only BF:5559 is a qualifier:code composite.
    assert (ims["modifiers"], ims["diagnosis_codes"]) == ("25", "5559")


def test_837p_replacement_claim_reads_ref_f8_of_the_claim_loop_only(tmp_path):
    def edit(segments):
        out = []
        for s in segments:
            out.append(s.replace("11:B:1", "11:B:7"))
            if s.startswith("CLM*"):
                out.append("REF*F8*ORIG0001")
        return out

    line = parse_x12(variant(tmp_path, LFH_P + "demo.example1.837", edit)).claim_lines[0]
    assert (line["claim_frequency_code"], line["original_claim_id"]) == ("7", "ORIG0001")
    # In simple_837p the REF*F8 belongs to the other payer (loop 2330B): not the original claim.
    behavioral = parse_x12(sample(PYX + "simple_837p.txt")).claim_lines[0]
    assert (behavioral["procedure_code"], behavioral["modifiers"]) == ("H2015", "TT")
    assert behavioral["original_claim_id"] == ""
    assert behavioral["billing_npi"] == ""  # NM108 '24' is an EIN, not an NPI


def test_carriage_return_terminator_and_patient_loop():
    line = parse_x12(sample(OOP + "_837P/_5010/ST1309-XX.txt")).claim_lines[1]
    assert line["claim_id"] == "B330004Y" and line["line_number"] == "2"
    assert line["procedure_code"] == "73610"
    assert line["member_id"] == "X9999999"  # subscriber NM1*IL, the patient is in HL*23
    assert line["received_date"] == "2013-03-15"


def test_every_interchange_and_transaction_set_is_read(tmp_path):
    result = parse_x12(sample(OOP + "_835/_5010/ExampleFromNth.txt"))
    assert result.transactions == ["835", "835", "835"]
    assert result.segment_counts["ISA"] == 3
    # Two interchanges with different delimiters in one file.
    first = sample(LFH_P + "demo.example1.837").read_text()
    second = first.replace("*", "|").replace("~", "!")
    path = tmp_path / "two.837"
    path.write_text(first + second)
    two = parse_x12(path)
    assert len(two.claim_lines) == 8
    assert two.claim_lines[0] == two.claim_lines[4]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("no_isa", "does not start with an ISA segment (line 1)"),
        ("no_clm", "segment 30 (line 30): SV1 service line outside a claim (no CLM)"),
        ("no_se", "transaction set 0021 (837) has no SE trailer"),
        ("no_ge", "functional group 1 has no GE trailer"),
        ("trailing", "text after an IEA trailer does not start with ISA"),
    ],
)
def test_structural_defects(tmp_path, case, problem):
    edits = {
        "no_isa": lambda s: s[1:],
        "no_clm": lambda s: [x for x in s if not x.startswith("CLM*")],
        "no_se": lambda s: [x for x in s if not x.startswith("SE*")],
        "no_ge": lambda s: [x for x in s if not x.startswith("GE*")],
        "trailing": lambda s: [*s, "HELLO*WORLD"],
    }
    path = variant(tmp_path, LFH_P + "demo.example1.837", edits[case], name=f"{case}.837")
    with pytest.raises(X12Error) as caught:
        parse_x12(path, strict=False)
    assert str(caught.value).startswith(f"{case}.837: ")
    assert problem in str(caught.value)


def test_svc_outside_a_claim(tmp_path):
    path = variant(
        tmp_path, LFH_R + "managed-care.835", lambda s: [x for x in s if x[:4] != "CLP*"]
    )
    with pytest.raises(X12Error, match=r"SVC service line outside a claim \(no CLP\)"):
        parse_x12(path)


def test_undecodable_and_empty_files(tmp_path):
    data = sample(LFH_P + "demo.example1.837").read_bytes().replace(b"SMITH", b"SM\xc9TH")
    (tmp_path / "latin1.837").write_bytes(data)
    with pytest.raises(X12Error, match=r"^latin1.837: byte 0xc9 at offset \d+ is not valid UTF-8"):
        parse_x12(tmp_path / "latin1.837")
    (tmp_path / "empty.837").write_bytes(b"\n \n")
    with pytest.raises(X12Error, match="^empty.837: file is empty$"):
        parse_x12(tmp_path / "empty.837")
