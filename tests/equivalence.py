"""Helpers of the incremental-equivalence test (tests/test_incremental_equivalence.py).

* `deliveries()`: the generated landing files plus planted special cases, as deliveries (a path,
  its bytes, the deliveries it must land after);
* `plan_batches()`: a file order and a split into batches, repaired so that every "after" rule
  holds;
* `land()` / `land_all()`: copy deliveries into a data folder with set modification times (the
  pipeline's `_landed_at` is the file's mtime, iop/ingest.py `scan_landing`);
* `differences()`: every table of the published marts and of the warehouse's core schema,
  compared order-insensitively (doubles within 1e-9), as readable messages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

# Landing times: a fixed clock after every date of the generated data (so no row is dated after
# its file's landing), one minute per delivery in landing order.
CLOCK_START_NS = 1_767_571_200 * 10**9  # 2026-01-05 00:00:00 UTC
TICK_NS = 60 * 10**9
FLOAT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Delivery:
    name: str  # unique: the path, or `<path>@corrected` for a re-export of the same path
    relative: str  # path under landing/
    content: bytes
    after: tuple[str, ...] = ()  # deliveries that must land in an earlier batch
    role: str = "generated"


# ---- planted special cases -------------------------------------------------------------------


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@dataclass(frozen=True)
class Corpus:
    """A generated world (its folder) and the deliveries planted on top of it."""

    root: Path
    planted: dict[str, dict]  # role -> what was planted (plan.json: path, facts to check)

    @property
    def landing(self) -> Path:
        return self.root / "landing"


def _claims_csv(landing: Path) -> dict[str, tuple[list[str], list[dict]]]:
    return {
        p.relative_to(landing).as_posix(): _read_csv(p)
        for p in sorted((landing / "claims").glob("claims_*.csv"))
    }


# Cases whose own order is legal either way round: a void or a replacement can overtake the
# claim it corrects in transit, a roster can name a member before that member's claims land, and
# a census snapshot can land before an older one. Reversed, the case lands strictly before what
# it "overtakes" (plan.json) instead of after it.
REVERSIBLE = ("void", "replacement", "roster_link", "payer_change", "census_discharges")


def deliveries(corpus: Corpus, *, reversed_cases: frozenset[str] = frozenset()) -> list[Delivery]:
    """Every generated landing file, then the planted special cases (see `plant`), with their
    "after" rules: each case lands after what it overtakes (plan.json `overtakes`) unless its
    role is in `reversed_cases`, then strictly before it; and always after its `after` files."""
    assert set(reversed_cases) <= set(REVERSIBLE)
    landing = corpus.landing
    planted = corpus.root / "planted"
    specs = _read_plan(planted)
    followers: dict[str, list[str]] = {}  # file -> reversed cases it must follow
    for spec in specs:
        if spec["role"] in reversed_cases:
            for name in spec["overtakes"]:
                followers.setdefault(name, []).append(spec["name"])
    out = []
    for p in sorted(landing.rglob("*")):
        if p.is_file():
            relative = p.relative_to(landing).as_posix()
            after = tuple(followers.get(relative, ()))
            out.append(Delivery(relative, relative, p.read_bytes(), after))
    for spec in specs:
        after = [*spec["after"], *followers.get(spec["name"], ())]
        if spec["role"] not in reversed_cases:
            after += spec["overtakes"]
        content = (planted / spec["file"]).read_bytes()
        out.append(Delivery(spec["name"], spec["relative"], content, tuple(after), spec["role"]))
    return out


def _read_plan(planted: Path) -> list[dict]:
    import json

    return json.loads((planted / "plan.json").read_text())


def plant(root: Path) -> Corpus:
    """Write the special-case deliveries beside a generated world (root/planted/, plan.json):

    * `reexport_claims`, `reexport_attendance`: corrected re-exports of a generated claims CSV
      (one claim dropped, one paid amount changed) and attendance file (one row dropped), under
      the SAME name: they supersede the original (iop/ingest.py) and land after it;
    * `void`: a frequency-8 void of a client's claim, after the file of that claim;
    * `replacement`: a frequency-7 replacement of a claims-only member's last claim that moves its
      service dates 45 days later (across the 30-day episode gap: a new episode), after the
      original's file;
    * `roster_link`: a roster row giving a client without a member id the member id of a
      claims-only member (that person's claims become the client's), after the roster file and
      every claims file holding that member's claims;
    * `payer_change`: a claim of a claims-only member again, under another payer and received
      after every claim of the member (their person becomes member:<that payer>:<member id>),
      after every file holding that member's claims;
    * `census_discharges`: a later census snapshot that discharges every admission the last
      generated snapshot left open, after every census file.

    The five last cases can also land the other way round (`deliveries(reversed_cases=...)`):
    before the claim file(s) they correct or link, or before the last generated snapshot.
    """
    import json

    landing = root / "landing"
    planted = root / "planted"
    planted.mkdir(exist_ok=True)
    persons = _read_csv(root / "truth" / "persons.csv")[1]
    claims_only = {(p["payer"], p["member_id"]) for p in persons if p["source"] == "claims"}
    clients_members = {
        (p["payer"], p["member_id"]) for p in persons if p["source"] == "ehr" and p["member_id"]
    }
    files = {rel: rows for rel, rows in _claims_csv(landing).items()}
    # monthly CSV files only (claims_<payer>_YYYYMM.csv)
    monthly = {rel: v for rel, v in files.items() if len(Path(rel).stem.split("_")[-1]) == 6}
    referenced = {
        r["original_claim_id"] for _, rows in files.values() for r in rows if r["original_claim_id"]
    }
    claims: dict[str, dict] = {}  # claim id -> {file, rows}
    for rel, (_, rows) in monthly.items():
        for r in rows:
            entry = claims.setdefault(r["claim_id"], {"file": rel, "rows": []})
            if entry["file"] == rel:
                entry["rows"].append(r)
    plain = {
        cid: c
        for cid, c in claims.items()
        if cid not in referenced
        and all(r["claim_frequency_code"] == "1" for r in c["rows"])
        and all(_is_date(r["service_from_date"]) for r in c["rows"])
    }
    specs: list[dict] = []
    used_files: set[str] = set()
    used_members: set[tuple[str, str]] = set()

    def write(role, relative, content, after, name=None, **facts) -> None:
        file = f"{role}.bin"
        (planted / file).write_bytes(content)
        specs.append(
            {
                "role": role,
                "name": name or relative,
                "relative": relative,
                "file": file,
                "after": after,
                **facts,
            }
        )

    # the void: a client's (EHR person's) claim
    void_id = next(
        cid
        for cid, c in sorted(plain.items())
        if (c["rows"][0]["payer"], c["rows"][0]["member_id"]) in clients_members
    )
    original = plain[void_id]
    header = files[original["file"]][0]
    rows = []
    received = max(date.fromisoformat(r["received_date"]) for r in original["rows"])
    received += timedelta(days=20)
    for r in original["rows"]:
        rows.append(
            {
                **r,
                "claim_id": "V" + void_id,
                "original_claim_id": void_id,
                "claim_frequency_code": "8",
                "received_date": received.isoformat(),
                "adjudicated_date": "",
            }
        )
    payer = original["rows"][0]["payer"].lower()
    write(
        "void",
        f"claims/claims_{payer}_20251201.csv",
        _csv_bytes(header, rows),
        [],
        overtakes=[original["file"]],
        claim_id="V" + void_id,
    )
    used_files.add(original["file"])
    used_members.add((original["rows"][0]["payer"], original["rows"][0]["member_id"]))

    # the replacement: a claims-only member's last claim, 45 days later
    by_member: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for cid, c in claims.items():
        key = (c["rows"][0]["payer"], c["rows"][0]["member_id"])
        by_member.setdefault(key, []).append((cid, c))
    last_day = max(
        date.fromisoformat(r["service_to_date"])
        for _, rows in files.values()
        for r in rows
        if _is_date(r["service_to_date"])
    )
    replaced = None
    for member in sorted(claims_only - used_members):
        mine = sorted(
            (item for item in by_member.get(member, []) if _program_claim(item[1]["rows"])),
            key=lambda item: max(_to(r) for r in item[1]["rows"]),
        )
        if not mine:
            continue
        cid, c = mine[-1]  # the member's last program claim, moved past the episode's end
        if cid in plain and max(_to(r) for r in c["rows"]) + timedelta(days=45) <= last_day:
            replaced = (member, cid, c)
            break
    assert replaced, "no claims-only member with a claim to move across the episode gap"
    member, cid, c = replaced
    rows = []
    received = max(_to(r) for r in c["rows"]) + timedelta(days=45 + 7)  # one per version
    for r in c["rows"]:
        start = date.fromisoformat(r["service_from_date"]) + timedelta(days=45)
        end = date.fromisoformat(r["service_to_date"]) + timedelta(days=45)
        rows.append(
            {
                **r,
                "claim_id": "R" + cid,
                "original_claim_id": cid,
                "claim_frequency_code": "7",
                "service_from_date": start.isoformat(),
                "service_to_date": end.isoformat(),
                "received_date": received.isoformat(),
                "adjudicated_date": "",
            }
        )
    write(
        "replacement",
        f"claims/claims_{member[0].lower()}_20251202.csv",
        _csv_bytes(files[c["file"]][0], rows),
        [],
        overtakes=[c["file"]],
        claim_id="R" + cid,
        service_from_date=min(r["service_from_date"] for r in rows),
        person_id=f"member:{member[0]}:{member[1]}",
    )
    used_files.add(c["file"])
    used_members.add(member)

    # the roster link: a client without a member id gets a claims-only member's id
    roster_rel, client, member = None, None, None
    for path in sorted((landing / "roster").glob("*.csv")):
        header, rows = _read_csv(path)
        unlinked = [r for r in rows if not r["member_id"] and r["client_id"]]
        candidates = [m for m in sorted(claims_only - used_members) if by_member.get(m)]
        if unlinked and candidates:
            roster_rel, client, member = path.relative_to(landing).as_posix(), unlinked[0], None
            same_payer = [m for m in candidates if m[0] == client["payer"]]
            member = (same_payer or candidates)[0]
            roster_header = header
            break
    assert roster_rel, "no roster client without a member id, or no claims-only member"
    linked = {**client, "member_id": member[1], "payer": member[0]}
    member_files = sorted({c["file"] for _, c in by_member[member]})
    stem = Path(roster_rel).stem
    write(
        "roster_link",
        f"roster/{stem}_update.csv",
        _csv_bytes(roster_header, [linked]),
        [roster_rel],
        overtakes=member_files,
        client_id=client["client_id"],
        member_id=member[1],
    )
    used_files.update(member_files)

    # the payer change: a claims-only member's claim again under another payer, received after all
    # of the member's claims: the member's person becomes member:<that payer>:<id>, and every line
    # of the member's, in every claim chain, moves to it
    payers = sorted({c["rows"][0]["payer"] for c in claims.values()})
    moved = None
    for candidate in sorted(claims_only - used_members - {member}):
        others = [p for p in payers if p != candidate[0]]
        if by_member.get(candidate) and others:
            moved = (candidate, others[0])
            break
    assert moved, "no claims-only member to move to another payer"
    (old_payer, member_id), new_payer = moved
    cid, c = sorted(by_member[(old_payer, member_id)], key=lambda item: item[0])[-1]
    last_received = max(
        date.fromisoformat(r["received_date"])
        for _, (_, rows) in files.items()
        for r in rows
        if r["member_id"] == member_id and r["payer"] == old_payer
    )
    rows = [
        {
            **r,
            "claim_id": "P" + cid,
            "payer": new_payer,
            "original_claim_id": "",
            "claim_frequency_code": "1",
            "received_date": (last_received + timedelta(days=3)).isoformat(),
        }
        for r in c["rows"]
    ]
    payer_files = sorted({cl["file"] for _, cl in by_member[(old_payer, member_id)]})
    write(
        "payer_change",
        f"claims/claims_{new_payer.lower()}_20251203.csv",
        _csv_bytes(files[c["file"]][0], rows),
        [],
        overtakes=payer_files,
        person_id=f"member:{new_payer}:{member_id}",
        member_id=member_id,
    )
    used_files.update(payer_files)
    used_members.add((old_payer, member_id))

    # late census discharges: the last snapshot again, later, with its open admissions closed
    census = sorted((landing / "census").glob("*.csv"))
    header, rows = _read_csv(census[-1])
    snapshot = census[-1].stem.rsplit("_", 1)[-1]  # YYYYMMDD
    snapshot_day = date(int(snapshot[:4]), int(snapshot[4:6]), int(snapshot[6:]))
    reasons = sorted({r["Discharge Reason"] for f in census for r in _read_csv(f)[1]} - {""})
    discharge = snapshot_day.strftime("%m/%d/%Y")
    opened = [r for r in rows if not r["Discharge Date"] and r["Admit Date"]]
    assert opened, "the last census snapshot has no open admission to discharge"
    closed = [
        {**r, "Discharge Date": discharge, "Discharge Reason": reasons[0]}
        if not r["Discharge Date"] and r["Admit Date"]
        else r
        for r in rows
    ]
    later = (snapshot_day + timedelta(days=15)).strftime("%Y%m%d")
    write(
        "census_discharges",
        f"census/{census[-1].stem.rsplit('_', 1)[0]}_{later}.csv",
        _csv_bytes(header, closed),
        [f.relative_to(landing).as_posix() for f in census[:-1]],
        overtakes=[census[-1].relative_to(landing).as_posix()],
        discharged=len(opened),
    )

    # corrected re-exports under the same name: a claims file no other case relies on ...
    free = [rel for rel in sorted(monthly) if rel not in used_files]
    rel = max(free, key=lambda r: len(monthly[r][1]))
    header, rows = monthly[rel]
    in_file = [
        cid
        for cid in sorted(plain)
        if plain[cid]["file"] == rel
        and all(_is_amount(r["paid_amount"]) for r in plain[cid]["rows"])
    ]
    assert len(in_file) >= 2, "the re-exported claims file needs two plain claims"
    dropped, changed = in_file[0], in_file[1]
    corrected, done = [], False
    for r in rows:
        if r["claim_id"] == dropped:
            continue
        if r["claim_id"] == changed and not done:
            r = {**r, "paid_amount": f"{float(r['paid_amount']) / 2:.2f}"}
            done = True
        corrected.append(r)
    write(
        "reexport_claims",
        rel,
        _csv_bytes(header, corrected),
        [rel],
        name=f"{rel}@corrected",
        overtakes=[],
        dropped_claim_id=dropped,
    )
    # ... and the largest attendance file, its last row dropped
    attendance = max(sorted((landing / "attendance").glob("*.csv")), key=lambda p: p.stat().st_size)
    header, rows = _read_csv(attendance)
    rel = attendance.relative_to(landing).as_posix()
    write(
        "reexport_attendance",
        rel,
        _csv_bytes(header, rows[:-1]),
        [rel],
        name=f"{rel}@corrected",
        overtakes=[],
        rows=len(rows) - 1,
    )

    (planted / "plan.json").write_text(json.dumps(specs, indent=1))
    return Corpus(root, {s["role"]: s for s in specs})


# IOP / PHP service codes (sql/seeds: level-of-care value sets): claims that build episodes
PROGRAM_PROCEDURES = {"S9480", "H0015", "H0035", "S0201"}
PROGRAM_REVENUE = {"0905", "0906", "0912", "0913"}


def _program_claim(rows: list[dict]) -> bool:
    return any(
        r["procedure_code"] in PROGRAM_PROCEDURES or r["revenue_code"] in PROGRAM_REVENUE
        for r in rows
    )


def _is_amount(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _to(row: dict) -> date:
    return date.fromisoformat(row["service_to_date"])


# ---- batches -----------------------------------------------------------------------------------


def depth(items: list[Delivery]) -> int:
    """The longest chain of "after" rules (in deliveries): the fewest batches is depth + 1."""
    return max(_levels(items)[0].values())


def _levels(items: list[Delivery]) -> tuple[dict[str, int], dict[str, int]]:
    """Per delivery: the longest chain of deliveries it must follow, and of those following it."""
    by_name = {d.name: d for d in items}
    below: dict[str, int] = {}

    def low(name: str) -> int:
        if name not in below:
            below[name] = max((low(a) + 1 for a in by_name[name].after), default=0)
        return below[name]

    followers: dict[str, list[str]] = {d.name: [] for d in items}
    for d in items:
        for a in d.after:
            followers[a].append(d.name)
    above: dict[str, int] = {}

    def high(name: str) -> int:
        if name not in above:
            above[name] = max((high(f) + 1 for f in followers[name]), default=0)
        return above[name]

    for d in items:
        low(d.name)
        high(d.name)
    return below, above


def plan_batches(
    items: list[Delivery], order: list[int], cuts: list[int], n_batches: int
) -> list[list[Delivery]]:
    """`order` (a permutation of the deliveries) cut at positions `cuts` into `n_batches` batches,
    then repaired: each delivery is moved into the batches its "after" rules allow (at least one
    past everything it follows, with room left for what follows it) — the smallest move."""
    assert n_batches > depth(items), "too few batches for the chains of after rules"
    assert sorted(order) == list(range(len(items)))
    bounds = sorted(set(cuts))[: n_batches - 1]
    drawn: dict[str, int] = {}
    position: dict[str, int] = {}
    for pos, index in enumerate(order):
        drawn[items[index].name] = sum(pos >= b for b in bounds)
        position[items[index].name] = pos
    below, above = _levels(items)
    batch = {n: min(max(b, below[n]), n_batches - 1 - above[n]) for n, b in drawn.items()}
    by_name = {d.name: d for d in items}
    for name in sorted(batch, key=lambda n: below[n]):  # parents before their followers
        for a in by_name[name].after:
            batch[name] = max(batch[name], batch[a] + 1)
    out: list[list[Delivery]] = [[] for _ in range(n_batches)]
    for name in sorted(batch, key=lambda n: position[n]):
        out[batch[name]].append(by_name[name])
    check_order(out)
    return out


def check_order(batches: list[list[Delivery]]) -> None:
    """Every delivery lands in a strictly later batch than the ones it must follow."""
    where = {d.name: i for i, batch in enumerate(batches) for d in batch}
    for batch in batches:
        for d in batch:
            for a in d.after:
                assert where[a] < where[d.name], f"{d.name} must land after {a}"


# ---- landing -----------------------------------------------------------------------------------


class Clock:
    """Landing times in nanoseconds: one tick per delivery, in landing order."""

    def __init__(self) -> None:
        self.now = CLOCK_START_NS

    def tick(self) -> int:
        self.now += TICK_NS
        return self.now


def land(data_dir: Path, batch: list[Delivery], clock: Clock, final: dict) -> None:
    """Copy a batch into landing/ in its order, each file with the next landing time as its mtime
    (a re-export overwrites its path). `final` records path -> (bytes, mtime_ns) as it stands."""
    for d in batch:
        path = data_dir / "landing" / d.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.content)
        stamp = clock.tick()
        os.utime(path, ns=(stamp, stamp))
        final[d.relative] = (d.content, stamp)


def land_all(data_dir: Path, final: dict) -> None:
    """What landing/ holds at the end, landed at once: same paths, bytes and mtimes."""
    for relative, (content, stamp) in sorted(final.items()):
        path = data_dir / "landing" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, ns=(stamp, stamp))


# ---- comparison --------------------------------------------------------------------------------

# Columns that legitimately differ between a refresh after several batches and one full refresh:
# they record the run, not the data (see the test module's docstring).
RUN_COLUMNS = {
    "_publication": {"run_id", "published_at"},
    "check_history": {"run_id", "checked_at"},
    # whether the last core build changed an NPI's verdict: what that run did (bookkeeping)
    "own_billing_npis": {"classification_changed"},
}  # fmt: skip
# Columns safe to show in a difference message (no person identifier; person_key is keyed).
SHOWN = {
    "person_key", "level_of_care", "program", "payer", "source", "person_source",
    "claim_frequency_code", "version_flag", "checked_table", "expectation", "status",
    "table_name", "discharge_month", "month", "service_month",
}  # fmt: skip


def _tables(path: Path, schema: str) -> dict[str, tuple[list[str], list[str], list[tuple]]]:
    """Every table of a schema: its column names, column types and rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "order by 1",
                [schema],
            ).fetchall()
        ]
        out = {}
        for name in names:
            relation = con.execute(f'select * from "{schema}"."{name}"')
            columns = [c[0] for c in relation.description]
            types = [str(c[1]) for c in relation.description]
            out[name] = (columns, types, relation.fetchall())
        return out
    finally:
        con.close()


