"""Landing → raw: each new landed file becomes one immutable Parquet file named by its SHA-256.

Every row is kept as delivered (all text, header names normalized) plus lineage columns: the
source file, its hash, the 1-based data-row number and the landing time. A file whose content was
ingested before (same hash) is skipped, so landing it twice changes nothing. A file whose header
matches no layout of its feed is recorded as rejected, with the reason, and nothing of it is read.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from iop.layouts import UnrecognizedLayout, detect_layout, normalize_column
from iop.settings import Settings

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass
class IngestReport:
    feed: str
    ingested: list[str] = field(default_factory=list)
    skipped_duplicates: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0

    def as_metadata(self) -> dict[str, int]:
        return {
            "files_ingested": len(self.ingested),
            "files_already_ingested": len(self.skipped_duplicates),
            "files_rejected": len(self.rejected),
            "rows_read": self.rows_read,
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def landed_files(settings: Settings, feed: str) -> list[Path]:
    folder = settings.landing_dir / feed
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "~"))
    )


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        first = next(csv.reader(handle), [])
    return [normalize_column(name) for name in first]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ingest_feed(con: duckdb.DuckDBPyConnection, settings: Settings, feed: str) -> IngestReport:
    report = IngestReport(feed)
    known = {row[0] for row in con.execute("select file_sha256 from audit.landed_files").fetchall()}
    for path in landed_files(settings, feed):
        sha = file_sha256(path)
        relative = path.relative_to(settings.landing_dir).as_posix()
        if sha in known:
            report.skipped_duplicates.append(relative)
            continue
        known.add(sha)
        landed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        header = read_header(path)
        try:
            layout = detect_layout(feed, header)
        except UnrecognizedLayout as error:
            message = f"{relative}: {error}"
            log.warning("rejected file %s", message)
            _register(con, sha, feed, None, relative, path, None, "rejected", message, None, landed_at)
            report.rejected[relative] = message
            continue
        raw_path = settings.raw_dir / layout.name / f"{sha}.parquet"
        rows = _write_raw_parquet(con, path, header, raw_path, relative, sha, landed_at)
        _register(con, sha, feed, layout.name, relative, path, rows, "ingested", None, raw_path, landed_at)
        report.ingested.append(relative)
        report.rows_read += rows
    return report


def _write_raw_parquet(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    raw_path: Path,
    relative: str,
    sha: str,
    landed_at: datetime,
) -> int:
    """CSV → Parquet, every column as text; written under a temporary name, then renamed."""
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = raw_path.with_suffix(f".tmp{os.getpid()}")
    names = [name or f"column_{i}" for i, name in enumerate(header)]
    columns = ", ".join(f'"{n}"' for n in names)
    con.execute(
        f"""
        copy (
            select {columns}
                , {_sql_text(relative)} as _source_file
                , {_sql_text(sha)} as _file_sha256
                , row_number() over () as _row_number
                , {_sql_text(landed_at.isoformat(sep=" "))}::timestamp as _landed_at
            from read_csv({_sql_text(str(path))}, header = true, all_varchar = true
                , delim = ',', quote = '"', escape = '"'
                , names = [{", ".join(_sql_text(n) for n in names)}])
        ) to {_sql_text(str(temporary))} (format parquet, compression zstd)
        """
    )
    os.replace(temporary, raw_path)
    return con.execute(f"select count(*) from read_parquet({_sql_text(str(raw_path))})").fetchone()[0]


def _register(con, sha, feed, layout, relative, path, rows, status, error, raw_path, landed_at):
    con.execute(
        """
        insert into audit.landed_files (file_sha256, feed, layout, source_file, file_bytes,
            rows_read, status, error, raw_path, landed_at, ingested_at)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp)
        on conflict do nothing
        """,
        [sha, feed, layout, relative, path.stat().st_size, rows, status, error,
         None if raw_path is None else str(raw_path), landed_at],
    )
