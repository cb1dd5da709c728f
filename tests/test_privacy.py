"""De-identification: no direct identifier reaches the published marts, the run's logs or its
Dagster metadata, and person keys are keyed HMAC-SHA256 pseudonyms.

DESIGN.md (Privacy): "Marts are de-identified: person keys are keyed hashes (HMAC with a secret
from the environment) ... Logs and Dagster metadata previews never show names, dates of birth or
member ids." DOMAIN.md: HIPAA Safe Harbor (the 18 identifiers removed).
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import builders as b
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import TEST_KEY, query

CLIENTS = 300
SEED = 20251128
PROJECT = Path(__file__).resolve().parents[1]
PIPELINE_LOGGERS = ("iop", "assets", "pipelines", "dagster")


# --------------------------------------------------------------------------------------------
# The identifiers the generator planted, and how they are matched
# --------------------------------------------------------------------------------------------


def _landing(data_dir: Path, feed: str) -> pd.DataFrame:
    files = sorted(glob.glob(str(data_dir / "landing" / feed / "*.csv")))
    return pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True
    )


def _birth_date_forms(text: str) -> set[str]:
    """As delivered, ISO, MM/DD/YYYY, M/D/YYYY and Python's date(y, m, d) argument list."""
    forms = {text}
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return forms
    return forms | {
        d.isoformat(),
        d.strftime("%m/%d/%Y"),
        f"{d.month}/{d.day}/{d.year}",
        f"{d.year}, {d.month}, {d.day}",
    }


def _seed_vocabulary() -> set[str]:
    """Words of the pipeline's own fixed text: its controlled vocabularies (sql/seeds/*.csv:
    race and ethnicity labels, levels, reasons) and its data dictionary (sql/marts/*.yml). A
    generated surname can be one of them: 'White' (OMB category), 'Wilson' (score interval)."""
    words = set()
    paths = [*(PROJECT / "sql" / "seeds").glob("*.csv"), *(PROJECT / "sql" / "marts").glob("*.yml")]
    for path in paths:
        words |= {w.lower() for w in re.findall(r"[A-Za-z]+", path.read_text())}
    return words


@dataclass
class Identifiers:
    """Matching rule. Every identifier is searched case-insensitively as a whole token:

    * text is cut into tokens, the maximal runs of letters and digits; a name, client id / MRN,
      member id or ZIP code matches a whole token (or two tokens joined by one space or hyphen:
      'Maria Lopez', 'B-004321'), never part of one, and a ZIP never a token inside a decimal
      number. So '01840' is found in 'zip 01840', '01840-1234' or 'x,01840,' but not in the hex
      pseudonym '3fa01840bc...', the float '0.01840', the id 'A0001840' or a run id; without
      this a 5-digit ZIP would turn up by chance in 64-character hashes and UUIDs, and 'Lee'
      inside 'Leeds';
    * birth dates (ISO, MM/DD/YYYY, M/D/YYYY, 'YYYY, M, D') must not touch a digit on either
      side (letters may follow: an ISO '1990-05-01T00:00:00' timestamp still counts);
    * a first or last name that is also a word of the pipeline's own category vocabularies
      (the surname 'White' = the OMB category 'White') is searched only as part of the full
      name 'First Last'; every full name is searched too.
    """

    names: set[str]
    full_names: set[str]
    ids: set[str]
    dates: set[str]

    @classmethod
    def from_landing(cls, data_dir: Path) -> Identifiers:
        roster = _landing(data_dir, "roster")
        claims = _landing(data_dir, "claims")
        attendance = _landing(data_dir, "attendance")
        census = _landing(data_dir, "census")
        vocabulary = _seed_vocabulary()
        names = {n.strip() for n in pd.concat([roster.first_name, roster.last_name]) if n.strip()}
        full = {
            f"{first.strip()} {last.strip()}"
            for first, last in zip(roster.first_name, roster.last_name, strict=True)
            if first.strip() and last.strip()
        }
        ids = (
            set(roster.client_id) | set(roster.member_id) | set(claims.member_id) | set(roster.zip)
        )
        for frame, column in ((attendance, "MRN"), (attendance, "client_id"), (census, "MRN")):
            if column in frame:
                ids |= set(frame[column].dropna())
        dates = set().union(*(_birth_date_forms(d.strip()) for d in roster.birth_date if d.strip()))
        return cls(
            names={n for n in names if n.lower() not in vocabulary},
            full_names=full,
            ids={i.strip() for i in ids if i.strip()},
            dates={d for d in dates if d},
        )

    def __post_init__(self) -> None:
        self._words = {v.lower() for v in self.names | self.full_names | self.ids}
        self._dates = set(self.dates)

    def find(self, text: str) -> list[str]:
        hits = []
        tokens = list(_TOKEN.finditer(text))
        for i, token in enumerate(tokens):
            start, end = token.span()
            in_decimal = (start >= 2 and text[start - 1] == "." and text[start - 2].isdigit()) or (
                end + 1 < len(text) and text[end] == "." and text[end + 1].isdigit()
            )
            if token.group().lower() in self._words and not in_decimal:
                hits.append(token.group())
            if i + 1 < len(tokens):
                # two tokens joined by one space or hyphen: 'First Last', 'B-300975'
                joined = text[start : tokens[i + 1].end()]
                if (
                    text[end : tokens[i + 1].start()] in (" ", "-")
                    and joined.lower() in self._words
                ):
                    hits.append(joined)
        hits += [m.group(0) for m in _DATE.finditer(text) if m.group(0) in self._dates]
        return hits


