"""Tests of the synthetic data generator (iop.generator).

The central test re-derives every truth episode and transition independently from the written
CSV files (pandas and the csv module only, no generator code), applying the episode rules of
docs/input_layouts.md, and compares them with truth/episodes.csv and truth/transitions.csv.
Bad rows are checked with independent validators: every recorded bad row breaks exactly its
rule, and every other row breaks none.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from iop.generator import generate
from iop.generator.cli import main
from iop.x12 import parse_x12

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "sql" / "seeds"

HEADERS = {
    "attendance_vendor_a": "MRN,Program,Level of Care,Session Date,Start Time,Service Type,"
    "Minutes,Attendance,Clinician ID",
    "attendance_vendor_b": "client_id,program_code,asam_level,service_date,start_time,"
    "service_code,duration_min,attendance_code,staff_id",
    "census_vendor_a": "MRN,Program,Level of Care,Admit Date,Discharge Date,Discharge Reason",
    "roster": "client_id,first_name,last_name,member_id,payer,birth_date,sex,race,ethnicity,zip",
    "claims_csv": "claim_id,original_claim_id,claim_frequency_code,line_number,claim_type,"
    "member_id,payer,service_from_date,service_to_date,place_of_service,bill_type,revenue_code,"
    "procedure_code,modifiers,units,charge_amount,allowed_amount,paid_amount,diagnosis_codes,"
    "rendering_npi,billing_npi,received_date,adjudicated_date",
}
NAME_PATTERNS = [
    (re.compile(r"attendance/vendor_a_attendance_\d{8}\.csv$"), "attendance_vendor_a"),
    (re.compile(r"attendance/vendor_b_sessions_\d{4}-W\d{2}\.csv$"), "attendance_vendor_b"),
    (re.compile(r"census/vendor_a_census_\d{8}\.csv$"), "census_vendor_a"),
    (re.compile(r"roster/roster_vendor_[ab]\.csv$"), "roster"),
    (re.compile(r"claims/claims_(medicaid|commercial|medicare)_(\d{6}|\d{8})\.csv$"), "claims_csv"),
]
RULE_ORDER = [
    "missing_client_id",
    "missing_member_id",
    "invalid_date",
    "unknown_level_of_care",
    "unknown_status",
    "invalid_minutes",
    "invalid_frequency_code",
    "invalid_date_range",
]
LEVEL_B = {"2.5": "PHP", "2.1": "IOP", "1": "OP"}
REASON = {
    "Completed Treatment": "completed",
    "Left Against Advice": "dropped_out",
    "Administrative Discharge": "terminated",
    "Transferred": "transferred",
    "Other": "other",
}
NOISE_CODES = {"99213", "99214", "80305", "36415"}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gen")
    out = {}
    opts = dict(bad_row_rate=0.01)
    out["a"] = (base / "a", generate(base / "a", 200, 11, **opts))
    out["b"] = (base / "b", generate(base / "b", 200, 11, **opts))
    out["c"] = (base / "c", generate(base / "c", 200, 12, **opts))
    out["hold"] = (base / "hold", generate(base / "hold", 200, 11, hold_back_days=20, **opts))
    return out


@pytest.fixture(scope="module")
def world(runs):
    return load(runs["a"][0])


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    generate(d, 2000, 2)
    return d


# ---------------------------------------------------------------------------- reading


def layout_of(rel: str) -> str:
    for pattern, layout in NAME_PATTERNS:
        if pattern.search(rel):
            return layout
    raise AssertionError(f"unexpected file name {rel}")


def read_files(root: Path):
    """{(top, rel): (header_line, rows)} for every CSV under landing/ and holdback/."""
    out = {}
    for top in ("landing", "holdback"):
        for path in sorted((root / top).rglob("*.csv")):
            rel = path.relative_to(root / top).as_posix()
            raw = path.read_bytes()
            assert b"\r" not in raw, rel
            text = raw.decode("utf-8")
            header = text.split("\n", 1)[0]
            rows = list(csv.reader(text.splitlines()[1:]))
            out[(top, rel)] = (header, rows)
    return out


def strict_date(value: str, fmt: str) -> dt.date | None:
    pattern = r"\d{4}-\d{2}-\d{2}" if fmt == "%Y-%m-%d" else r"\d{2}/\d{2}/\d{4}"
    if not re.fullmatch(pattern, value or ""):
        return None
    try:
        return dt.datetime.strptime(value, fmt).date()
    except ValueError:
        return None


def broken_rules(layout: str, r: dict) -> list[str]:
    """Every quarantine rule the row breaks (independent of the generator)."""
    bad = set()
    if layout in ("attendance_vendor_a", "attendance_vendor_b"):
        a = layout == "attendance_vendor_a"
        cid, date, lvl, st, mins = (
            ("MRN", "Session Date", "Level of Care", "Attendance", "Minutes")
            if a
            else ("client_id", "service_date", "asam_level", "attendance_code", "duration_min")
        )
        if not r[cid]:
            bad.add("missing_client_id")
        if strict_date(r[date], "%m/%d/%Y" if a else "%Y-%m-%d") is None:
            bad.add("invalid_date")
        if r[lvl] not in ({"PHP", "IOP", "OP"} if a else set(LEVEL_B)):
            bad.add("unknown_level_of_care")
        statuses = (
            {"Present", "Absent", "Cancelled - Client", "Cancelled - Program", "Excused"}
            if a
            else {"A", "NS", "CC", "CP", "EX"}
        )
        if r[st] not in statuses:
            bad.add("unknown_status")
        if not re.fullmatch(r"\d+", r[mins]) or int(r[mins]) <= 0:
            bad.add("invalid_minutes")
    elif layout == "census_vendor_a":
        if not r["MRN"]:
            bad.add("missing_client_id")
        admit = strict_date(r["Admit Date"], "%m/%d/%Y")
        if admit is None:
            bad.add("invalid_date")
        if r["Level of Care"] not in {"PHP", "IOP", "OP"}:
            bad.add("unknown_level_of_care")
        dis = strict_date(r["Discharge Date"], "%m/%d/%Y") if r["Discharge Date"] else None
        if admit and dis and dis < admit:
            bad.add("invalid_date_range")
    elif layout == "roster":
        if not r["client_id"]:
            bad.add("missing_client_id")
        if strict_date(r["birth_date"], "%Y-%m-%d") is None:
            bad.add("invalid_date")
    else:
        if not r["member_id"]:
            bad.add("missing_member_id")
        dates = [
            strict_date(r[c], "%Y-%m-%d")
            for c in ("service_from_date", "service_to_date", "received_date")
        ]
        if any(d is None for d in dates):
            bad.add("invalid_date")
        if r["claim_frequency_code"] not in {"1", "7", "8"}:
            bad.add("invalid_frequency_code")
        if dates[0] and dates[1] and dates[1] < dates[0]:
            bad.add("invalid_date_range")
    return [rule for rule in RULE_ORDER if rule in bad]


def load(root: Path) -> dict:
    """Valid rows of each layout as DataFrames (with file and row number), plus truth."""
    files = read_files(root)
    rows = defaultdict(list)
    invalid = {}
    for (top, rel), (header, data) in files.items():
        layout = layout_of(rel)
        cols = header.split(",")
        for i, values in enumerate(data, start=1):
            rec = dict(zip(cols, values, strict=True))
            broken = broken_rules(layout, rec)
            if broken:
                invalid[(top, rel, i)] = broken
                continue
            rec["_top"], rec["_file"], rec["_row"] = top, rel, i
            rows[layout].append(rec)
    frames = {k: pd.DataFrame(v) for k, v in rows.items()}
    frames["claims_x12"] = pd.DataFrame(read_x12_claims(root))
    truth = {
        name: pd.read_csv(root / "truth" / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in ("persons", "episodes", "transitions", "bad_rows", "claim_defects")
    }
    manifest = json.loads((root / "truth" / "manifest.json").read_text())
    return dict(files=files, frames=frames, invalid=invalid, truth=truth, manifest=manifest)


def read_x12_claims(root: Path) -> list[dict]:
    """Claim lines of every 837 file, read with the project's X12 reader (not generator code)."""
    lines = []
    for top in ("landing", "holdback"):
        for path in sorted((root / top).rglob("*.837*")):
            for line in parse_x12(path).claim_lines:
                lines.append(
                    {**line, "_top": top, "_file": path.relative_to(root / top).as_posix()}
                )
    return lines


