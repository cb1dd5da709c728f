"""The pipeline's configuration, declared once: a Dagster resource read from the environment.

Every setting is a field of `IopSettings` with its environment variable beside it (documented in
`.env.example`). Dagster gets the resource from `IopSettings.from_env()` with `EnvVar`s, so the UI
shows variable names, never the secret; the dbt project gets the rule parameters as dbt vars
(`dbt_vars`) and reads the paths from the same variables in `profiles.yml`.

Everything the pipeline writes lives under `IOP_DATA_DIR` (default `./data`):

    landing/<feed>/        files dropped by EHR and payer feeds (attendance, roster, census, claims)
    raw/<layout>/<sha>.parquet   one immutable Parquet file per landed file, named by content hash
    warehouse.duckdb       the working database (staging, audit, core, intermediate, marts schemas)
    marts.duckdb           the published, read-only marts (swapped in atomically)
    marts/<mart>.parquet   Parquet copies of the published marts
    reports/               the outcomes report (outcomes_<as_of>.html, latest.html)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar

FEEDS = ("attendance", "roster", "census", "claims")

# A fixed key only for the generated demo data; real runs must set IOP_PSEUDONYM_KEY. It is public
# (it is in the repository), so person keys made with it can be reversed by enumerating ids: it is
# accepted only in demo mode (IOP_DEMO=1, or a data folder the generator made, DEMO_MARKER).
DEMO_PSEUDONYM_KEY = "iop-demo-key-not-for-real-data"
DEMO_MARKER = "GENERATED_DEMO_DATA"
MIN_KEY_BYTES = 32
KEY_HELP = (
    "Generate one with `openssl rand -hex 32` (64 characters) and keep it in a secret store; "
    "see the README, Privacy."
)


class PseudonymKeyError(RuntimeError):
    """The pseudonym key cannot be used: missing, too short, public, or not the warehouse's."""


class MissingPseudonymKey(PseudonymKeyError):
    pass


class WeakPseudonymKey(PseudonymKeyError):
    pass


class IopSettings(ConfigurableResource):
    """Where the data lives, DuckDB's resources and the rule parameters of the models."""

    data_dir: str = "data"
    # Where the dbt models and the checks on them run: "duckdb" (the working database, default)
    # or "spark" (dbt-spark on a SparkSession, iop/spark.py; README, Running on Spark).
    engine: str = "duckdb"
    spark_master: str = ""  # empty: local[duckdb_threads]
    spark_driver_memory: str = "2g"
    spark_partitions: int = 4
    # Rounds of complementary small-cell suppression the marts unroll on Spark (sql/macros/
    # suppression.sql); a mart whose cells still change in the last round fails rather than publish.
    spark_suppression_rounds: int = 6
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    episode_gap_days: int = 30
    transition_window_days: int = 30
    # Plausibility window of event dates (sessions, admissions, discharges, claim service and
    # remittance dates): before the floor or later than the file's landing date plus the
    # tolerance, a row is quarantined (rule implausible_date), so one mistyped year never moves
    # the as-of date or stretches a mart over centuries.
    date_floor: str = "1990-01-01"
    future_tolerance_days: int = 7
    # 1: an X12 control-count or control-number mismatch rejects the whole file (default: the file
    # loads with a warning, docs/x12.md).
    x12_strict: int = 0
    # percentage points a subgroup comparison should detect (80% power, alpha 0.05)
    power_detectable_difference_pp: int = 10
    # A month's figures are provisional until its last day is this many days (or episode_gap_days,
    # if longer) before the as-of date: claims arrive weeks after service.
    claims_lag_days: int = 60
    # The published marts are stale (freshness FAIL) when not refreshed for this long, late
    # (WARN) after marts_freshness_warn_hours (0: no warning state).
    marts_freshness_hours: int = 26
    marts_freshness_warn_hours: int = 0

    @classmethod
    def from_env(cls, *, as_env_vars: bool = False) -> IopSettings:
        """Settings from the environment (ENVIRONMENT below; defaults where a variable is unset).
        `as_env_vars` gives Dagster `EnvVar`s resolved at run time (what definitions.py uses)."""
        values: dict[str, Any] = {"duckdb_threads": os.cpu_count() or 2}
        for field, variable in ENVIRONMENT.items():
            if variable not in os.environ:
                continue
            integer = isinstance(cls.model_fields[field].default, int)
            if as_env_vars:
                values[field] = EnvVar.int(variable) if integer else EnvVar(variable)
            else:
                values[field] = int(os.environ[variable]) if integer else os.environ[variable]
        return cls(**values)

    @property
    def on_spark(self) -> bool:
        if self.engine not in ENGINES:
            raise ValueError(
                f"IOP_ENGINE is {self.engine!r}; it must be one of {', '.join(ENGINES)}"
            )
        return self.engine == "spark"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def landing_dir(self) -> Path:
        return self.data_path / "landing"

    @property
    def raw_dir(self) -> Path:
        return self.data_path / "raw"

    @property
    def site_seeds_dir(self) -> Path:
        return self.data_path / "seeds"

    @property
    def warehouse_path(self) -> Path:
        return self.data_path / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_path / "reports"

    @property
    def provisional_days(self) -> int:
        return max(self.claims_lag_days, self.episode_gap_days)

    @property
    def dbt_target_dir(self) -> Path:
        return self.data_path / "dbt_target"

    @property
    def marts_path(self) -> Path:
        return self.data_path / "marts.duckdb"

    @property
    def marts_parquet_dir(self) -> Path:
        return self.data_path / "marts"

    def dbt_vars(self) -> dict[str, int | str]:
        """The rule parameters as dbt vars (only those that differ from dbt_project.yml's
        defaults, so a default run reuses the prepared manifest without re-parsing)."""
        defaults = type(self)()
        return {
            name: getattr(self, name)
            for name in (
                "episode_gap_days",
                "transition_window_days",
                "date_floor",
                "future_tolerance_days",
                "power_detectable_difference_pp",
            )
            if getattr(self, name) != getattr(defaults, name)
        }

    def dbt_env(self) -> dict[str, str]:
        """The environment dbt reads in profiles.yml, from these settings."""
        return {
            "IOP_DATA_DIR": str(self.data_path),
            "IOP_ENGINE": self.engine,
            "IOP_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "IOP_DUCKDB_THREADS": str(self.duckdb_threads),
        }

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False, pseudonyms: bool = False) -> Iterator[Any]:
        """A connection to the working database, closed on exit (dbt needs the file free)."""
        from iop import warehouse

        with warehouse.connect(self, read_only=read_only) as con:
            if pseudonyms:
                from iop.pseudonym import register_pseudonymizer

                register_pseudonymizer(con, record=not read_only)
            yield con