_TOKEN = re.compile(r"[A-Za-z0-9]+")
_DATE = re.compile(
    r"(?<![0-9])(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}"
    r"|[0-9]{4}, [0-9]{1,2}, [0-9]{1,2})(?![0-9])"
)


class Findings:
    def __init__(self, identifiers: Identifiers):
        self.identifiers = identifiers
        self.hits: list[str] = []
        self.scanned = 0

    def scan(self, where: str, value) -> None:
        if value is None:
            return
        text = str(value)
        self.scanned += 1
        for hit in self.identifiers.find(text):
            self.hits.append(f"{where}: {hit!r} in {text[:160]!r}")

    def report(self, place: str) -> str:
        return f"{len(self.hits)} identifier(s) in {place}:\n  " + "\n  ".join(self.hits[:30])


def test_matching_rule_finds_identifiers_and_ignores_hash_fragments():
    ids = Identifiers(
        names={"Daniel", "Kealoha"},
        full_names={"Marcus White"},
        ids={"01840", "A0007618", "MCD246701906", "B-300975"},
        dates=_birth_date_forms("1997-12-21"),
    )
    for text in (
        "name=Daniel",
        "KEALOHA",
        "Marcus White",
        "zip 01840",
        "01840-1234",
        "client:A0007618",
        "member:Medicaid:MCD246701906",
        "B-300975:3",
        "dob 12/21/1997",
        "1997-12-21T00:00:00",
        "datetime.date(1997, 12, 21)",
        "born 12/21/1997.",
    ):
        assert ids.find(text), text
    for column in (
        "first_name",
        "last_name",
        "birth_date",
        "birth_year",
        "dob",
        "member_id",
        "mrn",
        "client_id",
        "zip",
        "zip3",
        "person_id",
    ):
        assert IDENTIFYING_COLUMN.search(column), column
    for column in (
        "person_key",
        "attended_no_member_id_days",
        "dimension_value",
        "age_band",
        "payer",
        "episode_key",
        "period",
    ):
        assert not IDENTIFYING_COLUMN.search(column), column
    for text in (
        "3fa01840bc9e",
        "0.01840",
        "A0001840",
        "101840",
        "Danielle",
        "White",
        "B-3009751",
        "21997-12-210",
        "rows: 1840",
    ):
        assert not ids.find(text), text


# --------------------------------------------------------------------------------------------
# 300 generated clients, one run: marts, Parquet, event log, Python logging, metadata
# --------------------------------------------------------------------------------------------


def _error_texts(error) -> list[str]:
    texts = []
    while error is not None:
        texts.append(f"{error.cls_name}: {error.message}\n{''.join(error.stack or [])}")
        error = error.cause or getattr(error, "context", None)
    return texts


def _metadata_texts(metadata: dict) -> list[tuple[str, str]]:
    out = []
    for name, value in (metadata or {}).items():
        out.append((name, str(name)))
        raw = getattr(value, "value", value)
        out.append((name, repr(raw)))
        out.append((name, str(raw)))
    return out