def x12_service_lines(root: Path) -> int:
    """SV1/SV2 segments of every 837 under landing/, by a plain split."""
    total = 0
    for path in (root / "landing").rglob("*.837*"):
        text = path.read_text()
        segments = (s.strip().split(text[3])[0] for s in text.split(text[105]))
        total += sum(1 for s in segments if s in ("SV1", "SV2"))
    return total


def classify_codes() -> tuple[dict, dict]:
    seeds = pd.read_csv(SEEDS / "level_of_care_codes.csv", dtype=str)
    proc = dict(seeds[seeds.code_system == "hcpcs"][["code", "level_of_care"]].values)
    rev = dict(seeds[seeds.code_system == "revenue"][["code", "level_of_care"]].values)
    return proc, rev


def final_claim_lines(claims: pd.DataFrame) -> pd.DataFrame:
    """Contract: dedupe identical lines, final version of each chain, voids have no lines."""
    c = claims.drop_duplicates(["claim_id", "line_number"]).copy()
    versions = c.drop_duplicates("claim_id")[
        ["claim_id", "original_claim_id", "claim_frequency_code", "received_date"]
    ]
    parent = dict(zip(versions.claim_id, versions.original_claim_id, strict=True))

    def root(cid):
        while parent.get(cid):
            cid = parent[cid]
        return cid

    versions = versions.assign(root=versions.claim_id.map(root))
    versions = versions.sort_values(["root", "received_date", "claim_frequency_code", "claim_id"])
    final = versions.groupby("root").tail(1)
    final = final[final.claim_frequency_code != "8"]
    return c[c.claim_id.isin(set(final.claim_id))]


