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

Change detection is by content: a file whose bytes changed is a new content whatever its size and
modification time (see `scan_landing` for the cache that avoids re-reading unchanged files). Every
delivery is also an event of its own, `raw/_registry/deliveries/<id>.json`: a path holding a
content with a modification time, first seen at a time. Two identical files (two empty ones, a
re-sent export) are one content but two deliveries, and a file in a folder that is no feed is a
delivery with an error naming the closest feed.

Nothing under landing/ is passed over silently (`ignored_entries`): a lock or temporary file
(`~$x.csv`), a hidden name (`.x.csv`), a file directly in landing/ or in a folder that is no feed,
and a file listed in `landing/.exclude` are registered with status `ignored` and the reason (an
empty file is a delivery like any other, rejected: "empty file (0 bytes)"). What landing/ holds is
what counts: a content no longer in a feed folder (the file was removed, or corrected under the
same name) or listed in `landing/.exclude` is no longer read at the next refresh (status `removed`
or `excluded`; its raw Parquet stays, unread).
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
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
DELIVERY_COLUMNS = (
    "delivery_id", "source_file", "folder", "feed", "file_sha256", "file_bytes", "modified_at",
    "seen_at", "error",
)  # fmt: skip
# A cached hash is reused only for a file untouched since well before it was hashed: file times
# have a coarse granularity, so a write in the same tick as the hashing would leave size, mtime and
# ctime unchanged (git's "racy clean" problem). And every cached hash is checked by a full read at
# least once a day, for file systems whose ctime cannot be trusted (some network shares).
RACY_NS = 2 * 10**9
EXCLUDE_FILE = ".exclude"  # landing/.exclude: files (paths or glob patterns) not to read
LOCK_PREFIXES = ("~$", ".~lock.", "~lock.")  # office and LibreOffice lock files
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", "~")
REHASH_NS = 24 * 3600 * 10**9


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


def deliveries_dir(settings: IopSettings) -> Path:
    return registry_dir(settings) / "deliveries"


def closest_feed(folder: str) -> str:
    """The feed whose name is closest to a landing folder's ('attendence' → 'attendance')."""
    return difflib.get_close_matches(folder.lower(), FEEDS, n=1, cutoff=0.0)[0]


