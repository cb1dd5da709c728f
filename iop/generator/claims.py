"""Claim lines from every source, before they are grouped into claims (see claim_chains.py).

Sources (all vectorized over lines):
* EHR billing of attended days for clients with a member id: PHP H0035, IOP S9480 (mental
  health) / H0015 (substance use) per diem, OP 90834/90837/90853 per session; one professional
  claim per person per week. About 1% extra lines bill days that were not attended, always
  strictly inside an episode (so they never move its bounds).
* External stays (claims only): institutional lines per calendar month, units = days.
* External IOP/OP (claims-only members, and some EHR clients' OP): professional lines from
  another billing NPI.
* Noise: K lines per member with codes that classify to no level of care.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from iop.generator.common import (
    INPT,
    IOP,
    OP,
    PHP,
    RES,
    WM,
    choice_codes,
    expand,
    npi_numbers,
    week_number,
)
from iop.generator.journeys import Episodes
from iop.generator.population import CLINICIANS_PER_SITE, Persons
from iop.generator.sessions import Days

PROCS = (
    "",
    "S9480",
    "H0015",
    "H0035",
    "90834",
    "90837",
    "90853",
    "90791",
    "H0019",
    "H0018",
    "H0011",
    "99213",
    "99214",
    "80305",
    "36415",
    "99203",
    "99284",
    "96127",
)
P = {code: i for i, code in enumerate(PROCS)}
REVENUE = ("", "1002", "1001", "0116", "0114", "0450", "0300", "0250")
R = {code: i for i, code in enumerate(REVENUE)}
BILL_TYPES = ("", "0861", "0111", "0131")
POS = ("", "11", "52", "53", "57")
MODIFIERS = ("", "HF", "HE", "HF|U1", "HE|U1", "95")
NOISE_PRO = ("99213", "99214", "80305", "36415", "99203", "96127")
NOISE_PRO_P = (0.35, 0.2, 0.15, 0.12, 0.1, 0.08)
NOISE_DX = ("Z00.00", "I10", "E11.9", "J06.9", "R51.9", "Z13.31")

# Charge per unit in cents.
UNIT_CHARGE = {
    "S9480": 25000,
    "H0015": 20000,
    "H0035": 45000,
    "90834": 15000,
    "90837": 20000,
    "90853": 6000,
    "90791": 25000,
    "H0019": 40000,
    "H0018": 35000,
    "H0011": 80000,
    "99213": 12000,
    "99214": 17000,
    "80305": 4500,
    "36415": 1500,
    "99203": 14000,
    "99284": 60000,
    "96127": 2500,
}
ALLOWED_PCT = np.array([55, 80, 65, 0])  # by payer
PAID_PCT = np.array([100, 85, 80, 0])

SRC_EHR, SRC_STAY, SRC_EXT_PRO, SRC_NOISE = range(4)
PROFESSIONAL, INSTITUTIONAL = 0, 1
FREQ_ORIGINAL, FREQ_REPLACEMENT, FREQ_VOID = 1, 7, 8


@dataclass
class Npis:
    """NPI pools: clinicians (by global clinician index), sites, external providers."""

    numbers: list[str]
    clinician0: int
    site0: int
    res0: int
    hospital0: int
    ext_group0: int
    clinic0: int
    attending0: int

    @classmethod
    def make(cls, rng: np.random.Generator) -> Npis:
        sizes = dict(
            clinician=3 * CLINICIANS_PER_SITE,
            site=3,
            res=4,
            hospital=3,
            ext_group=4,
            clinic=6,
            attending=10,
        )
        numbers = npi_numbers(rng, sum(sizes.values()))
        offs = np.cumsum([0, *sizes.values()])
        return cls(numbers, *[int(o) for o in offs[:-1]])


@dataclass
class Lines:
    """Claim lines as numeric columns (vocabulary indices, day numbers, cents)."""

    claim: np.ndarray  # claim key (dense), later the claim number
    person: np.ndarray
    level: np.ndarray  # classified level of care (-1 = none); for truth and defects
    ctype: np.ndarray
    from_day: np.ndarray
    to_day: np.ndarray
    pos: np.ndarray
    bill: np.ndarray
    rev: np.ndarray
    proc: np.ndarray
    mods: np.ndarray
    units: np.ndarray
    unit_charge: np.ndarray
    dx: np.ndarray
    rendering: np.ndarray  # index into Npis.numbers, -1 blank
    billing: np.ndarray
    source: np.ndarray
    bna: np.ndarray  # billed but not attended
    version: np.ndarray  # claim version the line belongs to (set by assemble)
    line_no: np.ndarray
    charge: np.ndarray  # cents
    allowed: np.ndarray
    paid: np.ndarray

    @property
    def n(self) -> int:
        return self.claim.size

    def take(self, idx) -> Lines:
        return Lines(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Lines]) -> Lines:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


def _lines(n: int, **cols) -> Lines:
    base = dict(
        claim=np.zeros(n, np.int64),
        person=np.zeros(n, np.int32),
        level=np.full(n, -1, np.int8),
        ctype=np.zeros(n, np.int8),
        from_day=np.zeros(n, np.int32),
        to_day=np.zeros(n, np.int32),
        pos=np.zeros(n, np.int8),
        bill=np.zeros(n, np.int8),
        rev=np.zeros(n, np.int8),
        proc=np.zeros(n, np.int8),
        mods=np.zeros(n, np.int8),
        units=np.ones(n, np.int16),
        unit_charge=np.zeros(n, np.int32),
        dx=np.zeros(n, np.int16),
        rendering=np.full(n, -1, np.int16),
        billing=np.zeros(n, np.int16),
        source=np.zeros(n, np.int8),
        bna=np.zeros(n, bool),
        version=np.zeros(n, np.int32),
        line_no=np.zeros(n, np.int16),
        charge=np.zeros(n, np.int32),
        allowed=np.zeros(n, np.int32),
        paid=np.zeros(n, np.int32),
    )
    for k, v in cols.items():
        base[k] = np.broadcast_to(np.asarray(v), (n,)).astype(base[k].dtype)
    return Lines(**base)


def _dense(keys: np.ndarray) -> np.ndarray:
    return np.unique(keys, return_inverse=True)[1].astype(np.int64)


def _charges(proc: np.ndarray, rev: np.ndarray) -> np.ndarray:
    table = np.array([UNIT_CHARGE.get(code, 0) for code in PROCS], dtype=np.int64)
    out = table[proc]
    out = np.where(
        proc == P[""], np.select([rev == R["0114"], rev == R["0250"]], [150000, 8000], 0), out
    )
    return out


def ehr_billing(
    eps: Episodes,
    days: Days,
    persons: Persons,
    npis: Npis,
    rng: np.random.Generator,
) -> Lines:
    """Lines for attended EHR days, plus ~1% billed-but-not-attended interior days."""
    person = eps.person[days.ep]
    ehr = ~eps.external[days.ep] & persons.has_member[person]
    # First/last attended day per episode, for the 'strictly inside' rule.
    first_att = np.full(eps.n, np.iinfo(np.int64).max)
    last_att = np.full(eps.n, -1)
    att = days.attended
    np.minimum.at(first_att, days.ep[att], days.day[att])
    np.maximum.at(last_att, days.ep[att], days.day[att])
    billed = ehr & att
    cand = ehr & ~att & (days.day > first_att[days.ep]) & (days.day < last_att[days.ep])
    p_bna = min(1.0, 0.01 * billed.sum() / max(cand.sum(), 1))
    bna = cand & (rng.random(days.ep.size) < p_bna)
    sel = np.flatnonzero(billed | bna)

    ep = days.ep[sel]
    per = eps.person[ep]
    lvl = eps.level[ep]
    day = days.day[sel]
    sud = persons.program_sud[per]
    op_kind = persons.op_kind[per]
    proc = np.select(
        [lvl == PHP, (lvl == IOP) & sud, lvl == IOP],
        [P["H0035"], P["H0015"], P["S9480"]],
        np.array([P["90834"], P["90837"], P["90853"]])[op_kind],
    )
    proc = np.where((lvl == OP) & days.first[sel], P["90791"], proc)
    pos = np.select(
        [lvl == PHP, (lvl == IOP) & sud, lvl == IOP],
        [POS.index("52"), POS.index("57"), POS.index("53")],
        np.where(persons.op_pos_53[per], POS.index("53"), POS.index("11")),
    )
    u = rng.random(persons.n)[per]  # modifiers are a billing habit per client, not per line
    mods = np.where(sud, MODIFIERS.index("HF"), np.where(u < 0.5, MODIFIERS.index("HE"), 0))
    mods = np.where((u > 0.9) & (mods > 0), mods + 2, mods)
    mods = np.where(lvl == OP, np.where(sud & (u < 0.3), MODIFIERS.index("HF"), 0), mods)
    site = persons.site[per].astype(np.int64)
    lines = _lines(
        sel.size,
        person=per,
        level=lvl,
        ctype=PROFESSIONAL,
        from_day=day,
        to_day=day,
        pos=pos,
        proc=proc,
        mods=mods,
        dx=persons.dx[per],
        rendering=npis.clinician0 + persons.clinician[per],
        billing=npis.site0 + site,
        source=SRC_EHR,
        bna=bna[sel],
    )
    lines.unit_charge = _charges(lines.proc, lines.rev)
    lines.claim = _dense(per * 100_000 + week_number(day))
    return lines


def stay_lines(eps: Episodes, persons: Persons, npis: Npis, rng: np.random.Generator) -> Lines:
    """Institutional lines for external WM/INPT/RES stays, one claim per calendar month."""
    idx = np.flatnonzero(np.isin(eps.level, (INPT, WM, RES)))
    s, e = eps.start[idx], eps.end[idx]
    m0 = s.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    m1 = e.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    owner, k = expand(m1 - m0 + 1)
    month = m0[owner] + k
    mfirst = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    mlast = (month + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    frm = np.maximum(s[owner], mfirst)
    to = np.minimum(e[owner], mlast)
    ep = idx[owner]
    per = eps.person[ep]
    lvl = eps.level[ep]
    sud = persons.program_sud[per]
    long_stay = (eps.end - eps.start + 1)[ep] > 30
    rev = np.select(
        [lvl == RES, lvl == WM], [np.where(sud, R["1002"], R["1001"]), R["0116"]], R["0114"]
    )
    proc = np.select(
        [lvl == RES, lvl == WM], [np.where(long_stay, P["H0019"], P["H0018"]), P["H0011"]], P[""]
    )
    bill = np.where(lvl == RES, BILL_TYPES.index("0861"), BILL_TYPES.index("0111"))
    facility = np.where(
        lvl == RES,
        npis.res0 + rng.integers(0, 4, eps.n)[ep],
        npis.hospital0 + rng.integers(0, 3, eps.n)[ep],
    )
    attending = npis.attending0 + rng.integers(0, 10, eps.n)[ep]
    n = owner.size
    lines = _lines(
        n,
        person=per,
        level=lvl,
        ctype=INSTITUTIONAL,
        from_day=frm,
        to_day=to,
        bill=bill,
        rev=rev,
        proc=proc,
        units=to - frm + 1,
        dx=persons.dx[per],
        rendering=attending,
        billing=facility,
        source=SRC_STAY,
    )
    lines.claim = np.arange(n, dtype=np.int64)
    # Some claims carry an ancillary pharmacy line (revenue 0250: classifies to nothing).
    extra = np.flatnonzero(rng.random(n) < 0.3)
    anc = lines.take(extra)
    anc.level[:] = -1
    anc.rev[:] = R["0250"]
    anc.proc[:] = P[""]
    anc.units[:] = rng.integers(1, 6, extra.size)
    lines = Lines.concat([lines, anc])
    lines.unit_charge = _charges(lines.proc, lines.rev)
    return lines


def external_pro_lines(
    eps: Episodes, days: Days, persons: Persons, npis: Npis, rng: np.random.Generator
) -> Lines:
    """Per-day IOP and per-session OP lines billed by external groups (claims only)."""
    sel = np.flatnonzero(eps.external[days.ep] & days.attended)
    ep = days.ep[sel]
    per = eps.person[ep]
    lvl = eps.level[ep]
    day = days.day[sel]
    sud = persons.program_sud[per]
    proc = np.where(lvl == IOP, np.where(sud, P["H0015"], P["S9480"]), P["90834"])
    pos = np.where(lvl == IOP, np.where(sud, POS.index("57"), POS.index("53")), POS.index("11"))
    group = npis.ext_group0 + rng.integers(0, 4, persons.n)[per]
    lines = _lines(
        sel.size,
        person=per,
        level=lvl,
        ctype=PROFESSIONAL,
        from_day=day,
        to_day=day,
        pos=pos,
        proc=proc,
        mods=np.where(sud, MODIFIERS.index("HF"), 0),
        dx=persons.dx[per],
        rendering=npis.attending0 + rng.integers(0, 10, persons.n)[per],
        billing=group,
        source=SRC_EXT_PRO,
    )
    lines.unit_charge = _charges(lines.proc, lines.rev)
    lines.claim = _dense(per * 100_000 + week_number(day))
    return lines


def noise_lines(
    persons: Persons,
    per_member: int,
    npis: Npis,
    rng: np.random.Generator,
    start: int,
    end: int,
    dx_offset: int,
) -> Lines:
    """K lines per member with codes outside the level-of-care value set (one claim each)."""
    members = np.flatnonzero(persons.has_member)
    per = np.repeat(members, per_member)
    n = per.size
    day = rng.integers(start, end + 1, n)
    kind = rng.random(n)
    er = kind < 0.05
    lab = (kind >= 0.05) & (kind < 0.10)
    proc = np.array([P[c] for c in NOISE_PRO])[choice_codes(rng, NOISE_PRO_P, n)]
    proc = np.where(er, P["99284"], np.where(lab, P["80305"], proc))
    inst = er | lab
    lines = _lines(
        n,
        person=per,
        ctype=np.where(inst, INSTITUTIONAL, PROFESSIONAL),
        from_day=day,
        to_day=day,
        pos=np.where(inst, 0, POS.index("11")),
        bill=np.where(inst, BILL_TYPES.index("0131"), 0),
        rev=np.where(er, R["0450"], np.where(lab, R["0300"], R[""])),
        proc=proc,
        dx=dx_offset + rng.integers(0, len(NOISE_DX), n),
        rendering=npis.attending0 + rng.integers(0, 10, n),
        billing=np.where(
            inst, npis.hospital0 + rng.integers(0, 3, n), npis.clinic0 + rng.integers(0, 6, n)
        ),
        source=SRC_NOISE,
    )
    lines.unit_charge = _charges(lines.proc, lines.rev)
    lines.claim = np.arange(n, dtype=np.int64)
    return lines