# A GX check whose verdict compares a table's row count with the previous runs'
# (expectations/*.json, meta.history): by design its verdict depends on the run history.
HISTORY_CHECK = "row_count_against_history"
VERDICT_COLUMNS = ("status", "status_label", "unexpected_count", "unexpected_percent")
MASKED = "<depends on the run history>"


def _without_run_history(marts: dict) -> dict:
    """The published marts with what records the runs rather than the data set aside:

    * check_history is a log with one set of rows per run: its latest run's rows are compared,
      and the verdict of the history check (HISTORY_CHECK) in them is masked;
    * _publication's row for check_history counts that log: left out;
    * program_quality_monthly_*.data_quality_pass_rate counts the history check's verdicts
      (the latest result of each staging/core check, sql/macros/program_quality.sql): compared
      as if those verdicts had passed, which is exact (pass rate x checks gives the passed count
      back: 4 decimals, fewer than 5,000 checks).
    """
    out = dict(marts)
    if "check_history" in marts:
        columns, types, rows = marts["check_history"]
        at = {c: i for i, c in enumerate(columns)}
        latest: dict[tuple, tuple] = {}
        for r in rows:  # the latest result of each check, as the program-quality marts read it
            key = (r[at["checked_table"]], r[at["expectation"]])
            if key not in latest or r[at["checked_at"]] > latest[key][at["checked_at"]]:
                latest[key] = r
        history_failed = sum(
            1
            for (table, expectation), r in latest.items()
            if expectation == HISTORY_CHECK
            and table.startswith(("staging.", "core."))
            and r[at["status"]] == "failed"
        )
        last_run = max(rows, key=lambda r: r[at["checked_at"]])[at["run_id"]] if rows else None
        masked = [
            tuple(
                MASKED if r[at["expectation"]] == HISTORY_CHECK and c in VERDICT_COLUMNS else v
                for c, v in zip(columns, r, strict=True)
            )
            for r in rows
            if r[at["run_id"]] == last_run
        ]
        out["check_history"] = (columns, types, masked)
        for name in [n for n in marts if n.startswith("program_quality_monthly")]:
            columns_q, types_q, rows_q = marts[name]
            iq = {c: i for i, c in enumerate(columns_q)}
            fixed = []
            for r in rows_q:
                r = list(r)
                checks, rate = r[iq["data_quality_checks"]], r[iq["data_quality_pass_rate"]]
                if checks and rate is not None:
                    passed = round(rate * checks) + history_failed
                    r[iq["data_quality_pass_rate"]] = round(passed / checks, 4)
                fixed.append(tuple(r))
            out[name] = (columns_q, types_q, fixed)
    if "_publication" in marts:
        columns, types, rows = marts["_publication"]
        at = columns.index("table_name")
        out["_publication"] = (columns, types, [r for r in rows if r[at] != "check_history"])
    return out