def feed_folders(landing: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """Landing subfolders matched to feeds case-insensitively (`Attendance/` is attendance), and
    the other subfolders, whose files no feed reads."""
    routed: list[tuple[str, Path]] = []
    unrouted: list[Path] = []
    if not landing.is_dir():
        return routed, unrouted
    for folder in sorted(landing.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        feed = folder.name.lower()
        if feed in FEEDS:
            routed.append((feed, folder))
        else:
            unrouted.append(folder)
    return routed, unrouted


def _landed_paths(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.rglob("*")) if path.is_file()]


def exclude_patterns(settings: IopSettings) -> list[str]:
    """The lines of landing/.exclude: paths relative to landing/ or glob patterns
    (`claims/*_old.csv`; a bare name matches in any folder); blank lines, `#` comments skipped."""
    path = settings.landing_dir / EXCLUDE_FILE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def is_excluded(relative: str, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatchcase(relative, p.strip("/"))
        or fnmatch.fnmatchcase(name, p)
        or relative.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def ignore_reason(path: Path, relative: str, patterns: list[str]) -> str | None:
    """Why a file in a feed folder is not a delivery to read, or None when it is one."""
    name = path.name
    parts = relative.split("/")
    if name.startswith(LOCK_PREFIXES) or name.lower().endswith(TEMPORARY_SUFFIXES):
        return "lock or temporary file (an editor or a copy still at work): not read"
    if any(part.startswith(".") for part in parts):
        return "hidden name (starts with a dot): not read; rename it to have it read"
    if is_excluded(relative, patterns):
        return f"listed in landing/{EXCLUDE_FILE}: not read"
    return None  # an empty file is a delivery, rejected with its reason (empty file (0 bytes))


def _fingerprint(stat: os.stat_result) -> list[int]:
    # ctime cannot be set from user space: an in-place rewrite that restores size and mtime still
    # moves it, and a file replaced by another has another inode
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _cached_sha(cached: list | None, fingerprint: list[int], now_ns: int) -> str | None:
    """The cached hash when it still certainly describes the file, else None (hash again)."""
    if not cached or len(cached) != 6 or cached[:4] != fingerprint:
        return None
    sha, hashed_at = cached[4], cached[5]
    changed_at = max(fingerprint[1], fingerprint[2])
    if hashed_at - changed_at < RACY_NS or now_ns - hashed_at > REHASH_NS:
        return None
    return sha


def scan_landing(settings: IopSettings) -> list[LandedFile]:
    """Every file in the feed folders with its content hash; each delivery is recorded.

    A hash is computed from the bytes unless the file's size, mtime, ctime and inode are those of
    a hash taken safely after its last change, within the last day (`_cached_sha`): a rewrite in
    place with the same size and mtime still changes the ctime, so it is hashed again. Files in a
    landing subfolder that is no feed, or directly in landing/, are not returned: they are recorded
    as deliveries with an error naming the closest feed (`record_delivery`).
    """
    cache_path = registry_dir(settings) / "_hash_cache.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        cache = {}
    landing = settings.landing_dir
    routed, unrouted = feed_folders(landing)
    fresh_cache, files = {}, []
    found = []  # (feed, folder, path, stat, relative, fingerprint, cached sha or None, when)
    patterns = exclude_patterns(settings)
    for feed, folder in routed:
        for path in _landed_paths(folder):
            stat = path.stat()
            relative = path.relative_to(landing).as_posix()
            if ignore_reason(path, relative, patterns):
                continue  # registered as ignored (ignored_entries)
            fingerprint = _fingerprint(stat)
            now_ns = time.time_ns()
            sha = _cached_sha(cache.get(relative), fingerprint, now_ns)
            found.append((feed, folder, path, stat, relative, fingerprint, sha, now_ns))
    # hashing reads every new byte: files hash side by side (hashlib releases the GIL)
    to_hash = [item[2] for item in found if item[6] is None]
    workers = max(1, min(int(settings.duckdb_threads), 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashed = dict(zip(to_hash, pool.map(file_sha256, to_hash), strict=True))
    for feed, folder, path, stat, relative, fingerprint, sha, now_ns in found:
        if sha is None:
            sha = hashed[path]
            fresh_cache[relative] = [*fingerprint, sha, now_ns]
        else:
            fresh_cache[relative] = cache[relative]
        landed_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
        landed = LandedFile(feed, path, relative, sha, stat.st_size, landed_at)
        record_delivery(settings, landed, folder.name, stat.st_mtime_ns)
        files.append(landed)
    for folder in unrouted:
        _record_unrouted(
            settings, folder, [p for p in _landed_paths(folder) if _plain_name(p.name)]
        )
    loose = [p for p in landing.iterdir() if p.is_file()] if landing.is_dir() else []
    _record_unrouted(settings, None, [p for p in loose if _plain_name(p.name)])
    if fresh_cache != cache:
        _write_json_atomically(cache_path, fresh_cache)
    return files


def _plain_name(name: str) -> bool:
    return not name.startswith((".", "~"))


def ignored_entries(settings: IopSettings) -> list[dict]:
    """Registry rows (status `ignored`, the reason as error) for every file under landing/ that
    is not read: see `ignore_reason`, plus files directly in landing/ or in a folder that is no
    feed (the closest feed named). Judged afresh at every scan; file_sha256 is null (not read)."""
    landing = settings.landing_dir
    if not landing.is_dir():
        return []
    patterns = exclude_patterns(settings)
    routed, _ = feed_folders(landing)
    feed_of = {folder.name: feed for feed, folder in routed}
    entries = []
    for path in sorted(landing.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(landing).as_posix()
        if relative == EXCLUDE_FILE:
            continue
        stat = path.stat()
        parts = relative.split("/")
        feed = feed_of.get(parts[0]) if len(parts) > 1 else None
        if feed is None:
            reason = unrouted_error(parts[0] if len(parts) > 1 else None)
        else:
            reason = ignore_reason(path, relative, patterns)
        if reason is None:
            continue
        entries.append(
            {
                "file_sha256": None,
                "feed": feed,
                "layout": None,
                "source_file": relative,
                "file_bytes": stat.st_size,
                "rows_read": None,
                "status": "ignored",
                "error": reason,
                "warnings": None,
                "raw_path": None,
                "landed_at": datetime.fromtimestamp(stat.st_mtime, UTC)
                .replace(tzinfo=None)
                .isoformat(sep=" "),
                "ingested_at": None,
            }
        )
    return entries


def unrouted_error(folder: str | None) -> str:
    if folder is None:
        return f"not in a feed folder: move it into one of {', '.join(FEEDS)}"
    return (
        f"folder {folder!r} is not a feed folder ({', '.join(FEEDS)}); "
        f"closest is {closest_feed(folder)!r}: move the file there"
    )


def _record_unrouted(settings: IopSettings, folder: Path | None, paths: list[Path]) -> None:
    error = unrouted_error(None if folder is None else folder.name)
    for path in paths:
        stat = path.stat()
        relative = path.relative_to(settings.landing_dir).as_posix()
        landed_at = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
        landed = LandedFile("", path, relative, file_sha256(path), stat.st_size, landed_at)
        name = "" if folder is None else folder.name
        if record_delivery(settings, landed, name, stat.st_mtime_ns, error=error):
            log.warning("%s: %s", relative, error)


def delivery_id(relative: str, sha256: str, mtime_ns: int) -> str:
    return hashlib.sha256(f"{relative}\0{sha256}\0{mtime_ns}".encode()).hexdigest()


def record_delivery(
    settings: IopSettings, landed: LandedFile, folder: str, mtime_ns: int, error: str | None = None
) -> bool:
    """Record a delivery (this path holding this content with this mtime) the first time a scan
    sees it; True when it is new. The record is never rewritten: `seen_at` is when it landed as
    far as the pipeline can tell."""
    identity = delivery_id(landed.relative, landed.sha256, mtime_ns)
    path = deliveries_dir(settings) / f"{identity}.json"
    if path.exists():
        return False
    record = {
        "delivery_id": identity,
        "source_file": landed.relative,
        "folder": folder,
        "feed": landed.feed or None,
        "file_sha256": landed.sha256,
        "file_bytes": landed.file_bytes,
        "modified_at": landed.landed_at.isoformat(sep=" "),
        "seen_at": datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),
        "error": error,
    }
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private_text(temporary, json.dumps(record, indent=1))
    try:
        os.link(temporary, path)  # never replaces: a concurrent scan's record stays the first
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


def delivery_entries(settings: IopSettings) -> list[dict]:
    folder = deliveries_dir(settings)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


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
            x12_strict=bool(settings.x12_strict),
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


def sync_registry(
    con: duckdb.DuckDBPyConnection,
    settings: IopSettings,
    landed: list[LandedFile] | None = None,
) -> int:
    """raw.registry ← the registry entries, judged against what landing/ holds now (`landed`, a
    fresh scan when not given) plus the ignored files; raw.deliveries ← the delivery records;
    raw.<layout> views ← the ingested files; raw.site_<seed> ← the site's value-set additions.
    The only writer of the raw schema.

    A content read before whose file is gone from the feed folders (removed, or corrected under
    the same name) becomes `removed`, or `excluded` when landing/.exclude lists its name: staging
    no longer reads it, so its rows leave every table at this refresh."""
    landed = scan_landing(settings) if landed is None else landed
    present = {f.sha256 for f in landed}
    patterns = exclude_patterns(settings)
    entries = registry_entries(settings)
    for entry in entries:
        entry["present"] = entry["file_sha256"] in present
        entry["excluded"] = is_excluded(entry["source_file"], patterns)
    named = {e["source_file"] for e in entries}
    ignored = [
        {**e, "present": True, "excluded": False}
        for e in ignored_entries(settings)
        # an excluded file read before is listed once: its content, now `excluded`
        if not (e["source_file"] in named and is_excluded(e["source_file"], patterns))
    ]
    frame = _text_table(entries + ignored, [*REGISTRY_COLUMNS, "present", "excluded"])
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
                when status = 'ignored' then status
                -- the latest ingested content of a name is current: contents of one name are
                -- ingested in the order they were delivered, whatever their file times say
                when status = 'ingested' and row_number() over (
                    partition by source_file, status = 'ignored'
                    order by ingested_at desc, landed_at desc
                ) > 1 then 'superseded'
                -- what landing/ no longer holds (or excludes) is no longer read; a content still
                -- present under another, not excluded, name is read
                when not present::boolean then
                    case when excluded::boolean then 'excluded' else 'removed' end
                else status
            end::varchar as status
            , error::varchar as error
            , warnings::varchar as warnings
            , raw_path::varchar as raw_path
            , landed_at::timestamp as landed_at
            , ingested_at::timestamp as ingested_at
        from registry_frame
        order by source_file, status
        """
    )
    con.unregister("registry_frame")
    sync_deliveries(con, settings)
    warehouse.refresh_raw_views(con, settings)
    warehouse.refresh_site_seeds(con, settings)
    return len(frame)


def _text_table(rows: list[dict], columns: list[str]) -> pa.Table:
    """Registry records as an Arrow table of text columns (a missing value: null), for DuckDB to
    read and cast. (No pandas: importing it cost every run about 0.4 s.)"""

    def text(value: object) -> str | None:
        if value is None:
            return None
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return pa.table({c: pa.array([text(row.get(c)) for row in rows], pa.string()) for c in columns})


def sync_deliveries(con: duckdb.DuckDBPyConnection, settings: IopSettings) -> int:
    """raw.deliveries ← raw/_registry/deliveries/*.json: one row per delivery event."""
    frame = _text_table(delivery_entries(settings), list(DELIVERY_COLUMNS))
    con.register("deliveries_frame", frame)
    con.execute(
        """
        create or replace table raw.deliveries as
        select
            delivery_id::varchar as delivery_id
            , source_file::varchar as source_file
            , folder::varchar as folder
            , feed::varchar as feed
            , file_sha256::varchar as file_sha256
            , file_bytes::bigint as file_bytes
            , modified_at::timestamp as modified_at
            , seen_at::timestamp as seen_at
            , error::varchar as error
        from deliveries_frame
        order by seen_at, source_file
        """
    )
    con.unregister("deliveries_frame")
    return len(frame)
