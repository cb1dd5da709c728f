"""Where PHI is written, it is written private: the rule for file and folder permissions.

Landing copies (raw/), the working database and the quarantine it holds are PHI storage: their
files are created 0600 and their folders 0700 whatever the operator's umask, and never widened
afterwards (a stricter umask only makes them stricter). The published marts are de-identified and
meant for BI readers: they are created with the operator's umask, untouched here.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700 folders; an existing folder is left as is."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        # the umask applies to mkdir's mode too: never wider than 0700, stricter if it says so
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Write `path` as a new 0600 file (or truncate the existing one, keeping its mode)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def make_private(path: Path) -> None:
    """Narrow an existing PHI file to 0600 (the warehouse, which DuckDB creates with the umask)."""
    if path.exists():
        os.chmod(path, path.stat().st_mode & PRIVATE_FILE)