def final_x12_lines(claims: pd.DataFrame) -> pd.DataFrame:
    """837 versions the real way (docs/x12.md): a replacement or void is sent under the same
    CLM01, so a claim id's versions are ordered by received date (BHT04); the latest is final,
    a void leaves no lines."""
    keys = ["claim_id", "received_date", "claim_frequency_code"]
    versions = claims.drop_duplicates(keys).sort_values(keys)
    final = versions.groupby("claim_id").tail(1)
    final = final[final.claim_frequency_code != "8"]
    return claims.merge(final[keys], on=keys)


def days_of(frm: str, to: str) -> list[dt.date]:
    a, b = dt.date.fromisoformat(frm), dt.date.fromisoformat(to)
    return [a + dt.timedelta(days=k) for k in range((b - a).days + 1)]


def mdy(value: str) -> dt.date:
    return dt.datetime.strptime(value, "%m/%d/%Y").date()


def rederive(w: dict) -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    """Episodes and transitions from the files, by the rules, without generator code."""
    f = w["frames"]
    a, b = f["attendance_vendor_a"], f["attendance_vendor_b"]
    att = pd.concat(
        [
            pd.DataFrame(
                {
                    "person": "client:" + a["MRN"],
                    "level": a["Level of Care"],
                    "date": [mdy(x) for x in a["Session Date"]],
                    "attended": a["Attendance"] == "Present",
                }
            ),
            pd.DataFrame(
                {
                    "person": "client:" + b["client_id"],
                    "level": b["asam_level"].map(LEVEL_B),
                    "date": [dt.date.fromisoformat(x) for x in b["service_date"]],
                    "attended": b["attendance_code"] == "A",
                }
            ),
        ]
    )
    as_of = att.date.max()
    service = defaultdict(set)  # (person, level) -> days
    ehr_days = defaultdict(set)
    for p, lv, d in att[att.attended][["person", "level", "date"]].itertuples(index=False):
        service[(p, lv)].add(d)
        ehr_days[(p, lv)].add(d)

    census = f["census_vendor_a"].copy()
    census["snap"] = census._file.str.extract(r"(\d{8})")[0]
    census = census.sort_values(["snap", "_row"]).drop_duplicates(
        ["MRN", "Program", "Level of Care", "Admit Date"], keep="last"
    )
    admissions = []
    for r in census.itertuples(index=False):
        p, lv, admit = "client:" + r.MRN, r[2], mdy(r[3])
        dis = mdy(r[4]) if r[4] else None
        for k in range(((dis or admit) - admit).days + 1):
            d = admit + dt.timedelta(days=k)
            service[(p, lv)].add(d)
            ehr_days[(p, lv)].add(d)
        admissions.append((p, lv, admit, dis, REASON.get(r[5], "")))

    proc, rev = classify_codes()
    roster = f["roster"]
    member_to_client = {
        m: "client:" + c for m, c in zip(roster.member_id, roster.client_id, strict=True) if m
    }
    fin = pd.concat([final_claim_lines(f["claims_csv"]), final_x12_lines(f["claims_x12"])])
    fin = fin.assign(
        level=[
            proc.get(p) or rev.get(r)
            for p, r in zip(fin.procedure_code, fin.revenue_code, strict=True)
        ]
    )
    fin = fin[fin.level.notna()]
    for r in fin.itertuples(index=False):
        person = member_to_client.get(r.member_id, f"member:{r.payer}:{r.member_id}")
        service[(person, r.level)].update(days_of(r.service_from_date, r.service_to_date))

    episodes = []
    for (p, lv), days in service.items():
        days = sorted(days)
        start = prev = days[0]
        for d in days[1:] + [None]:
            if d is None or (d - prev).days > 30:
                is_ehr = any(start <= x <= prev for x in ehr_days.get((p, lv), ()))
                reason, is_open = "", prev > as_of - dt.timedelta(days=30)
                for ap, al, admit, dis, why in admissions:
                    if ap == p and al == lv and start <= admit <= prev:
                        is_open, reason = dis is None, why if dis else ""
                episodes.append(
                    (p, lv, start, prev, reason, is_open, "ehr" if is_ehr else "claims")
                )
                start = d
            prev = d
    eps = pd.DataFrame(
        episodes,
        columns=[
            "person_id",
            "level_of_care",
            "start",
            "end",
            "discharge_reason",
            "is_open",
            "source",
        ],
    )
    eps = eps.sort_values(["person_id", "start", "end"]).reset_index(drop=True)
    nxt = eps.groupby("person_id").shift(-1)
    gap = (pd.to_datetime(nxt.start) - pd.to_datetime(eps.end)).dt.days
    linked = gap.notna() & (gap <= 30)
    trans = pd.DataFrame(
        {
            "person_id": eps.person_id,
            "from_level": eps.level_of_care,
            "from_end_date": eps.end.astype(str),
            "to_level": nxt.level_of_care.where(linked, ""),
            "to_start_date": nxt.start.astype(str).where(linked, ""),
            "days_between": gap.where(linked).map(lambda x: "" if pd.isna(x) else str(int(x))),
        }
    )
    return eps, trans, as_of