def test_no_identifier_in_marts_parquet_logs_or_metadata(data_dir, caplog, capfd):
    from dagster import DagsterEventType, DagsterInstance, serialize_value

    from iop.generator import generate
    from iop.runner import run_full_refresh

    generate(data_dir, clients=CLIENTS, seed=SEED)
    identifiers = Identifiers.from_landing(data_dir)
    assert len(identifiers.full_names) > 100 and len(identifiers.ids) > 300
    # positive control: the scanner does find the generator's identifiers where they are
    roster_text = "".join(p.read_text() for p in (data_dir / "landing" / "roster").glob("*.csv"))
    assert len(identifiers.find(roster_text)) > 5 * len(identifiers.full_names)
    caplog.set_level(logging.DEBUG)
    for name in PIPELINE_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    instance = DagsterInstance.ephemeral()
    result = run_full_refresh(instance=instance, log_level="DEBUG")
    assert result.success
    failures = []

    # (a) every value of every column of every table of the published marts.duckdb, with the
    # table and column names and their comments
    marts = Findings(identifiers)
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        assert {
            "episodes",
            "demographic_utilization",
            "length_of_stay_by_level",
            "step_down_transitions_overall",
            "continuity_of_care_by_program",
        } <= set(tables)
        for table in tables:
            frame = con.execute(f'select * from "{table}"').df()
            for column in frame.columns:
                for value in frame[column].dropna().astype(str).unique():
                    marts.scan(f"marts.duckdb {table}.{column}", value)
        for row in con.execute("select table_name, comment from duckdb_tables()").fetchall():
            marts.scan("marts.duckdb table comment", row)
        for row in con.execute(
            "select table_name, column_name, comment from duckdb_columns()"
        ).fetchall():
            marts.scan("marts.duckdb column/comment", row)
    finally:
        con.close()
    assert marts.scanned > 1000
    if marts.hits:
        failures.append(marts.report("the published marts.duckdb"))

    parquet = Findings(identifiers)
    files = sorted((data_dir / "marts").glob("*.parquet"))
    assert {f.stem for f in files} >= {"episodes", "demographic_utilization"}
    for path in files:
        table = pq.read_table(path)
        parquet.scan(f"{path.name} schema", table.schema.to_string())
        for key, value in (table.schema.metadata or {}).items():
            parquet.scan(f"{path.name} key-value metadata", key + b"=" + value)
        frame = table.to_pandas()
        for column in frame.columns:
            for value in frame[column].dropna().astype(str).unique():
                parquet.scan(f"{path.name} {column}", value)
    if parquet.hits:
        failures.append(parquet.report("the Parquet copies"))

    # (b) log text: every event-log entry's message (Dagster events and context.log lines),
    # errors with their causes, Python logging (caplog, DEBUG and up) and the console output
    entries = instance.all_logs(result.run_id)
    assert len(entries) > 100
    logs = Findings(identifiers)
    for entry in entries:
        logs.scan(f"event log [{entry.step_key}] message", entry.user_message)
        event = entry.dagster_event
        if event is not None:
            logs.scan(f"event log [{entry.step_key}] {event.event_type_value}", event.message)
            for text in _error_texts(getattr(event.event_specific_data, "error", None)):
                logs.scan(f"event log [{entry.step_key}] error", text)
    for record in caplog.records:
        logs.scan(f"python logging {record.name}", record.getMessage())
        if record.exc_text:
            logs.scan(f"python logging {record.name} traceback", record.exc_text)
    out, err = capfd.readouterr()
    logs.scan("captured stdout", out)
    logs.scan("captured stderr", err)
    if logs.hits:
        failures.append(logs.report("the run's logs"))

    # (c) Dagster metadata of every materialization and asset-check evaluation (and, as a net,
    # the whole serialized event log: descriptions, tags, any other metadata)
    metadata = Findings(identifiers)
    materializations = checks = 0
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materializations += 1
            for name, text in _metadata_texts(data.materialization.metadata):
                metadata.scan(f"materialization {event.asset_key.to_user_string()} {name}", text)
            metadata.scan("materialization description", data.materialization.description)
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            checks += 1
            for name, text in _metadata_texts(data.metadata):
                metadata.scan(
                    f"check {data.asset_key.to_user_string()}:{data.check_name} {name}", text
                )
            metadata.scan("check description", data.description)
        metadata.scan(f"serialized {event.event_type_value}", serialize_value(entry))
    assert materializations > 10 and checks > 10
    if metadata.hits:
        failures.append(metadata.report("Dagster metadata"))

    # no published column is named after a direct identifier
    offending = {
        t: [c for c in cols if IDENTIFYING_COLUMN.search(c)]
        for t, cols in _mart_columns(data_dir).items()
    }
    if any(offending.values()):
        failures.append(f"identifier-named columns: { {t: c for t, c in offending.items() if c} }")

    assert not failures, "\n".join(failures)


# A column that holds an identifier: named after one (first_name, birth_date, member_id, zip...),
# not a count that mentions one (reconciliation_program_month.attended_no_member_id_days).
IDENTIFYING_COLUMN = re.compile(
    r"^(?:birth|dob|zip|mrn|ssn)|(?:^|_)(?:name|first_name|last_name|birth_date|date_of_birth|dob|"
    r"member|member_id|mrn|client_id|zip|zip5|zip_code|zipcode|person_id|phone|email|address)$",
    re.IGNORECASE,
)