def _normal(value):
    if isinstance(value, float) and math.isnan(value):
        return ("NaN",)
    if isinstance(value, list):
        return tuple(_normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _normal(v)) for k, v in value.items()))
    return value


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= FLOAT_TOLERANCE * max(1.0, abs(a), abs(b))
    return a == b


def _match_within_tolerance(left: list[tuple], right: list[tuple]) -> tuple[list, list]:
    """Pair rows equal but for doubles within the tolerance; return the unpaired rows."""
    if not left or not right or len(left) * len(right) > 4_000_000:
        return left, right
    rest = list(right)
    unpaired = []
    for row in left:
        for i, other in enumerate(rest):
            if len(row) == len(other) and all(
                _close(a, b) for a, b in zip(row, other, strict=True)
            ):
                del rest[i]
                break
        else:
            unpaired.append(row)
    return unpaired, rest


def _example(columns: list[str], row: tuple) -> str:
    shown = {c: row[i] for i, c in enumerate(columns) if c in SHOWN}
    fingerprint = hashlib.sha256(repr(row).encode()).hexdigest()[:10]
    return f"row#{fingerprint} {shown}" if shown else f"row#{fingerprint}"


def compare_tables(label: str, left: dict, right: dict, examples: int = 3) -> list[str]:
    """Differences between two sets of tables (`left` the incremental side, `right` the full)."""
    problems = []
    for name in sorted(set(left) | set(right)):
        where = f"{label}.{name}"
        if name not in right:
            problems.append(f"{where}: only after the batches (not in the full refresh)")
            continue
        if name not in left:
            problems.append(f"{where}: only in the full refresh (missing after the batches)")
            continue
        (lcols, ltypes, lrows), (rcols, rtypes, rrows) = left[name], right[name]
        if (lcols, ltypes) != (rcols, rtypes):
            problems.append(
                f"{where}: columns differ: {list(zip(lcols, ltypes, strict=False))} vs "
                f"{list(zip(rcols, rtypes, strict=False))}"
            )
            continue
        keep = [i for i, c in enumerate(lcols) if c not in RUN_COLUMNS.get(name, ())]
        cols = [lcols[i] for i in keep]
        lc = Counter(tuple(_normal(r[i]) for i in keep) for r in lrows)
        rc = Counter(tuple(_normal(r[i]) for i in keep) for r in rrows)
        only_left = sorted((lc - rc).elements(), key=repr)
        only_right = sorted((rc - lc).elements(), key=repr)
        only_left, only_right = _match_within_tolerance(only_left, only_right)
        if only_left or only_right:
            problems.append(
                f"{where}: {len(only_left)} rows only after the batches, {len(only_right)} only "
                f"in the full refresh ({len(lrows)} vs {len(rrows)} rows); e.g. after the "
                f"batches: {[_example(cols, r) for r in only_left[:examples]]}; full: "
                f"{[_example(cols, r) for r in only_right[:examples]]}"
            )
    return problems