# ---------------------------------------------------------------------------- tests


def test_deterministic_for_a_seed(runs):
    a, b, c = runs["a"][0], runs["b"][0], runs["c"][0]

    def digest(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    da, db, dc = digest(a), digest(b), digest(c)
    assert da.keys() == db.keys()
    assert all(da[k] == db[k] for k in da), "same seed must give the same bytes"
    assert da["truth/episodes.csv"] != dc["truth/episodes.csv"]
    shared = set(da) & set(dc)
    assert sum(da[k] != dc[k] for k in shared) > len(shared) // 2


def test_headers_and_file_names_follow_the_layouts(world):
    layouts = defaultdict(int)
    for (_top, rel), (header, rows) in world["files"].items():
        layout = layout_of(rel)
        layouts[layout] += 1
        assert header == HEADERS[layout], rel
        assert rows, f"{rel} has no rows"
        assert all(len(r) == len(header.split(",")) for r in rows), rel
    assert set(layouts) == set(HEADERS)
    assert layouts["roster"] == 2
    try:
        from iop.layouts import detect_layout, normalize_column
    except ImportError:  # the pipeline's layouts are optional for this test
        return
    for (_top, rel), (header, _) in world["files"].items():
        feed = rel.split("/")[0]
        detect_layout(feed, [normalize_column(c) for c in header.split(",")])


def test_files_hold_what_their_names_say(world):
    f = world["frames"]
    a = f["attendance_vendor_a"]
    stamp = a._file.str.extract(r"(\d{8})")[0]
    assert (stamp == [mdy(x).strftime("%Y%m%d") for x in a["Session Date"]]).all()
    b = f["attendance_vendor_b"]
    week = b._file.str.extract(r"(\d{4}-W\d{2})")[0]
    iso = [dt.date.fromisoformat(x).isocalendar() for x in b.service_date]
    assert (week == [f"{y}-W{wk:02d}" for y, wk, _ in iso]).all()
    c = f["census_vendor_a"]
    snap = pd.to_datetime(c._file.str.extract(r"(\d{8})")[0]).dt.date
    assert (pd.Series([mdy(x) for x in c["Admit Date"]]) <= snap.values).all()
    dis = c[c["Discharge Date"] != ""]
    assert (
        pd.Series([mdy(x) for x in dis["Discharge Date"]]).values <= snap[dis.index].values
    ).all()
    assert ((c["Discharge Date"] == "") == (c["Discharge Reason"] == "")).all()
    cl = f["claims_csv"]
    file_month = cl._file.str.extract(r"_(\d{6})\.csv")[0]
    received = cl.received_date.str[:7].str.replace("-", "")
    assert (received <= file_month).all()
    moved = cl[received != file_month]  # re-sent duplicates: identical to an earlier delivery
    keys = set(
        zip(
            cl[received == file_month].claim_id, cl[received == file_month].line_number, strict=True
        )
    )
    assert all(k in keys for k in zip(moved.claim_id, moved.line_number, strict=True))


def test_roster_and_persons(world):
    roster = world["frames"]["roster"]
    assert roster.client_id.is_unique
    for r in roster.itertuples(index=False):
        assert re.fullmatch(r"A\d{7}|B-\d{6}", r.client_id)
        prefix = {"Medicaid": "MCD", "Commercial": "COM", "Medicare": "MCR"}.get(r.payer)
        if r.payer == "Self-pay":
            assert r.member_id == ""
        elif r.member_id:
            assert re.fullmatch(prefix + r"\d{9}", r.member_id)
        assert r.sex in {"F", "M", "X", "U"}
        assert r.ethnicity in {"Hispanic or Latino", "Not Hispanic or Latino", "Unknown", ""}
        assert re.fullmatch(r"\d{5}", r.zip)
    persons = world["truth"]["persons"]
    ehr = persons[persons.source == "ehr"]
    assert set(ehr.client_id) == set(roster.client_id)
    members = persons[persons.source == "claims"]
    assert not set(members.member_id) & set(roster.member_id)
    assert (members.person_id == "member:" + members.payer + ":" + members.member_id).all()
    assert (ehr.person_id == "client:" + ehr.client_id).all()


def test_truth_episodes_and_transitions_rederived_from_files(world):
    eps, trans, as_of = rederive(world)
    assert world["manifest"]["as_of_date"] == as_of.isoformat()
    truth = world["truth"]["episodes"]
    mine = pd.DataFrame(
        {
            "person_id": eps.person_id,
            "level_of_care": eps.level_of_care,
            "start_date": eps.start.astype(str),
            "end_date": eps.end.astype(str),
            "length_of_stay": [
                str((e - s).days + 1) for s, e in zip(eps.start, eps.end, strict=True)
            ],
            "discharge_reason": eps.discharge_reason,
            "is_open": eps.is_open.map({True: "true", False: "false"}),
            "source": eps.source,
        }
    )
    key = ["person_id", "level_of_care", "start_date"]
    t = truth.sort_values(key).reset_index(drop=True)
    m = mine.sort_values(key).reset_index(drop=True)
    assert len(t) > 300
    pd.testing.assert_frame_equal(t, m)
    tt = world["truth"]["transitions"]
    key = ["person_id", "from_level", "from_end_date"]
    pd.testing.assert_frame_equal(
        tt.sort_values(key).reset_index(drop=True),
        trans.sort_values(key).reset_index(drop=True)[tt.columns],
    )
    linked = tt[tt.to_level != ""]
    assert len(linked) > 100 and (linked.days_between.astype(int) >= 0).all()
    assert set(truth.source) == {"ehr", "claims"}


def test_episodes_within_a_level_never_merge_or_overlap(world):
    eps = world["truth"]["episodes"]
    e = eps.assign(start=pd.to_datetime(eps.start_date), end=pd.to_datetime(eps.end_date))
    e = e.sort_values(["person_id", "start", "end"])
    nxt = e.groupby("person_id").shift(-1)
    assert ((nxt.start - e.end).dt.days.dropna() >= 0).all(), "journeys must not overlap"
    same = e.sort_values(["person_id", "level_of_care", "start"])
    nxt = same.groupby(["person_id", "level_of_care"]).shift(-1)
    assert ((nxt.start - same.end).dt.days.dropna() > 30).all()


def test_bad_rows_break_exactly_their_rule(world, runs):
    recorded = {}
    for r in world["truth"]["bad_rows"].itertuples(index=False):
        recorded[("landing", r.file, int(r.row_number))] = (r.feed, r.rule)
        assert r.file.startswith(r.feed + "/")
    found = {k: v for k, v in world["invalid"].items()}
    assert found.keys() == recorded.keys(), "exactly the recorded rows are invalid"
    for k, broken in found.items():
        assert broken == [recorded[k][1]], (k, broken)
    assert set(world["truth"]["bad_rows"].feed) == {"attendance", "roster", "census", "claims"}
    assert len(recorded) == sum(world["manifest"]["bad_rows"]["by_rule"].values())
    # Bad claim lines never belong to a real claim chain.
    bad_claims = world["truth"]["bad_rows"].query("feed == 'claims'")
    files = world["files"]
    real_ids = set(world["frames"]["claims_csv"].claim_id)
    for r in bad_claims.itertuples(index=False):
        header, rows = files[("landing", r.file)]
        row = dict(zip(header.split(","), rows[int(r.row_number) - 1], strict=True))
        assert row["claim_id"] not in real_ids and row["original_claim_id"] == ""


def test_vendor_b_first_and_last_scheduled_sessions_attended(world):
    b = world["frames"]["attendance_vendor_b"]
    b = b.assign(person="client:" + b.client_id, level=b.asam_level.map(LEVEL_B))
    eps = world["truth"]["episodes"]
    eb = eps[eps.person_id.str.startswith("client:B-") & (eps.source == "ehr")]
    sessions = b.set_index(["person", "level"]).sort_index()
    checked = 0
    for e in eb.itertuples(index=False):
        s = sessions.loc[(e.person_id, e.level_of_care)]
        s = s[(s.service_date >= e.start_date) & (s.service_date <= e.end_date)]
        s = s.sort_values(["service_date", "start_time"])
        assert s.iloc[0].service_date == e.start_date and s.iloc[0].attendance_code == "A"
        if e.is_open == "false":
            assert s.iloc[-1].service_date == e.end_date and s.iloc[-1].attendance_code == "A"
            checked += 1
    assert checked > 20


def test_noise_lines_use_unclassified_codes(world):
    proc, rev = classify_codes()
    cl = world["frames"]["claims_csv"]
    noise = cl[cl.procedure_code.isin(NOISE_CODES)]
    assert len(noise) > 50
    assert not noise.procedure_code.isin(proc.keys()).any()
    assert not noise.revenue_code.isin(rev.keys()).any()
    ehr_codes = cl[cl.billing_npi.isin(set(cl[cl.procedure_code == "H0035"].billing_npi))]
    assert {"S9480", "H0015", "H0035"} <= set(ehr_codes.procedure_code)
    inst = cl[cl.claim_type == "institutional"]
    assert {"0861", "0111"} <= set(inst.bill_type)
    assert (inst[inst.revenue_code == "0114"].procedure_code == "").all()


def test_claim_chains_voids_and_replacements(world):
    cl = world["frames"]["claims_csv"]
    versions = cl.drop_duplicates("claim_id").set_index("claim_id")
    eps = world["truth"]["episodes"]
    roster = world["frames"]["roster"]
    m2c = {m: "client:" + c for m, c in zip(roster.member_id, roster.client_id, strict=True) if m}
    proc, rev = classify_codes()
    spans = defaultdict(list)
    for e in eps.itertuples(index=False):
        spans[(e.person_id, e.level_of_care)].append((e.start_date, e.end_date))
    corrections = versions[versions.claim_frequency_code != "1"]
    assert len(corrections) > 10
    void_originals = []
    for cid, v in corrections.iterrows():
        orig = versions.loc[v.original_claim_id]
        assert orig.received_date < v.received_date
        assert orig.received_date[:7] < v.received_date[:7], "a later monthly file"
        if v.claim_frequency_code == "8":
            void_originals.append(v.original_claim_id)
            lines_v, lines_o = (
                cl[cl.claim_id == x]
                .drop_duplicates("line_number")
                .sort_values("line_number", key=lambda s: s.astype(int))
                for x in (cid, v.original_claim_id)
            )
            assert len(lines_v) == len(lines_o)
            assert (lines_v.service_from_date.values == lines_o.service_from_date.values).all()
            assert (lines_v.paid_amount == "0.00").all() and (lines_v.charge_amount == "0.00").all()
    assert void_originals
    for cid in void_originals:
        lines = cl[cl.claim_id == cid]
        outside = False
        for r in lines.itertuples(index=False):
            level = proc.get(r.procedure_code) or rev.get(r.revenue_code)
            if not level:
                continue
            person = m2c.get(r.member_id, f"member:{r.payer}:{r.member_id}")
            for d in days_of(r.service_from_date, r.service_to_date):
                iso = d.isoformat()
                if not any(s <= iso <= e for s, e in spans[(person, level)]):
                    outside = True
        assert outside, f"voided original {cid} would not change any episode"


def test_planted_billing_defects(world):
    d = world["truth"]["claim_defects"]
    kinds = d.defect.value_counts()
    for k in ("unbilled_day", "billed_not_attended", "voided", "replaced", "duplicate_line"):
        assert kinds.get(k, 0) > 0, k
    f = world["frames"]
    a, b = f["attendance_vendor_a"], f["attendance_vendor_b"]
    attended = set(
        zip(
            "client:" + a.MRN[a.Attendance == "Present"],
            [mdy(x).isoformat() for x in a["Session Date"][a.Attendance == "Present"]],
            strict=True,
        )
    )
    attended |= set(
        zip(
            "client:" + b.client_id[b.attendance_code == "A"],
            b.service_date[b.attendance_code == "A"],
            strict=True,
        )
    )
    eps = world["truth"]["episodes"]
    for r in d[d.defect == "billed_not_attended"].itertuples(index=False):
        assert (r.person_id, r.service_from_date) not in attended
        inside = eps[
            (eps.person_id == r.person_id)
            & (eps.level_of_care == r.level_of_care)
            & (eps.start_date < r.service_from_date)
            & (eps.end_date > r.service_from_date)
        ]
        assert len(inside) == 1
    for r in d[d.defect == "unbilled_day"].itertuples(index=False):
        assert (r.person_id, r.service_from_date) in attended
    cl = f["claims_csv"]
    counts = cl.groupby(["claim_id", "line_number"]).size()
    for r in d[d.defect == "duplicate_line"].itertuples(index=False):
        assert counts[(r.claim_id, r.line_number)] >= 2
    dup = cl[cl.duplicated(["claim_id", "line_number"], keep=False)]
    cols = [c for c in cl.columns if not c.startswith("_")]
    assert (dup.groupby(["claim_id", "line_number"])[cols].nunique() == 1).all().all()


def test_holdback_moves_the_last_days_but_not_the_truth(runs):
    root, summary = runs["hold"]
    ref = runs["a"][0]
    manifest = json.loads((root / "truth" / "manifest.json").read_text())
    cutoff = manifest["holdback"]["cutoff_date"]
    assert cutoff == "2025-12-11"
    held = manifest["holdback_files"]
    assert held and all((root / "holdback" / h).is_file() for h in held)
    assert summary.rows_holdback["attendance"] > 0 and summary.rows_holdback["claims"] > 0
    for name in ("episodes.csv", "transitions.csv", "persons.csv"):
        assert (root / "truth" / name).read_bytes() == (ref / "truth" / name).read_bytes()
    w = load(root)
    a = w["frames"]["attendance_vendor_a"]
    dates = pd.Series([mdy(x).isoformat() for x in a["Session Date"]])
    assert (dates[(a._top == "landing").values] <= cutoff).all()
    assert (dates[(a._top == "holdback").values] > cutoff).all()
    cl = w["frames"]["claims_csv"]
    land = cl[(cl._top == "landing") & ~cl.duplicated(["claim_id", "line_number"], keep=False)]
    hold = cl[cl._top == "holdback"]
    assert (land.received_date <= cutoff).all()
    assert hold._file.str.fullmatch(r"claims/claims_[a-z]+_\d{8}\.csv").all()
    assert len(hold) > 0
    once = ~cl.duplicated(["claim_id", "line_number"], keep=False)
    assert (cl[(cl._top == "holdback") & once].received_date > cutoff).all()
    for r in w["truth"]["bad_rows"].itertuples(index=False):
        top = "holdback" if r.file in held else "landing"
        assert (root / top / r.file).is_file()
    # Landing + holdback claim lines = the lines of the run without hold-back.
    ref_lines = load(ref)["frames"]["claims_csv"]
    key = ["claim_id", "line_number"]
    assert set(map(tuple, cl[key].values)) == set(map(tuple, ref_lines[key].values))


def test_iop_calibrated_to_teds_d(calibration):
    eps = pd.read_csv(calibration / "truth" / "episodes.csv", dtype=str, keep_default_na=False)
    iop = eps[(eps.level_of_care == "IOP") & (eps.discharge_reason != "")]
    assert len(iop) > 800
    share = iop.discharge_reason.value_counts(normalize=True)
    targets = {
        "completed": 0.377,
        "dropped_out": 0.232,
        "transferred": 0.179,
        "terminated": 0.140,
        "other": 0.072,
    }
    for reason, target in targets.items():
        assert abs(share.get(reason, 0) - target) < 0.06, (reason, share.get(reason))
    los = iop.length_of_stay.astype(int)
    assert 33 <= los.median() <= 50
    assert 42 <= los[iop.discharge_reason == "completed"].median() <= 60
    assert 18 <= los[iop.discharge_reason == "dropped_out"].median() <= 34
    closed = eps[(eps.level_of_care == "IOP") & (eps.is_open == "false")]
    assert 33 <= closed.length_of_stay.astype(int).median() <= 50
    levels = eps.level_of_care.value_counts()
    assert {"INPT", "WM", "RES", "PHP", "IOP", "OP"} <= set(levels.index)


def test_cli_and_summary(tmp_path, capsys):
    assert main(["--clients", "30", "--seed", "3", "--out", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (
        main(
            [
                "--clients",
                "30",
                "--seed",
                "3",
                "--out",
                str(tmp_path),
                "--start",
                "2025-01-01",
                "--end",
                "2025-06-30",
            ]
        )
        == 0
    )
    line = capsys.readouterr().out
    assert "rows/s" in line and line.count("\n") == 1
    manifest = json.loads((tmp_path / "truth" / "manifest.json").read_text())
    assert manifest["parameters"]["start"] == "2025-01-01"
    files = list((tmp_path / "landing" / "attendance").glob("*.csv"))
    assert files and all("2025" in f.name for f in files)
    total = sum(f.read_text().count("\n") - 1 for f in (tmp_path / "landing").rglob("*.csv"))
    total += x12_service_lines(tmp_path)
    assert total == sum(v["total"] for v in manifest["rows"].values())
    assert main(["--clients", "0", "--seed", "3", "--out", str(tmp_path)]) == 2


def test_x12_claims_carry_versions_the_real_way(runs, world):
    """Medicare's claims are 837P/837I files with 835 remittances. A replacement or void is sent
    under the CLM01 of the claim it corrects, with REF*F8 = the payer's claim control number of
    the version it corrects: a number no 837 contains, found only as CLP07 of an 835 whose CLP01
    is that CLM01 (the first one paid, the reversal when corrected)."""
    root = runs["a"][0]
    claims = world["frames"]["claims_x12"]
    assert set(claims.claim_type) == {"professional", "institutional"}
    assert set(claims.payer) == {"Medicare"}
    remits = pd.DataFrame(
        [
            line
            for top in ("landing", "holdback")
            for path in sorted((root / top).rglob("*.835"))
            for line in parse_x12(path).remittance_lines
        ]
    )
    icn_claim = dict(zip(remits.payer_claim_control_number, remits.claim_id, strict=False))
    corrections = claims[claims.claim_frequency_code != "1"].drop_duplicates("claim_id")
    assert len(corrections) > 0 and (corrections.original_claim_id != "").all()
    assert set(corrections.original_claim_id).isdisjoint(set(claims.claim_id))
    for r in corrections.itertuples(index=False):
        assert icn_claim[r.original_claim_id] == r.claim_id
        earlier = claims[(claims.claim_id == r.claim_id) & (claims.received_date < r.received_date)]
        assert len(earlier) > 0
    reversed_icns = set(remits[remits.claim_status == "22"].payer_claim_control_number)
    assert reversed_icns == set(corrections.original_claim_id)
    # no CSV file carries a Medicare claim
    assert "Medicare" not in set(world["frames"]["claims_csv"].payer)
