"""Feed layouts: which rows go to which file, in what order, rendered how (docs/input_layouts.md).

Each builder returns a `writers.Frame`: rows sorted by file (a stable sort keeps the generation
order, i.e. by client, inside a file), file names, the hold-back flag per file and a `render`
closure that turns row indices into Arrow string columns by gathering from vocabularies.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iop.generator.claim_chains import ClaimSet
from iop.generator.claims import BILL_TYPES, MODIFIERS, POS, PROCS, REVENUE, Npis
from iop.generator.common import (
    CENSUS_REASONS,
    LEVEL_A,
    LEVEL_B,
    PAYERS,
    SERVICE_A,
    SERVICE_B,
    SITES,
    STATUS_A,
    STATUS_B,
    VENDOR_A,
    VENDOR_B,
    DateVocab,
    week_number,
)
from iop.generator.population import (
    ETHNICITY,
    LAST,
    RACE_VALUES,
    SEX,
    ZIPS,
    Persons,
    first_names,
)
from iop.generator.sessions import Census, Sessions
from iop.generator.writers import Frame, insert_positions, int_strings, take
from iop.layouts import LAYOUTS


def _layout_columns(name: str) -> tuple[str, ...]:
    return next(layout for layout in LAYOUTS if layout.name == name).columns


ATTENDANCE_A = [
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
ATTENDANCE_B = list(_layout_columns("attendance_vendor_b"))  # delivered as the layout names it
CENSUS_A = ["MRN", "Program", "Level of Care", "Admit Date", "Discharge Date", "Discharge Reason"]
ROSTER = list(_layout_columns("roster_standard"))
# Roster and claims headers are delivered exactly as the layouts name them.
CLAIMS = list(_layout_columns("claims_csv"))
HEADERS = {
    "attendance_vendor_a": ATTENDANCE_A,
    "attendance_vendor_b": ATTENDANCE_B,
    "census_vendor_a": CENSUS_A,
    "roster": ROSTER,
    "claims_csv": CLAIMS,
}


def _vocab(values, blank_is_null: bool = True) -> pa.Array:
    return pa.array([None if (blank_is_null and v == "") else v for v in values], pa.string())


def _with_null(arr: pa.Array) -> pa.Array:
    """The vocabulary plus a trailing null entry (index len(arr) renders an empty field)."""
    return pa.concat_arrays([arr, pa.nulls(1, pa.string())])


def _times_12h() -> pa.Array:
    out = []
    for m in range(1440):
        h, mm = divmod(m, 60)
        out.append(f"{(h % 12) or 12:02d}:{mm:02d} {'AM' if h < 12 else 'PM'}")
    return pa.array(out, pa.string())


def _times_24h() -> pa.Array:
    return pa.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], pa.string())


def _clinician_ids(prefix: str, n: int, seed_shift: int) -> pa.Array:
    return pa.array([f"{prefix}{(i * 37 + seed_shift) % 10000:04d}" for i in range(n)], pa.string())


def attendance_frames(
    s: Sessions, persons: Persons, vocab: DateVocab, cutoff: int, client_ids: pa.Array
) -> list[Frame]:
    """Vendor A daily files and vendor B weekly (ISO week) files."""
    vendor = persons.vendor[s.person]
    return [
        _attendance_frame(s, np.flatnonzero(vendor == v), v, persons, vocab, cutoff, client_ids)
        for v in (VENDOR_A, VENDOR_B)
    ]


def _attendance_frame(
    s: Sessions,
    rows: np.ndarray,
    vendor: int,
    persons: Persons,
    vocab: DateVocab,
    cutoff: int,
    client_ids: pa.Array,
) -> Frame:
    # Vendor A: one file per day; vendor B: one file per (Monday-based = ISO) week.
    a = vendor == VENDOR_A
    key = s.day[rows] - vocab.base if a else week_number(s.day[rows])
    srt = np.argsort(key, kind="stable")  # stable: by client, then time, inside a file
    perm = rows[srt]
    fkeys, row_file = np.unique(key[srt], return_inverse=True)
    if a:
        names = [f"vendor_a_attendance_{vocab.compact[k]}.csv" for k in fkeys]
        hold = fkeys + vocab.base > cutoff
    else:
        monday = fkeys * 7 - 3
        names = [f"vendor_b_sessions_{vocab.iso_week[d - vocab.base]}.csv" for d in monday]
        hold = monday + 6 > cutoff  # a week is delivered once it is over
    levels = _vocab([(LEVEL_A if a else LEVEL_B).get(i, "") for i in range(6)])
    status = _vocab(STATUS_A if a else STATUS_B)
    service = _vocab(SERVICE_A if a else SERVICE_B)
    times = _times_12h() if a else _times_24h()
    clin = _clinician_ids("CL", 45, 1203) if a else _clinician_ids("S", 45, 4521)
    dates = vocab.mdy if a else vocab.iso
    sites = _vocab(SITES)
    minutes = int_strings(np.arange(1000))

    def render(idx: np.ndarray) -> list[pa.Array]:
        r = perm[idx]
        p = s.person[r]
        return [
            take(client_ids, p),
            take(sites, persons.site[p]),
            take(levels, s.level[r]),
            take(dates, s.day[r] - vocab.base),
            take(times, s.start_min[r]),
            take(service, s.service[r]),
            take(minutes, s.minutes[r]),
            take(status, s.status[r]),
            take(clin, s.clinician[r]),
        ]

    return Frame(
        "attendance",
        "attendance_vendor_a" if a else "attendance_vendor_b",
        ATTENDANCE_A if a else ATTENDANCE_B,
        names,
        np.asarray(hold, bool),
        row_file.astype(np.int64),
        render,
    )


def roster_frame(
    persons: Persons, vocab: DateVocab, client_ids: pa.Array, member_ids: pa.Array
) -> Frame:
    """roster_vendor_a.csv and roster_vendor_b.csv, one row per EHR client."""
    ehr = np.flatnonzero(persons.is_ehr)
    perm = ehr[np.lexsort((persons.client_num[ehr], persons.vendor[ehr]))]
    row_file = persons.vendor[perm].astype(np.int64)
    birth = pa.array(
        np.datetime_as_string(persons.birth_day.astype("datetime64[D]"), unit="D").tolist(),
        pa.string(),
    )
    fnames, lnames = _vocab(first_names()), _vocab(LAST)

    def render(idx):
        p = perm[idx]
        return [
            take(client_ids, p),
            take(fnames, persons.first_name[p]),
            take(lnames, persons.last_name[p]),
            take(member_ids, p),
            take(_vocab(PAYERS), persons.payer[p]),
            pc.take(birth, pa.array(p)),
            take(_vocab(SEX), persons.sex[p]),
            take(_vocab(RACE_VALUES), persons.race[p]),
            take(_vocab(ETHNICITY), persons.ethnicity[p]),
            take(_vocab(ZIPS), persons.zip[p]),
        ]

    return Frame(
        "roster",
        "roster",
        ROSTER,
        ["roster_vendor_a.csv", "roster_vendor_b.csv"],
        np.zeros(2, bool),
        row_file,
        render,
        quote=("first_name", "last_name"),
    )


def census_frame(
    census: Census, persons: Persons, vocab: DateVocab, cutoff: int, client_ids: pa.Array
) -> Frame:
    """One snapshot file per month end (and --end): every admission known by that date."""
    names = [f"vendor_a_census_{vocab.compact[d - vocab.base]}.csv" for d in census.snapshot_days]
    hold = census.snapshot_days > cutoff
    levels = _vocab([LEVEL_A.get(i, "") for i in range(6)])
    mdy = _with_null(vocab.mdy)
    reasons = _with_null(_vocab(CENSUS_REASONS))
    null_day = len(vocab.mdy)

    def render(idx):
        a = census.row_adm[idx]
        p = census.person[a]
        shown = census.row_discharged[idx]
        return [
            take(client_ids, p),
            take(_vocab(SITES), persons.site[p]),
            take(levels, census.level[a]),
            take(mdy, census.admit[a] - vocab.base),
            take(mdy, np.where(shown, census.discharge[a] - vocab.base, null_day)),
            take(reasons, np.where(shown, census.reason[a], len(CENSUS_REASONS))),
        ]

    return Frame(
        "census",
        "census_vendor_a",
        CENSUS_A,
        names,
        hold,
        census.row_snapshot.astype(np.int64),
        render,
    )


def claim_id_strings(numbers: np.ndarray) -> pa.Array:
    """CLM + 9 digits; -1 renders as an empty field."""
    s = pc.utf8_lpad(int_strings(np.maximum(numbers, 0)), 9, "0")
    out = pc.binary_join_element_wise("CLM", s, "")
    return pc.if_else(pa.array(np.asarray(numbers) < 0), pa.nulls(len(out), pa.string()), out)


def claims_frame(
    cset: ClaimSet,
    persons: Persons,
    vocab: DateVocab,
    cutoff: int,
    npis: Npis,
    member_ids: pa.Array,
    dx_vocab: list[str],
    rng: np.random.Generator,
    csv_versions: np.ndarray | None = None,
) -> Frame:
    """Monthly files per payer by delivery month; held-back lines go to daily files.

    Rows are the claim lines followed by the duplicated lines (re-deliveries of a line, placed
    at random positions inside their file, which may be the next month's file). Only the
    versions in `csv_versions` (default: all) are written; the others go to X12 files
    (iop/generator/x12_writer.py).
    """
    lines = cset.lines
    n = lines.n
    src_line = np.concatenate([np.arange(n, dtype=np.int32), cset.dup_src.astype(np.int32)])
    delivery = cset.line_delivery() - vocab.base
    if csv_versions is not None:
        kept = csv_versions[lines.version[src_line]]
        real = np.flatnonzero(kept[:n])
        src_line, delivery = src_line[kept], delivery[kept]
        n = real.size
    else:
        real = np.arange(n)
    month = vocab.month_of[delivery].astype(np.int32)
    fkey = np.where(delivery + vocab.base > cutoff, 5 * 10**6 + delivery, month)
    del delivery, month
    fkey += persons.payer[lines.person[src_line]].astype(np.int32) * 10**7
    fkeys, row_file = np.unique(fkey, return_inverse=True)
    del fkey
    row_file = row_file.astype(np.int32)
    names = []
    for k in fkeys:
        pname = PAYERS[k // 10**7].lower()
        rest = k % 10**7
        if rest >= 5 * 10**6:
            names.append(f"claims_{pname}_{vocab.compact[rest - 5 * 10**6]}.csv")
        else:
            y, m = divmod(int(rest), 12)
            names.append(f"claims_{pname}_{1970 + y:04d}{m + 1:02d}.csv")
    hold = fkeys % 10**7 >= 5 * 10**6

    # Inside a file: by claim id, then line number (one int64 sort key).
    sort_key = (
        (row_file[:n].astype(np.int64) << 44)
        | ((cset.claim_no[lines.version[real]] - cset.claim_no.min() if n else 0) << 14)
        | lines.line_no[real]
    )
    real = np.argsort(sort_key, kind="stable")
    del sort_key
    dups = np.arange(n, src_line.size)
    real_counts = np.bincount(row_file[real], minlength=fkeys.size)
    offset = (rng.random(dups.size) * (real_counts[row_file[dups]] + 1)).astype(np.int64)
    order, _, _ = insert_positions(row_file[real], fkeys.size, row_file[dups], offset)
    rows = np.concatenate([real, dups])[order]
    del order, real
    perm = src_line[rows]
    row_file = row_file[rows]
    del rows, src_line

    iso = _with_null(vocab.iso)
    npi_vocab = _with_null(pa.array(npis.numbers, pa.string()))
    null_npi = len(npis.numbers)
    freq_vocab = pa.array([str(i) for i in range(10)], pa.string())
    ctype = _vocab(["professional", "institutional"])
    payers, pos, bills = _vocab(PAYERS), _vocab(POS), _vocab(BILL_TYPES)
    revs, procs, mods, dxs = _vocab(REVENUE), _vocab(PROCS), _vocab(MODIFIERS), _vocab(dx_vocab)

    def render(idx):
        r = perm[idx]
        ln = lines
        ver = ln.version[r]
        per = ln.person[r]
        rendering = ln.rendering[r]
        return [
            claim_id_strings(cset.claim_no[ver]),
            claim_id_strings(cset.orig_no[ver]),
            take(freq_vocab, cset.freq[ver]),
            int_strings(ln.line_no[r]),
            take(ctype, ln.ctype[r]),
            take(member_ids, per),
            take(payers, persons.payer[per]),
            take(iso, ln.from_day[r] - vocab.base),
            take(iso, ln.to_day[r] - vocab.base),
            take(pos, ln.pos[r]),
            take(bills, ln.bill[r]),
            take(revs, ln.rev[r]),
            take(procs, ln.proc[r]),
            take(mods, ln.mods[r]),
            int_strings(ln.units[r]),
            _cents(ln.charge[r]),
            _cents(ln.allowed[r]),
            _cents(ln.paid[r]),
            take(dxs, ln.dx[r]),
            take(npi_vocab, np.where(rendering < 0, null_npi, rendering)),
            take(npi_vocab, ln.billing[r]),
            take(iso, cset.received[ver] - vocab.base),
            take(iso, cset.adjudicated[ver] - vocab.base),
        ]

    return Frame("claims", "claims_csv", CLAIMS, names, hold, row_file.astype(np.int64), render)


def _cents(values: np.ndarray) -> pa.Array:
    from iop.generator.writers import cents_strings

    return cents_strings(values)