# The incremental refresh's own bookkeeping (sql/macros/incremental.sql): what the last run
# changed and reached, the keys of every file ever staged (dropped files' included), and the
# changed persons' sessions and claim lines the run copied for its models. They describe the
# run, not the data: a full refresh leaves all but file_keys empty.
BOOKKEEPING = frozenset(
    {
        "file_changes",
        "claim_scope",
        "change_scope",
        "changed_persons",
        "file_keys",
        "sessions_of_changed_persons",
        "claim_lines_of_changed_persons",
    }
)


def published_tables(data_dir: Path) -> dict[str, dict]:
    """The tables the equivalence is about: every published mart, every core table and view
    (the incremental refresh's bookkeeping aside)."""
    core = _tables(data_dir / "warehouse.duckdb", "core")
    return {
        "marts": _without_run_history(_tables(data_dir / "marts.duckdb", "main")),
        "core": {name: table for name, table in core.items() if name not in BOOKKEEPING},
    }


def differences(incremental: Path, full: Path) -> list[str]:
    left, right = published_tables(incremental), published_tables(full)
    return [
        problem
        for label in ("marts", "core")
        for problem in compare_tables(label, left[label], right[label])
    ]


def assert_equivalent(incremental: Path, full: Path, context: str = "") -> None:
    problems = differences(incremental, full)
    if problems:
        raise AssertionError(
            "the refresh after each batch differs from one full refresh of the same files"
            + (f" ({context})" if context else "")
            + ":\n  "
            + "\n  ".join(problems)
        )
