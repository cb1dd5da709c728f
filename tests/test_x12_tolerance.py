"""X12 at ingest is tolerant by default: control-count and control-number mismatches (SE01/SE02,
GE01/GE02, IEA01/IEA02) and a non-fixed-width ISA load the file with warnings in its registry
entry (audit.landed_files.warnings); IOP_X12_STRICT=1 rejects the file whole. Structural breakage
still rejects, and X12 without an ISA is named as such. No Dagster run: ingest only."""

from __future__ import annotations

import shutil

import pytest
from conftest import SHARED_DATA, requires_shared_data

from iop import ingest
from iop.settings import IopSettings

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *"
    "250110*1200*^*00501*000000001*0*P*:"
)
BODY = [
    "ST*837*0001*005010X222A1",
    "BHT*0019*00*REF1*20250110*1200*CH",
    "NM1*41*2*CLINIC*****46*TIN1",
    "NM1*40*2*PAYER*****46*PAYERID",
    "HL*1**20*1",
    "NM1*85*2*CLINIC*****XX*1234567893",
    "HL*2*1*22*0",
    "SBR*P*18*******MC",
    "NM1*IL*1*DOE*JANE****MI*M123",
    "NM1*PR*2*MEDICAID*****PI*PAYERID",
    "CLM*C1*250***57:B:1*Y*A*Y*Y",
    "HI*ABK:F331",
    "LX*1",
    "SV1*HC:S9480*250*UN*1***1",
    "DTP*472*D8*20250106",
    "LX*2",
    "SV1*HC:S9480*250*UN*1***1",
    "DTP*472*D8*20250107",
]


def x837(
    *,
    isa: str = ISA,
    se01: int | None = None,
    se02: str = "0001",
    ge: str = "GE*1*1",
    iea: str = "IEA*1*000000001",
    body: list[str] = BODY,
) -> str:
    count = len(body) + 1 if se01 is None else se01
    segments = [
        isa,
        "GS*HC*SENDER*RECEIVER*20250110*1200*1*X*005010X222A1",
        *body,
        f"SE*{count}*{se02}",
        ge,
        iea,
    ]
    return "~\n".join(segments) + "~\n"


TOLERATED = {
    "se01.837": (x837(se01=5), "SE01 of transaction set 0001 says 5 segments, found 19"),
    "se02.837": (x837(se02="0002"), "SE02 '<value>' does not match ST02"),
    "ge01.837": (x837(ge="GE*3*1"), "GE01 of functional group 1 says 3 transaction sets"),
    "ge02.837": (x837(ge="GE*1*77"), "GE02 '<value>' does not match GS06"),
    "iea01.837": (x837(iea="IEA*2*000000001"), "IEA01 of interchange 000000001 says 2"),
    "iea02.837": (x837(iea="IEA*1*000000009"), "IEA02 '<value>' does not match ISA13"),
    "isa_width.837": (
        x837(isa=ISA.replace("*SENDER         *", "*SENDER*")),
        "ISA06 is 6 characters, expected 15",
    ),
}
REJECTED = {
    "no_iea.837": (x837().replace("IEA*1*000000001~\n", ""), "has no IEA trailer"),
    "no_se.837": (
        "~\n".join(s for s in x837().split("~\n") if not s.startswith("SE*")),
        "has no SE trailer",
    ),
    "line_outside_claim.837": (
        x837(body=[b for b in BODY if not b.startswith(("CLM", "HI"))]),
        "SV1",
    ),
    "bad_delimiters.837": (x837(isa=ISA[:-1] + "*"), "ISA delimiters are not distinct"),
    "no_isa.837": (x837().split("~\n", 1)[1], "X12 without an ISA interchange header"),
}


def _ingest(data_dir, files: dict[str, str], strict: bool = False) -> dict[str, dict]:
    folder = data_dir / "landing" / "claims"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    settings = IopSettings(data_dir=str(data_dir), x12_strict=int(strict))
    ingest.ingest_files(settings, ingest.scan_landing(settings))
    return {e["source_file"].split("/")[-1]: e for e in ingest.registry_entries(settings)}


def test_count_and_control_number_mismatches_load_with_warnings(tmp_path):
    entries = _ingest(tmp_path, {n: t for n, (t, _) in TOLERATED.items()})
    for name, (_, warning) in TOLERATED.items():
        entry = entries[name]
        assert entry["status"] == "ingested", (name, entry["error"])
        assert entry["layout"] == "claims_csv" and entry["rows_read"] == 2, name
        assert warning in entry["warnings"], (name, entry["warnings"])


def test_strict_mode_rejects_them_whole(tmp_path):
    entries = _ingest(tmp_path, {n: t for n, (t, _) in TOLERATED.items()}, strict=True)
    for name, (_, problem) in TOLERATED.items():
        entry = entries[name]
        assert entry["status"] == "rejected" and entry["rows_read"] is None, name
        assert "malformed X12" in entry["error"] and problem in entry["error"], entry["error"]


def test_strict_mode_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("IOP_X12_STRICT", "1")
    assert IopSettings.from_env().x12_strict == 1
    monkeypatch.delenv("IOP_X12_STRICT")
    assert IopSettings.from_env().x12_strict == 0


def test_structural_breakage_still_rejects(tmp_path):
    entries = _ingest(tmp_path, {n: t for n, (t, _) in REJECTED.items()})
    for name, (_, reason) in REJECTED.items():
        entry = entries[name]
        assert entry["status"] == "rejected", (name, entry)
        assert reason in entry["error"], (name, entry["error"])
    # X12 without an ISA is named as X12, not as a CSV header that matches no layout
    assert "header matches no" not in entries["no_isa.837"]["error"]


@requires_shared_data
def test_real_files_with_stale_control_counts_load_with_warnings(tmp_path):
    real = {
        "imsweb-x12-parser/837_5010/x12_valid.txt": "SE01 of transaction set 987654",
        "oopfactory-x12parser/_837P/_4010/FromNth/837_DeIdent_01.dat": "GE02 '<value>'",
        "oopfactory-x12parser/TestData/InstitutionalClaim5010.txt": "SE01",
        "pyx12/test_files_4010_at_57f2f32/bad_header_looping.txt": "SE01",
    }
    folder = tmp_path / "landing" / "claims"
    folder.mkdir(parents=True)
    for relative in real:
        shutil.copy(SHARED_DATA / relative, folder / relative.rsplit("/", 1)[1])
    settings = IopSettings(data_dir=str(tmp_path))
    ingest.ingest_files(settings, ingest.scan_landing(settings))
    entries = {e["source_file"].split("/")[-1]: e for e in ingest.registry_entries(settings)}
    # (quoted values are masked in messages, iop/redact.py)
    for relative, warning in real.items():
        entry = entries[relative.rsplit("/", 1)[1]]
        assert entry["status"] == "ingested", (relative, entry["error"])
        assert entry["rows_read"] > 0 and warning in entry["warnings"], relative
    assert entries["837_DeIdent_01.dat"]["rows_read"] == 235


@pytest.fixture(autouse=True)
def _no_strict_env(monkeypatch):
    monkeypatch.delenv("IOP_X12_STRICT", raising=False)
