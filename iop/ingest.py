"""Landing → raw: each landed file becomes one immutable Parquet file named by its SHA-256.

Every row is kept as delivered (all text, header names normalized) plus lineage columns: the
source file, its hash, the 1-based data-row number and the landing time. Ingesting a file writes
only its own Parquet file and a registry entry `raw/_registry/<sha256>.json` — never the DuckDB
warehouse — so files can be ingested in parallel (one Dagster partition per file) and the
warehouse can always be rebuilt from raw. A file whose content was ingested before is skipped, so
landing it twice changes nothing. A corrected re-export delivered under the same file name
supersedes the earlier content of that name entirely (the earlier one is kept in raw, marked
`superseded`, and no longer read). A file that cannot be taken whole (unknown layout, a missing
required column, undecodable bytes, malformed X12) is registered as rejected with the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from iop import warehouse
from iop.files import private_dir, write_private_text
from iop.readers import RejectedFile, convert_to_raw_parquet
from iop.redact import redact, redact_all
from iop.settings import FEEDS, IopSettings

log = logging.getLogger(__name__)
CHUNK = 1 << 20
REGISTRY_COLUMNS = (
    "file_sha256", "feed", "layout", "source_file", "file_bytes", "rows_read", "status",
    "error", "warnings", "raw_path", "landed_at", "ingested_at",
)  # fmt: skip


@dataclass(frozen=True)
class LandedFile:
    feed: str
    path: Path
    relative: str
    sha256: str
    file_bytes: int
    landed_at: datetime


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    already_ingested: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0

    def as_metadata(self) -> dict[str, int]:
        return {
            "files_ingested": len(self.ingested),
            "files_already_ingested": len(self.already_ingested),
            "files_rejected": len(self.rejected),
            "file_warnings": len(self.warnings),
            "rows_read": self.rows_read,
        }


def registry_dir(settings: IopSettings) -> Path:
    return settings.raw_dir / "_registry"


def _write_json_atomically(path: Path, document: object) -> None:
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private_text(temporary, json.dumps(document, default=str, indent=1))
    os.replace(temporary, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_landing(settings: IopSettings) -> list[LandedFile]:
    """Every file in the landing folders with its content hash (cached by path, size, mtime)."""
    cache_path = registry_dir(settings) / "_hash_cache.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        cache = {}
    fresh_cache, files = {}, []
    for feed in FEEDS:
        folder = settings.landing_dir / feed
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name.startswith((".", "~")):
                continue
            stat = path.stat()
            relative = path.relative_to(settings.landing_dir).as_posix()
            fingerprint = [stat.st_size, stat.st_mtime_ns]
            cached = cache.get(relative)
            sha = cached[2] if cached and cached[:2] == fingerprint else file_sha256(path)
            fresh_cache[relative] = [*fingerprint, sha]
            landed_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
            files.append(LandedFile(feed, path, relative, sha, stat.st_size, landed_at))
    if fresh_cache != cache:
        _write_json_atomically(cache_path, fresh_cache)
    return files


def is_ingested(settings: IopSettings, sha256: str) -> bool:
    return (registry_dir(settings) / f"{sha256}.json").exists()


def _names(landed: LandedFile) -> list[str]:
    """How messages may name the file (X12 errors use the bare name): masked by the redaction."""
    return [landed.relative, landed.path.name]


def ingest_file(settings: IopSettings, landed: LandedFile) -> dict:
    """Convert one landed file to raw Parquet and register it; a rejected file is registered too."""
    entry = {
        "file_sha256": landed.sha256,
        "feed": landed.feed,
        "layout": None,
        "source_file": landed.relative,
        "file_bytes": landed.file_bytes,
        "rows_read": None,
        "status": "ingested",
        "error": None,
        "warnings": None,
        "raw_path": None,
        "landed_at": landed.landed_at.isoformat(sep=" "),
        "ingested_at": datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),
    }
    staging_path = settings.raw_dir / "_incoming" / f"{landed.sha256}.parquet"
    try:
        conversion = convert_to_raw_parquet(
            landed.path,
            feed=landed.feed,
            relative=landed.relative,
            sha256=landed.sha256,
            landed_at=landed.landed_at,
            out_path=staging_path,
        )
    except RejectedFile as rejection:
        entry.update(status="rejected", error=redact(rejection, _names(landed)))
        log.warning("rejected file %s", entry["error"])
    else:
        raw_path = settings.raw_dir / conversion.layout / f"{landed.sha256}.parquet"
        private_dir(raw_path.parent)
        os.replace(staging_path, raw_path)
        entry.update(
            layout=conversion.layout,
            rows_read=conversion.rows,
            raw_path=str(raw_path),
            warnings="; ".join(redact_all(conversion.warnings, _names(landed))) or None,
        )
    _write_json_atomically(registry_dir(settings) / f"{landed.sha256}.json", entry)
    return entry


def ingest_files(settings: IopSettings, files: list[LandedFile]) -> IngestReport:
    """Ingest every file not ingested before; a content already seen under another name is skipped.

    Files convert concurrently (pyarrow and DuckDB release the GIL); each writes only its own
    Parquet file and registry entry, so the order does not matter.
    """
    report = IngestReport()
    pending: list[LandedFile] = []
    seen: set[str] = set()
    for landed in files:
        if landed.sha256 in seen or is_ingested(settings, landed.sha256):
            report.already_ingested.append(landed.relative)
            continue
        seen.add(landed.sha256)
        pending.append(landed)
    workers = max(1, min(int(settings.duckdb_threads), 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        entries = list(pool.map(lambda f: ingest_file(settings, f), pending))
    # pyarrow's allocator keeps freed conversion buffers (~230 MB after the M benchmark's 723
    # files); hand them back before the SQL steps, which need the memory more
    pa.default_memory_pool().release_unused()
    for landed, entry in zip(pending, entries, strict=True):
        if entry["status"] == "rejected":
            report.rejected[landed.relative] = entry["error"]
        else:
            report.ingested.append(landed.relative)
            report.rows_read += entry["rows_read"]
            if entry["warnings"]:
                report.warnings.append(entry["warnings"])
    return report


def registry_entries(settings: IopSettings) -> list[dict]:
    folder = registry_dir(settings)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name[0] != "_"]


def sync_registry(con: duckdb.DuckDBPyConnection, settings: IopSettings) -> int:
    """raw.registry ← the registry entries; raw.<layout> views ← the ingested files;
    raw.site_<seed> ← the site's value-set additions. The only writer of the raw schema."""
    frame = pd.DataFrame(registry_entries(settings), columns=list(REGISTRY_COLUMNS))
    con.register("registry_frame", frame)
    con.execute(
        """
        create or replace table raw.registry as
        select
            file_sha256::varchar as file_sha256
            , feed::varchar as feed
            , layout::varchar as layout
            , source_file::varchar as source_file
            , file_bytes::bigint as file_bytes
            , rows_read::bigint as rows_read
            , case
                when status = 'ingested' and row_number() over (
                    partition by source_file order by landed_at desc, ingested_at desc
                ) > 1 then 'superseded'
                else status
            end::varchar as status
            , error::varchar as error
            , warnings::varchar as warnings
            , raw_path::varchar as raw_path
            , landed_at::timestamp as landed_at
            , ingested_at::timestamp as ingested_at
        from registry_frame
        order by source_file
        """
    )
    con.unregister("registry_frame")
    warehouse.refresh_raw_views(con, settings)
    warehouse.refresh_site_seeds(con, settings)
    return len(frame)
