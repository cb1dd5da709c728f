"""National reference figures the report shows beside the pipeline's own (TEDS-D).

Sources (see ../shared/DOMAIN.md and ../shared/data/SOURCES.md):

* `TEDS_D_2019_LOS`: SAMHSA, Treatment Episode Data Set - Discharges (TEDS-D) 2019, codebook
  frequencies of `LOS` (length of stay in treatment) over all 1,722,503 discharges of every
  service setting (the codebook gives no split by setting). Codes 1-30 are days; 31 = 31-45,
  32 = 46-60, 33 = 61-90, 34 = 91-120, 35 = 121-180, 36 = 181-365, 37 = more than a year.
  File: TEDS-D-2019-DS0001-info-codebook_V1_codes.csv (kabellhart/teds-processing, CC0).
* `TEDS_D_2004_IOP`: TEDS-D 2004, publicly funded SUD treatment, tables 2.5, 3.4 and 4.11:
  intensive outpatient discharges (n = 114,440): median length of stay and discharge reasons.
"""

from __future__ import annotations

TEDS_D_2019_LOS_SOURCE = (
    "SAMHSA TEDS-D 2019 codebook, LOS frequencies of all 1,722,503 discharges (every setting)"
)
TEDS_D_2019_LOS: dict[int, int] = {
    1: 260581, 2: 76837, 3: 64662, 4: 59844, 5: 56538, 6: 37461, 7: 33615, 8: 25518,
    9: 17296, 10: 15080, 11: 12884, 12: 12658, 13: 16679, 14: 26575, 15: 19530, 16: 12327,
    17: 10605, 18: 9559, 19: 9855, 20: 12734, 21: 18222, 22: 15384, 23: 10351, 24: 9122,
    25: 8550, 26: 9299, 27: 14217, 28: 26155, 29: 19057, 30: 13464, 31: 111830, 32: 84332,
    33: 140555, 34: 114387, 35: 114266, 36: 128974, 37: 93500,
}  # fmt: skip

TEDS_D_2004_IOP_SOURCE = (
    "SAMHSA TEDS-D 2004, publicly funded SUD treatment, intensive outpatient discharges "
    "(n = 114,440), tables 2.5, 3.4, 4.11"
)
TEDS_D_2004_IOP = {
    "median_los_days": 41,
    "median_los_completers_days": 50,
    "median_los_dropouts_days": 26,
    "completed": 0.377,
    "transferred": 0.179,
    "dropped_out": 0.232,
    "terminated": 0.140,
    "other": 0.072,
}
TEDS_D_2004_OP_MEDIAN_LOS_DAYS = 69  # non-intensive outpatient, same source

# The report's bins: TEDS-D LOS codes grouped (days 1-30 in three bins, then the TEDS-D bands).
LOS_BINS: tuple[tuple[str, int, int], ...] = (
    ("1-7 d", 1, 7),
    ("8-14 d", 8, 14),
    ("15-30 d", 15, 30),
    ("31-45 d", 31, 31),
    ("46-60 d", 32, 32),
    ("61-90 d", 33, 33),
    ("91-120 d", 34, 34),
    ("121-180 d", 35, 35),
    ("181-365 d", 36, 36),
    ("> 1 year", 37, 37),
)


def bin_of(teds_los: int) -> str:
    """The report bin of a TEDS-D LOS code (1-37)."""
    for label, low, high in LOS_BINS:
        if low <= teds_los <= high:
            return label
    raise ValueError(f"not a TEDS-D LOS code: {teds_los!r}")


def national_los_shares() -> dict[str, float]:
    """Share of TEDS-D 2019 discharges in each report bin."""
    total = sum(TEDS_D_2019_LOS.values())
    shares = dict.fromkeys((label for label, _, _ in LOS_BINS), 0.0)
    for code, n in TEDS_D_2019_LOS.items():
        shares[bin_of(code)] += n / total
    return shares
