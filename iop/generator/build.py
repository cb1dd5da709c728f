"""`generate()`: the whole world, in order, then the files and the truth.

Order of work: persons -> journeys (planned episodes) -> scheduled days and attendance ->
session rows and census -> claim lines and defects -> feed files (with bad rows) -> truth
derived from what was written. Each stage draws from its own child of
`numpy.random.default_rng(seed)`, so the output is byte-identical for the same arguments and a
change in one stage's draws does not reshuffle the others.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from iop.generator import claim_chains as chains
from iop.generator import claims as cl
from iop.generator import outcomes
from iop.generator import x12_writer as x12w
from iop.generator.common import LEVELS, PAYERS, DateVocab, from_day, to_day
from iop.generator.defects import plant_bad_rows
from iop.generator.frames import (
    attendance_frames,
    census_frame,
    claim_id_strings,
    claims_frame,
    roster_frame,
)
from iop.generator.journeys import plan_journeys
from iop.generator.population import dx_vocab, make_persons
from iop.generator.sessions import (
    Admissions,
    Sessions,
    census_admissions,
    census_snapshots,
    schedule_days,
    session_rows,
    truth_starts,
)
from iop.generator.truth import derive_episodes, episode_columns, transition_columns
from iop.generator.writers import write_frame, write_table
from iop.settings import DEMO_MARKER

FEEDS = ("attendance", "roster", "census", "claims")


@dataclass
class GenerationSummary:
    """What a run produced (rows include bad rows; holdback rows are counted separately too)."""

    out_dir: str
    clients: int
    claims_only_members: int
    seed: int
    as_of_date: str
    rows: dict[str, int] = field(default_factory=dict)
    rows_holdback: dict[str, int] = field(default_factory=dict)
    bad_rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    files_holdback: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        feeds = ", ".join(f"{self.rows.get(f, 0):,} {f}" for f in FEEDS)
        held = sum(self.files_holdback.values())
        held_text = f" + {held:,} held back" if held else ""
        return (
            f"iop-generate: {self.clients:,} clients + {self.claims_only_members:,} claims-only "
            f"members -> {feeds} rows ({self.total_rows:,} total, "
            f"{sum(self.bad_rows.values()):,} bad) in {sum(self.files.values()):,} files"
            f"{held_text}"
            f"; {self.truth.get('episodes', 0):,} truth episodes; as_of {self.as_of_date}; "
            f"{self.seconds:.1f} s ({self.rows_per_second:,.0f} rows/s)"
        )


def _month_ends(start: int, end: int) -> np.ndarray:
    m0 = np.datetime64(from_day(start), "M")
    m1 = np.datetime64(from_day(end), "M")
    months = np.arange(m0, m1 + 1)
    return ((months + 1).astype("datetime64[D]") - 1).astype(np.int64)


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days).astype("datetime64[D]"), unit="D").astype(object)


CHUNK_PERSONS = 20_000  # part of the output's definition: changing it changes the bytes


def _simulate_in_chunks(
    persons, npis, dxv, r_chunks, s_day: int, e_day: int, noise_per_member: int
) -> tuple[Sessions, Admissions, list]:
    """Journeys, sessions, census admissions and claims, for one chunk of persons at a time.

    Persons are independent of each other, so the world is simulated in fixed-size chunks (each
    with its own child generator): peak memory then holds only the compact results plus one
    chunk's temporaries, and the output stays deterministic for a seed.
    """
    bounds = list(range(0, persons.n, CHUNK_PERSONS)) + [persons.n]
    rngs = r_chunks.spawn(len(bounds) - 1)
    sess, adms, claims = [], [], []
    for (lo, hi), rng in zip(zip(bounds[:-1], bounds[1:], strict=True), rngs, strict=True):
        sub = persons.slice(lo, hi)
        r_jour, r_sess, r_claims = rng.spawn(3)
        eps = plan_journeys(sub, r_jour, s_day, e_day)
        admit, intake, vendor_a = truth_starts(eps, sub, r_sess, s_day)
        days = schedule_days(eps, sub, r_sess, intake)
        s = session_rows(eps, days, sub, r_sess)
        a = census_admissions(eps, days, admit, vendor_a, r_sess, e_day)
        parts = [
            cl.ehr_billing(eps, days, sub, npis, r_claims),
            cl.stay_lines(eps, sub, npis, r_claims),
            cl.external_pro_lines(eps, days, sub, npis, r_claims),
            cl.noise_lines(sub, noise_per_member, npis, r_claims, s_day, e_day, dx_offset=len(dxv)),
        ]
        c = chains.assemble(parts, eps, sub, r_claims, s_day, e_day)
        del parts, days
        s.person += lo
        a.person += lo
        c.lines.person += lo
        c.unbilled = (c.unbilled[0] + lo, *c.unbilled[1:])
        c.chains["person"] = c.chains["person"] + lo
        sess.append(s)
        adms.append(a)
        claims.append(c)
    return Sessions.concat(sess), Admissions.concat(adms), claims


def generate(
    out_dir: Path | str,
    clients: int,
    seed: int,
    *,
    start: str = "2024-01-01",
    end: str = "2025-12-31",
    claims_only_members: int | None = None,
    noise_claim_lines_per_member: int = 2,
    bad_row_rate: float = 0.003,
    hold_back_days: int = 0,
) -> GenerationSummary:
    """Generate the landing files, hold-back files and ground truth under `out_dir`.

    Any previous landing/<feed>/, holdback/ and truth/ folders under `out_dir` are replaced
    (nothing else there is touched), so a re-run never mixes files of two worlds.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    s_day, e_day = to_day(start), to_day(end)
    if e_day - s_day < 60:
        raise ValueError("--end must be at least 60 days after --start")
    if clients < 1:
        raise ValueError("--clients must be >= 1")
    members = clients // 4 if claims_only_members is None else int(claims_only_members)
    if members < 0 or noise_claim_lines_per_member < 0:
        raise ValueError("--claims-only-members and --noise-claim-lines-per-member must be >= 0")
    if not 0 <= bad_row_rate < 1:
        raise ValueError("--bad-row-rate must be in [0, 1)")
    if hold_back_days < 0 or hold_back_days >= e_day - s_day:
        raise ValueError("--hold-back-days must be >= 0 and shorter than the window")
    # Files dated after the cutoff are held back; with no hold-back nothing is.
    cutoff = e_day - hold_back_days if hold_back_days > 0 else np.iinfo(np.int64).max // 2

    rng = np.random.default_rng(seed)
    r_pop, r_chunks, r_claims, r_frames, r_bad = rng.spawn(5)
    persons = make_persons(r_pop, clients, members, s_day, e_day)
    npis = cl.Npis.make(r_claims)
    dxv = dx_vocab()
    sessions, admissions, claim_chunks = _simulate_in_chunks(
        persons, npis, dxv, r_chunks, s_day, e_day, noise_claim_lines_per_member
    )
    census = census_snapshots(admissions, s_day, e_day, _month_ends(s_day, e_day))
    del admissions
    cset = chains.merge(claim_chunks, r_claims)
    del claim_chunks

    # Truth episodes come from the planted rows (bad rows are extras, never part of them);
    # derived before the files are rendered so its temporaries do not add to that peak.
    as_of = int(sessions.day.max()) if sessions.n else e_day
    t = derive_episodes(sessions, census, cset, as_of, int(census.snapshot_days.max()))

    # ---- files --------------------------------------------------------------------------
    landing, holdback, truth_dir = out / "landing", out / "holdback", out / "truth"
    for folder in [*(landing / f for f in FEEDS), holdback, truth_dir]:
        if folder.exists():
            shutil.rmtree(folder)
    for f in FEEDS:
        (landing / f).mkdir(parents=True, exist_ok=True)
    # the marker of demo data: only here may the public demo pseudonym key be used (iop.settings)
    (out / DEMO_MARKER).write_text("Generated by iop.generator: synthetic data, no real person.\n")

    vocab = DateVocab.build(s_day - 400, e_day + 400)
    cids = persons.client_ids()
    mids = persons.member_ids()
    client_ids = pa.array([c or None for c in cids.tolist()], pa.string())
    member_ids = pa.array([m or None for m in mids.tolist()], pa.string())
    frames = [
        *attendance_frames(sessions, persons, vocab, cutoff, client_ids),
        roster_frame(persons, vocab, client_ids, member_ids),
        census_frame(census, persons, vocab, cutoff, client_ids),
    ]
    # part of the claims (X12_PAYERS) is exchanged as 837P/837I/835 instead of CSV
    x12 = x12w.x12_versions(cset, persons)
    frames.append(
        claims_frame(
            cset,
            persons,
            vocab,
            cutoff,
            npis,
            member_ids,
            dxv + list(cl.NOISE_DX),
            r_frames,
            csv_versions=~x12,
        )
    )
    x12_files = x12w.write_x12_claims(
        cset,
        persons,
        x12,
        npis=npis,
        member_ids=mids.tolist(),
        dx_vocab=dxv + list(cl.NOISE_DX),
        cutoff=cutoff,
        landing=landing,
        holdback=holdback,
    )
    next_claim = int(cset.claim_no.max()) + 1 if cset.claim_no.size else 1

    # 835 remittances for part of the claims (an independent stream: no other draw moves)
    # (X12 claims are not chosen: the X12 writer's 835s remit them)
    remits = outcomes.plant_remittances(cset, np.random.default_rng([seed, 835]), cutoff, x12)
    n_remit_files = outcomes.write_835_files(landing, cset, remits, persons.payer, mids)

    summary = GenerationSummary(str(out), clients, members, seed, "")
    bad_records = {k: [] for k in ("feed", "file", "row_number", "rule")}
    holdback_files: list[str] = []
    for frame in frames:
        extras = plant_bad_rows(frame, bad_row_rate, r_bad, next_claim)
        res = write_frame(frame, landing, holdback, extras)
        f = frame.feed
        summary.rows[f] = summary.rows.get(f, 0) + res["rows"]
        summary.rows_holdback[f] = summary.rows_holdback.get(f, 0) + res["rows_holdback"]
        summary.bad_rows[f] = summary.bad_rows.get(f, 0) + extras.n
        summary.files[f] = summary.files.get(f, 0) + res["files"]
        summary.files_holdback[f] = summary.files_holdback.get(f, 0) + res["files_holdback"]
        holdback_files += [frame.file_path(i) for i in np.flatnonzero(frame.file_holdback)]
        bad_records["feed"] += [f] * extras.n
        bad_records["file"] += [frame.file_path(int(i)) for i in extras.file]
        bad_records["row_number"] += res["row_number"].tolist()
        bad_records["rule"] += extras.rule.tolist()
    summary.rows["claims"] = summary.rows.get("claims", 0) + x12_files["rows"]
    summary.rows_holdback["claims"] = (
        summary.rows_holdback.get("claims", 0) + x12_files["rows_holdback"]
    )
    summary.files["claims"] = summary.files.get("claims", 0) + x12_files["files"]
    summary.files["claims"] += x12_files.get("remittance_files", 0) + n_remit_files
    summary.files_holdback["claims"] = (
        summary.files_holdback.get("claims", 0)
        + x12_files["files_holdback"]
        + x12_files.get("remittance_files_holdback", 0)
    )
    holdback_files += x12_files["holdback_files"]

    # ---- truth --------------------------------------------------------------------------
    summary.as_of_date = from_day(as_of).isoformat()
    pids = persons.person_ids()

    with_claims = np.zeros(persons.n, bool)
    with_claims[cset.lines.person] = True
    keep = persons.is_ehr | with_claims
    payer_names = np.array(PAYERS, dtype=object)
    write_table(
        truth_dir / "persons.csv",
        {
            "person_id": pids[keep],
            "client_id": cids[keep],
            "member_id": mids[keep],
            "payer": payer_names[persons.payer[keep]],
            "source": np.where(persons.is_ehr[keep], "ehr", "claims").astype(object),
        },
    )
    write_table(truth_dir / "episodes.csv", episode_columns(t, pids, _iso))
    write_table(truth_dir / "transitions.csv", transition_columns(t, pids, _iso))
    order = np.lexsort(
        (
            np.array(bad_records["row_number"]),
            np.array(bad_records["file"], dtype=object).astype(str),
        )
    )
    write_table(
        truth_dir / "bad_rows.csv",
        {
            k: np.array(v, dtype=object if k != "row_number" else np.int64)[order]
            for k, v in bad_records.items()
        },
    )
    n_defects = _write_claim_defects(truth_dir / "claim_defects.csv", cset, pids, x12)
    n_outcomes = outcomes.write_outcome_truth(
        truth_dir,
        t,
        cset,
        remits,
        sessions,
        dxv + list(cl.NOISE_DX),
        pids,
        _iso,
        x12,
        x12w.written_claim_ids(cset, x12),
        (x12_files["svc_line"], x12_files["svc_sign"]),
    )
    n_outcomes["remittance_files"] = n_remit_files

    summary.truth = {
        "persons": int(keep.sum()),
        "episodes": int(t.person.size),
        "transitions": int((t.to_level >= 0).sum()),
        "bad_rows": len(bad_records["feed"]),
    }
    rules: dict[str, int] = {}
    for r in bad_records["rule"]:
        rules[r] = rules.get(r, 0) + 1
    manifest = {
        "generator": "iop.generator",
        "parameters": {
            "clients": clients,
            "seed": seed,
            "start": start,
            "end": end,
            "claims_only_members": members,
            "noise_claim_lines_per_member": noise_claim_lines_per_member,
            "bad_row_rate": bad_row_rate,
            "hold_back_days": hold_back_days,
        },
        "as_of_date": summary.as_of_date,
        "as_of_date_rule": "max Session Date / service_date over all non-bad attendance rows "
        "(landing and holdback, any status)",
        "rows": {
            f: {
                "total": summary.rows.get(f, 0),
                "landing": summary.rows.get(f, 0) - summary.rows_holdback.get(f, 0),
                "holdback": summary.rows_holdback.get(f, 0),
                "bad": summary.bad_rows.get(f, 0),
            }
            for f in FEEDS
        },
        "files": {
            f: {"landing": summary.files.get(f, 0), "holdback": summary.files_holdback.get(f, 0)}
            for f in FEEDS
        },
        "bad_rows": {
            "total": len(bad_records["feed"]),
            "by_rule": dict(sorted(rules.items())),
            "file_paths": "relative to landing/, except files listed in holdback_files, "
            "which are relative to holdback/",
        },
        "holdback": {
            "hold_back_days": hold_back_days,
            "cutoff_date": from_day(cutoff).isoformat() if hold_back_days > 0 else None,
            "rule": "attendance files of days after the cutoff (vendor B: ISO weeks ending after "
            "it), census snapshots after it, and claim lines received after it (daily files "
            "claims_<payer>_YYYYMMDD.csv) are under holdback/<feed>/; truth covers them too",
        },
        "holdback_files": sorted(holdback_files),
        "x12": {
            "payers": [PAYERS[p] for p in x12w.X12_PAYERS],
            "claim_files": x12_files["files"] + x12_files["files_holdback"],
            "service_lines": x12_files["rows"],
            "remittance_files": x12_files.get("remittance_files", 0)
            + x12_files.get("remittance_files_holdback", 0),
            "remittance_lines": x12_files.get("remittance_rows", 0),
            "rule": "these payers' claims are 837P/837I files (claims_<payer>_YYYYMM.837p/.837i) "
            "with 835 remittances (remittance_<payer>_YYYYMM.835) instead of CSV; rows.claims "
            "counts their service lines; corrections under the original's CLM01, REF*F8 = the "
            "payer's ICN from the 835 (docs/x12.md)",
        },
        "truth": {**summary.truth, "claim_defects": n_defects, "outcomes": n_outcomes},
        "person_id_scheme": "client:<client_id> for EHR clients; member:<payer>:<member_id> "
        "for claims-only members, payer spelled as in the claims (e.g. Medicaid)",
    }
    (truth_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    summary.seconds = time.perf_counter() - t0
    return summary


def _write_claim_defects(path: Path, cset: chains.ClaimSet, pids, x12: np.ndarray) -> dict:
    """truth/claim_defects.csv: every planted claim defect (an extension of the contract).

    Claim ids are as the files carry them (an X12 correction under its original's CLM01); lines
    of X12 versions are never re-delivered as duplicates (the X12 writer sends each version once).
    """
    levels = np.array([*LEVELS, ""], dtype=object)
    ln = cset.lines
    fin = chains.final_lines(cset)
    bna = fin[ln.bna[fin]]
    dup = cset.dup_src[~x12[ln.version[cset.dup_src]]]
    written = x12w.written_claim_ids(cset, x12)
    by_no = np.argsort(cset.claim_no)

    def as_written(numbers: np.ndarray) -> np.ndarray:
        return written[by_no[np.searchsorted(cset.claim_no[by_no], numbers)]]

    ch = dict(cset.chains)
    ch["claim_no"] = as_written(ch["claim_no"])
    ch["related_no"] = as_written(ch["related_no"])
    u_person, u_level, u_day = cset.unbilled
    n_unb, n_bna, n_ch, n_dup = u_day.size, bna.size, ch["kind"].size, dup.size

    def cat(*arrays):
        return np.concatenate([np.asarray(a) for a in arrays])

    cols = {
        "defect": cat(
            np.full(n_unb, "unbilled_day", object),
            np.full(n_bna, "billed_not_attended", object),
            ch["kind"],
            np.full(n_dup, "duplicate_line", object),
        ),
        "person_id": pids[cat(u_person, ln.person[bna], ch["person"], ln.person[dup])],
        "level_of_care": levels[cat(u_level, ln.level[bna], ch["level"], ln.level[dup])],
        "service_from_date": _iso(cat(u_day, ln.from_day[bna], ch["from_day"], ln.from_day[dup])),
        "service_to_date": _iso(cat(u_day, ln.to_day[bna], ch["to_day"], ln.to_day[dup])),
        "claim_id": claim_id_strings(
            cat(
                np.full(n_unb, -1),
                written[ln.version[bna]],
                ch["claim_no"],
                written[ln.version[dup]],
            )
        ),
        "line_number": cat(
            np.full(n_unb, "", object),
            ln.line_no[bna].astype(str).astype(object),
            np.full(n_ch, "", object),
            ln.line_no[dup].astype(str).astype(object),
        ),
        "related_claim_id": claim_id_strings(
            cat(np.full(n_unb + n_bna, -1), ch["related_no"], np.full(n_dup, -1))
        ),
    }
    write_table(path, cols)
    kinds, counts = np.unique(cols["defect"].astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}


__all__ = ["generate", "GenerationSummary"]
