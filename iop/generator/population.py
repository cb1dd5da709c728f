"""Who is in the world: EHR clients (with their roster) and claims-only payer members.

One `Persons` table holds both kinds, EHR clients first (indices 0..n_ehr-1), so journeys,
sessions and claims are computed for everyone with the same vectorized code. Everything a person
keeps for life (vendor, payer, no-show propensity, weekday pattern, program type) is drawn here,
once, so that behaviour is client-specific rather than drawn afresh for every session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iop.generator.common import (
    COMMERCIAL,
    MEDICAID,
    MEDICARE,
    MEMBER_PREFIX,
    SELF_PAY,
    VENDOR_A,
    VENDOR_B,
    affine_ids,
    choice_codes,
)

FIRST_F = (
    "Maria",
    "Jennifer",
    "Linda",
    "Patricia",
    "Elizabeth",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Ashley",
    "Emily",
    "Michelle",
    "Amanda",
    "Melissa",
    "Stephanie",
    "Rebecca",
    "Laura",
    "Sharon",
    "Cynthia",
    "Kathleen",
    "Amy",
    "Angela",
    "Brenda",
    "Nicole",
    "Samantha",
    "Rosa",
    "Ana",
    "Guadalupe",
    "Keisha",
    "Aaliyah",
    "Mei",
    "Priya",
    "Fatima",
    "Siobhan",
)
FIRST_M = (
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Christopher",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Steven",
    "Andrew",
    "Joshua",
    "Kevin",
    "Brian",
    "Jose",
    "Luis",
    "Carlos",
    "Juan",
    "Jamal",
    "Darnell",
    "Tyrone",
    "Wei",
    "Raj",
    "Omar",
    "Sean",
    "Liam",
    "Noah",
    "Ethan",
    "Dmitri",
    "Kwame",
)
LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "O'Brien",
    "O'Neil",
    "Smith-Jones",
    "Kowalski",
    "Patel",
    "Chen",
    "Kim",
    "Begay",
    "Yazzie",
    "Kealoha",
)

SEX = ("F", "M", "X", "U")

# Race selections (SPD 15 spellings from docs/input_layouts.md), single and multiple; "" = blank.
RACE_VALUES = (
    "White",
    "Black or African American",
    "American Indian or Alaska Native",
    "Asian",
    "Native Hawaiian or Other Pacific Islander",
    "Middle Eastern or North African",
    "Other",
    "Unknown",
    "",
    "White|Black or African American",
    "White|American Indian or Alaska Native",
    "White|Asian",
    "Black or African American|American Indian or Alaska Native",
    "White|Other",
)
# Roughly the TEDS-D 2019 treatment mix (White 66%, Black 18%, AIAN 2.7%, Other 7%, missing
# 3.4%), with ~4% multiple selections and ~5% unknown/blank as the brief asks.
RACE_P = (0.60, 0.165, 0.025, 0.02, 0.005, 0.01, 0.075, 0.03, 0.02, 0.02, 0.01, 0.006, 0.004, 0.01)

ETHNICITY = ("Hispanic or Latino", "Not Hispanic or Latino", "Unknown", "")
ETHNICITY_P = (0.15, 0.77, 0.05, 0.03)

# Age bands at first admission (TEDS-D 2019 AGE shape, trimmed to 13-80).
AGE_BANDS = ((13, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 80))
AGE_P = (0.04, 0.11, 0.32, 0.25, 0.15, 0.10, 0.03)

# ZIP5s of one metro area (leading zeros on purpose: ZIP is text, not a number).
ZIPS = (
    "01701",
    "01702",
    "01752",
    "01760",
    "01801",
    "01840",
    "01841",
    "01843",
    "01850",
    "01851",
    "01852",
    "01854",
    "01902",
    "01904",
    "01905",
    "02108",
    "02109",
    "02115",
    "02116",
    "02118",
    "02119",
    "02120",
    "02121",
    "02122",
    "02124",
    "02125",
    "02126",
    "02127",
    "02128",
    "02130",
    "02131",
    "02132",
    "02134",
    "02135",
    "02136",
    "02138",
    "02139",
    "02140",
    "02141",
    "02143",
    "02144",
    "02145",
    "02148",
    "02149",
    "02150",
    "02151",
    "02152",
    "02155",
    "02169",
    "02170",
    "02171",
    "02184",
    "02186",
    "02301",
    "02302",
    "02360",
    "02740",
    "02744",
    "02745",
    "02746",
)

# Diagnoses (ICD-10-CM): principal by program type, optional secondary.
DX_SUD = ("F10.20", "F11.20", "F15.20", "F12.20", "F14.20", "F10.239")
DX_MH = ("F33.1", "F32.2", "F41.1", "F43.10", "F31.81", "F43.12", "F60.3", "F33.2")
DX_SECONDARY = ("", "F41.1", "F33.1", "F10.20", "F12.20", "F43.10")

# IOP weekday patterns (bit 0 = Monday): 3 or 4 days a week, client-specific.
IOP_MASKS = (
    0b0010101,  # Mon Wed Fri
    0b0001011,  # Mon Tue Thu
    0b0001110,  # Tue Wed Thu
    0b0001111,  # Mon-Thu
    0b0011110,  # Tue-Fri
    0b0010111,  # Mon Tue Wed Fri
)
PHP_MASK = 0b0011111  # Mon-Fri
CLINICIANS_PER_SITE = 15


def dx_vocab() -> list[str]:
    """All principal|secondary combinations; persons store an index into this list."""
    out = []
    for principal in DX_SUD + DX_MH:
        for secondary in DX_SECONDARY:
            out.append(
                principal if not secondary or secondary == principal else f"{principal}|{secondary}"
            )
    return out


@dataclass
class Persons:
    """Per-person attributes (EHR clients first, then claims-only members)."""

    n_ehr: int
    n: int
    is_ehr: np.ndarray
    vendor: np.ndarray  # VENDOR_A / VENDOR_B, -1 for claims-only members
    site: np.ndarray  # index into SITES, -1 for claims-only members
    client_num: np.ndarray  # numeric part of the EHR client id
    payer: np.ndarray
    has_member: np.ndarray
    member_num: np.ndarray
    program_sud: np.ndarray  # substance-use program (H0015) vs mental health (S9480)
    age: np.ndarray  # at the anchor date
    anchor: np.ndarray  # first EHR (or, for members, first) admission, before snapping
    birth_day: np.ndarray
    sex: np.ndarray
    race: np.ndarray
    ethnicity: np.ndarray
    zip: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    noshow_p: np.ndarray
    iop_mask: np.ndarray
    op_weekday: np.ndarray
    iop_start_min: np.ndarray
    op_start_min: np.ndarray
    op_kind: np.ndarray  # 0: individual 45 min, 1: individual 60 min, 2: group 90 min
    op_pos_53: np.ndarray  # OP place of service 53 (CMHC) instead of 11 (office)
    iop_pos_53: np.ndarray  # mental-health IOP billed at POS 53 (else 57 is SUD)
    dx: np.ndarray
    clinician: np.ndarray  # primary clinician (global clinician index)

    def slice(self, lo: int, hi: int) -> Persons:
        """Persons lo..hi-1 as a table of their own (local indices 0..hi-lo-1)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value[lo:hi] if isinstance(value, np.ndarray) else value
        out["n"] = hi - lo
        out["n_ehr"] = int(self.is_ehr[lo:hi].sum())
        return Persons(**out)

    def client_ids(self) -> np.ndarray:
        """'A0001234' (vendor A) / 'B-004321' (vendor B); '' for claims-only members."""
        out = np.full(self.n, "", dtype=object)
        for vendor, fmt in ((VENDOR_A, "A{:07d}"), (VENDOR_B, "B-{:06d}")):
            idx = np.flatnonzero(self.vendor == vendor)
            out[idx] = [fmt.format(int(v)) for v in self.client_num[idx]]
        return out

    def member_ids(self) -> np.ndarray:
        """'MCD123456789' etc.; '' where the person has no member id."""
        out = np.full(self.n, "", dtype=object)
        idx = np.flatnonzero(self.has_member)
        prefix = np.array(MEMBER_PREFIX, dtype=object)[self.payer[idx]]
        out[idx] = [f"{p}{int(v):09d}" for p, v in zip(prefix, self.member_num[idx], strict=True)]
        return out

    def person_ids(self) -> np.ndarray:
        """Truth person ids: client:<client_id> or member:<payer>:<member_id>."""
        from iop.generator.common import PAYERS

        cids = self.client_ids()
        mids = self.member_ids()
        payer = np.array(PAYERS, dtype=object)[self.payer]
        out = np.empty(self.n, dtype=object)
        out[: self.n_ehr] = ["client:" + c for c in cids[: self.n_ehr]]
        out[self.n_ehr :] = [
            f"member:{p}:{m}" for p, m in zip(payer[self.n_ehr :], mids[self.n_ehr :], strict=True)
        ]
        return out