ENGINES = ("duckdb", "spark")
ENVIRONMENT = {
    "data_dir": "IOP_DATA_DIR",
    "engine": "IOP_ENGINE",
    "spark_master": "IOP_SPARK_MASTER",
    "spark_driver_memory": "IOP_SPARK_DRIVER_MEMORY",
    "spark_partitions": "IOP_SPARK_PARTITIONS",
    "spark_suppression_rounds": "IOP_SPARK_SUPPRESSION_ROUNDS",
    "duckdb_memory_limit": "IOP_DUCKDB_MEMORY_LIMIT",
    "duckdb_threads": "IOP_DUCKDB_THREADS",
    "episode_gap_days": "IOP_EPISODE_GAP_DAYS",
    "transition_window_days": "IOP_TRANSITION_WINDOW_DAYS",
    "date_floor": "IOP_DATE_FLOOR",
    "future_tolerance_days": "IOP_FUTURE_TOLERANCE_DAYS",
    "x12_strict": "IOP_X12_STRICT",
    "power_detectable_difference_pp": "IOP_POWER_DETECTABLE_DIFFERENCE_PP",
    "claims_lag_days": "IOP_CLAIMS_LAG_DAYS",
    "marts_freshness_hours": "IOP_MARTS_FRESHNESS_HOURS",
    "marts_freshness_warn_hours": "IOP_MARTS_FRESHNESS_WARN_HOURS",
}


def demo_mode(data_dir: Path | str | None = None) -> bool:
    """Demo mode: the operator said so (IOP_DEMO=1) or the data folder is one the generator made
    (it leaves DEMO_MARKER there). Only then is the public demo key accepted."""
    if os.environ.get("IOP_DEMO") == "1":
        return True
    folder = Path(data_dir or os.environ.get("IOP_DATA_DIR") or "data")
    return (folder / DEMO_MARKER).is_file()


def pseudonym_key() -> bytes:
    """The HMAC key for person pseudonyms, checked: unset is an error except in demo mode (the
    demo key); a key shorter than MIN_KEY_BYTES, or the demo key outside demo mode, is refused."""
    key = os.environ.get("IOP_PSEUDONYM_KEY")
    demo = demo_mode()
    if not key:
        if demo:
            return DEMO_PSEUDONYM_KEY.encode()
        raise MissingPseudonymKey(
            "IOP_PSEUDONYM_KEY is not set. Set it to a long random secret (see .env.example); "
            "person keys in the marts are HMAC-SHA256 of internal ids with this key. "
            "(The demo key is used only on generated data or with IOP_DEMO=1.) " + KEY_HELP
        )
    if key == DEMO_PSEUDONYM_KEY:
        if demo:
            return key.encode()
        raise WeakPseudonymKey(
            "IOP_PSEUDONYM_KEY is the public demo key, and this is not demo data (no generator "
            "marker in the data folder, IOP_DEMO is not 1): anyone with the repository could "
            "reverse the person keys. " + KEY_HELP
        )
    if len(key.encode()) < MIN_KEY_BYTES:
        raise WeakPseudonymKey(
            f"IOP_PSEUDONYM_KEY is {len(key.encode())} bytes long; at least {MIN_KEY_BYTES} are "
            "required (a short key can be guessed). " + KEY_HELP
        )
    return key.encode()