def _mart_columns(data_dir: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main' and table_name <> '_publication'"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    for path in (data_dir / "marts").glob("*.parquet"):
        columns[f"{path.name}"] = pq.read_schema(path).names
    return columns


# --------------------------------------------------------------------------------------------
# Pseudonyms: a small hand-built world
# --------------------------------------------------------------------------------------------

MONDAY = date(2025, 1, 6)


def _small_world(data_dir: Path) -> None:
    landing = data_dir / "landing"
    rows = b.vendor_b_sessions("B-000001", "IOP", b.days(MONDAY, 0, 2, 4))
    rows += b.vendor_b_sessions("B-000002", "PHP", b.days(MONDAY, 0, 1))
    rows += b.vendor_b_sessions("B-000003", "OP", b.days(MONDAY, 60))
    b.write_csv(landing / "attendance/w.csv", "attendance_vendor_b", rows)
    b.write_csv(
        landing / "roster/r.csv",
        "roster_standard",
        [
            b.roster_row(
                "B-000001",
                "MCD0001",
                first_name="Rosa",
                last_name="Kealoha",
                birth_date="1961-03-09",
                zip="01840",
            ),
            b.roster_row("B-000002", "", payer="Self-pay"),
            b.roster_row("B-000003", "MCD0003"),
        ],
    )
    # a member no roster client links to: a claims-only person (member:Medicare:MCR0009)
    b.write_csv(
        landing / "claims/c.csv",
        "claims_csv",
        [
            b.claim_line("K1", "MCD0001", MONDAY),
            b.claim_line("K2", "MCR0009", MONDAY, procedure="S9480", payer="Medicare"),
        ],
    )


def _hmac(key: str, person_id: str) -> str:
    return hmac.new(key.encode(), person_id.encode(), hashlib.sha256).hexdigest()


def _published_person_keys(data_dir: Path) -> set[str]:
    con = duckdb.connect(str(data_dir / "marts.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("select distinct person_key from episodes").fetchall()}
    finally:
        con.close()


def test_person_key_is_hmac_sha256_of_person_id_and_changes_with_the_key(data_dir, monkeypatch):
    from iop.runner import run_full_refresh

    _small_world(data_dir)
    assert run_full_refresh().success
    first = dict(query(data_dir, "select person_id, person_key from core.persons"))
    assert set(first) >= {
        "client:B-000001",
        "client:B-000002",
        "client:B-000003",
        "member:Medicare:MCR0009",
    }
    for person_id, key in first.items():
        assert re.fullmatch(r"[0-9a-f]{64}", key), key
        assert key == _hmac(TEST_KEY, person_id), person_id
    published = _published_person_keys(data_dir)
    assert published and published <= set(first.values())
    assert _hmac(TEST_KEY, "member:Medicare:MCR0009") in published

    # another key is refused before anything runs: person keys of two keys never mix
    from iop.keys import PseudonymKeyChanged, main

    other_key = "another-secret-of-the-same-site-0123456789"
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", other_key)
    with pytest.raises(PseudonymKeyChanged, match="run `iop-rekey`"):
        run_full_refresh()
    assert dict(query(data_dir, "select person_id, person_key from core.persons")) == first
    # ... until the operator re-keys on purpose: everything is rebuilt with the new key
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    assert main(["rekey"]) == 0
    second = dict(query(data_dir, "select person_id, person_key from core.persons"))
    assert set(second) == set(first)
    for person_id, key in second.items():
        assert key == _hmac(other_key, person_id) != first[person_id], person_id
    assert _published_person_keys(data_dir) <= set(second.values())
    assert not _published_person_keys(data_dir) & set(first.values())
    assert run_full_refresh().success  # the new key is now the warehouse's


def test_marts_are_not_built_without_a_key_and_the_error_names_the_variable(data_dir, monkeypatch):

    from iop.runner import run_full_refresh
    from iop.settings import MissingPseudonymKey, pseudonym_key

    monkeypatch.delenv("IOP_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("IOP_DEMO", raising=False)
    with pytest.raises(MissingPseudonymKey, match="IOP_PSEUDONYM_KEY is not set"):
        pseudonym_key()
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", "")
    with pytest.raises(MissingPseudonymKey, match="IOP_PSEUDONYM_KEY is not set"):
        pseudonym_key()
    monkeypatch.delenv("IOP_PSEUDONYM_KEY")

    _small_world(data_dir)
    # the run refuses to start: nothing is ingested, pseudonymized with a fallback or published
    with pytest.raises(MissingPseudonymKey, match="IOP_PSEUDONYM_KEY is not set"):
        run_full_refresh(raise_on_error=False)
    assert not (data_dir / "raw").exists()
    assert not (data_dir / "marts.duckdb").exists()