def make_persons(
    rng: np.random.Generator, clients: int, members: int, start: int, end: int
) -> Persons:
    n = clients + members
    is_ehr = np.arange(n) < clients

    # Vendor A ~60% (two sites), vendor B ~40% (one site); members belong to no EHR.
    vendor = np.where(rng.random(n) < 0.60, VENDOR_A, VENDOR_B).astype(np.int8)
    site = np.where(vendor == VENDOR_A, np.where(rng.random(n) < 0.55, 0, 1), 2).astype(np.int8)
    vendor[~is_ehr] = -1
    site[~is_ehr] = -1
    client_num = np.zeros(n, dtype=np.int64)
    for v, modulus in ((VENDOR_A, 10**7), (VENDOR_B, 10**6)):
        idx = np.flatnonzero(vendor == v)
        client_num[idx] = affine_ids(idx.size, modulus, rng)

    band = choice_codes(rng, AGE_P, n)
    lo = np.array([b[0] for b in AGE_BANDS])[band]
    hi = np.array([b[1] for b in AGE_BANDS])[band]
    age = rng.integers(lo, hi + 1).astype(np.int16)

    # Payer: Medicare mostly for 65+; overall ~55/30/8/7 Medicaid/Commercial/Medicare/Self-pay.
    payer_young = choice_codes(
        rng, {MEDICAID: 0.57, COMMERCIAL: 0.31, MEDICARE: 0.056, SELF_PAY: 0.064}, n
    )
    payer_old = choice_codes(
        rng, {MEDICARE: 0.75, COMMERCIAL: 0.12, MEDICAID: 0.08, SELF_PAY: 0.05}, n
    )
    payer = np.where(age >= 65, payer_old, payer_young).astype(np.int8)
    # Claims-only members are, by definition, members of a payer.
    payer[~is_ehr] = choice_codes(rng, {MEDICAID: 0.6, COMMERCIAL: 0.32, MEDICARE: 0.08}, members)
    has_member = (payer != SELF_PAY) & ((rng.random(n) >= 0.05) | ~is_ehr)
    member_num = affine_ids(n, 10**9, rng)

    program_sud = rng.random(n) < 0.5
    # The anchor (first admission) is spread over the window; birth date follows from age.
    anchor = rng.integers(start, end - 6, size=n)
    birth_day = anchor - (age.astype(np.int64) * 36525) // 100 - rng.integers(0, 365, size=n)

    p_male = np.where(program_sud, 0.62, 0.42)
    u = rng.random(n)
    sex = np.where(u < 0.01, 3, np.where(u < 0.02, 2, np.where(rng.random(n) < p_male, 1, 0)))
    female = sex == 0
    first_f = rng.integers(0, len(FIRST_F), n)
    first_m = rng.integers(0, len(FIRST_M), n)
    first_any = rng.random(n) < 0.5
    first_name = np.where(
        female | ((sex >= 2) & first_any), first_f, first_m + len(FIRST_F)
    ).astype(np.int16)

    # Client-specific no-show propensity: Beta(1.5, 11) has mean ~0.12 and a long right tail.
    noshow_p = rng.beta(1.5, 11.0, size=n).astype(np.float32)
    clinician = (site.astype(np.int64) * CLINICIANS_PER_SITE) + rng.integers(
        0, CLINICIANS_PER_SITE, n
    )
    return Persons(
        n_ehr=clients,
        n=n,
        is_ehr=is_ehr,
        vendor=vendor,
        site=site,
        client_num=client_num,
        payer=payer,
        has_member=has_member,
        member_num=member_num,
        program_sud=program_sud,
        age=age,
        anchor=anchor.astype(np.int64),
        birth_day=birth_day.astype(np.int64),
        sex=sex.astype(np.int8),
        race=choice_codes(rng, RACE_P, n).astype(np.int8),
        ethnicity=choice_codes(rng, ETHNICITY_P, n).astype(np.int8),
        zip=rng.integers(0, len(ZIPS), n).astype(np.int16),
        first_name=first_name,
        last_name=rng.integers(0, len(LAST), n).astype(np.int16),
        noshow_p=noshow_p,
        iop_mask=np.array(IOP_MASKS, dtype=np.int64)[rng.integers(0, len(IOP_MASKS), n)],
        op_weekday=rng.integers(0, 5, n).astype(np.int64),
        iop_start_min=np.where(rng.random(n) < 0.65, 9 * 60, 17 * 60 + 30).astype(np.int64),
        op_start_min=(rng.integers(8, 18, n) * 60 + rng.choice([0, 30], n)).astype(np.int64),
        op_kind=choice_codes(rng, [0.5, 0.3, 0.2], n).astype(np.int8),
        op_pos_53=rng.random(n) < 0.4,
        iop_pos_53=~program_sud,
        dx=(
            np.where(
                program_sud,
                rng.integers(0, len(DX_SUD), n),
                len(DX_SUD) + rng.integers(0, len(DX_MH), n),
            )
            * len(DX_SECONDARY)
            + np.where(rng.random(n) < 0.6, 0, rng.integers(1, len(DX_SECONDARY), n))
        ).astype(np.int16),
        clinician=clinician.astype(np.int64),
    )


def first_names() -> tuple[str, ...]:
    return FIRST_F + FIRST_M
