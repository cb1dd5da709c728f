"""Bad rows: extra rows with exactly one defect, inserted at random positions into the files.

A bad row is a copy of a random real row of the same file with one field broken according to a
quarantine rule of docs/input_layouts.md. Copying a real row keeps every other field valid, so
the row breaks only its own rule (and no earlier rule in the quarantine order); being a copy, it
would not add a new service day even if it were wrongly accepted. Bad claim lines also get a
fresh claim id (never part of a real claim chain). Real rows are never modified.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from iop.generator.writers import Extras, Frame

MISSING = None  # renders as an empty field

BAD_MDY = ["13/45/2025", "N/A", "02/30/2025", "2025-03-14"]
BAD_ISO = ["2025-13-45", "N/A", "2025-02-30", "03/14/2025"]
BAD_MINUTES = ["-30", "0", "abc", MISSING, "12.5"]

# layout -> rule -> (column, candidate values); None where the value is computed from the row.
RULES: dict[str, dict[str, tuple[str, list | None]]] = {
    "attendance_vendor_a": {
        "missing_client_id": ("MRN", [MISSING]),
        "invalid_date": ("Session Date", BAD_MDY),
        "unknown_level_of_care": ("Level of Care", ["IOP2", "Level 2", "HOP"]),
        "unknown_status": ("Attendance", ["Maybe", "?", "TBD"]),
        "invalid_minutes": ("Minutes", BAD_MINUTES),
    },
    "attendance_vendor_b": {
        "missing_client_id": ("client_id", [MISSING]),
        "invalid_date": ("service_date", BAD_ISO),
        "unknown_level_of_care": ("asam_level", ["3.3", "2.7", "9", "2.1.1"]),
        "unknown_status": ("attendance_code", ["MAYBE", "?", "X"]),
        "invalid_minutes": ("duration_min", BAD_MINUTES),
    },
    "census_vendor_a": {
        "missing_client_id": ("MRN", [MISSING]),
        "invalid_date": ("Admit Date", BAD_MDY),
        "unknown_level_of_care": ("Level of Care", ["IOP2", "Level 2", "HOP"]),
        "invalid_date_range": ("Discharge Date", None),
    },
    "roster": {
        "missing_client_id": ("client_id", [MISSING]),
        "invalid_date": ("birth_date", ["1987-02-30", "N/A", "13/45/1987", "1987-13-01"]),
    },
    "claims_csv": {
        "missing_member_id": ("member_id", [MISSING]),
        "invalid_date": ("service_from_date", BAD_ISO),
        "invalid_frequency_code": ("claim_frequency_code", ["5", "0", "2", "9"]),
        "invalid_date_range": ("service_to_date", None),
    },
}


def _iso_days(arr: pa.Array) -> np.ndarray:
    return np.array(arr.to_pylist(), dtype="datetime64[D]").astype(np.int64)


def _mdy_to_days(arr: pa.Array) -> np.ndarray:
    y = pc.utf8_slice_codeunits(arr, 6, 10)
    m = pc.utf8_slice_codeunits(arr, 0, 2)
    d = pc.utf8_slice_codeunits(arr, 3, 5)
    return _iso_days(pc.binary_join_element_wise(y, m, d, "-"))


def _days_to(days: np.ndarray, mdy: bool) -> list[str]:
    iso = np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    if not mdy:
        return iso.tolist()
    return [f"{s[5:7]}/{s[8:10]}/{s[0:4]}" for s in iso]


def plant_bad_rows(
    frame: Frame, rate: float, rng: np.random.Generator, next_claim_no: int = 0
) -> Extras:
    """Choose templates, positions and one defect per bad row for one frame."""
    rules = RULES[frame.layout]
    names = list(rules)
    n = frame.n
    nb = int(rng.binomial(n, rate)) if n and rate > 0 else 0
    template = np.sort(rng.integers(0, n, nb)) if nb else np.zeros(0, np.int64)
    file = frame.row_file[template]
    counts = np.bincount(frame.row_file, minlength=len(frame.file_names))
    offset = (rng.random(nb) * (counts[file] + 1)).astype(np.int64)
    rule_idx = rng.integers(0, len(names), nb)
    rule = np.array(names, dtype=object)[rule_idx] if nb else np.zeros(0, object)
    over: dict[str, tuple[list, list]] = {}

    def put(col: str, which: np.ndarray, values: list) -> None:
        idx, vals = over.setdefault(col, ([], []))
        idx.extend(which.tolist())
        vals.extend(values)

    for r, name in enumerate(names):
        which = np.flatnonzero(rule_idx == r)
        if which.size == 0:
            continue
        col, candidates = rules[name]
        if candidates is not None:
            pick = rng.integers(0, len(candidates), which.size)
            put(col, which, [candidates[i] for i in pick])
            continue
        rendered = frame.render(template[which])
        cidx = {c: i for i, c in enumerate(frame.columns)}
        back = rng.integers(1, 11, which.size)
        if frame.layout == "claims_csv":
            frm = _iso_days(rendered[cidx["service_from_date"]])
            put("service_to_date", which, _days_to(frm - back, mdy=False))
        else:  # census: discharged before admitted; a reason goes with a discharge date
            admit = _mdy_to_days(rendered[cidx["Admit Date"]])
            put("Discharge Date", which, _days_to(admit - back, mdy=True))
            reason = rendered[cidx["Discharge Reason"]].to_pylist()
            put("Discharge Reason", which, [x or "Completed Treatment" for x in reason])

    if frame.layout == "claims_csv" and nb:
        # Fresh claim ids: a bad line never joins a real claim's chain.
        everyone = np.arange(nb)
        put("claim_id", everyone, [f"CLM{next_claim_no + i:09d}" for i in range(nb)])
        put("original_claim_id", everyone, [MISSING] * nb)
        put("line_number", everyone, ["1"] * nb)
        ok_freq = everyone[rule != "invalid_frequency_code"]
        put("claim_frequency_code", ok_freq, ["1"] * ok_freq.size)

    overrides = {col: (np.asarray(i, np.int64), v) for col, (i, v) in over.items()}
    return Extras(template=template, file=file, offset=offset, rule=rule, overrides=overrides)
