"""`amber cache info` and `amber cache clean`: what amber keeps on disk, and removing what is not needed.

Binaries add entries to `extract/` as they run (one per extracted distribution and build,
one per shared object of 1 MiB or more, plus native files where memory could not serve; an
entry is shared by every build holding the same file), so without cleaning it grows with every
new build that is run. Each entry's marker is touched at most daily when a binary uses it
(boot/cache.py), which is what `--older-than` compares. The other areas are amber's own
build caches: runtimes (17 minutes to rebuild), libraries, fetched sources, logs, the import scans
of sources and the xz payloads of shared objects (each only makes the next build faster).

Removal renames an entry to a hidden name first and deletes it after, so a binary starting
at that moment sees the entry whole or not at all, never half-deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from amber.boot.cache import MARKER
from amber.errors import AmberError
from amber.paths import cache_root

AREAS = {
    "extract": "files materialized by amber binaries at run time",
    "runtimes": "built CPython runtimes",
    "libs": "built libraries of the runtime recipe",
    "sources": "fetched source tarballs",
    "logs": "build logs",
    "trim": "import scans of the sources builds compiled in",
    "packed": "shared objects builds compressed with xz",
}
LEFTOVER_AGE = 3600  # a temporary or half-removed entry older than this belongs to a dead process
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class Area:
    name: str
    path: Path
    entries: int
    size: int
    oldest_use: float | None  # epoch seconds


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w', '45s' or a plain number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise AmberError(f"--older-than {text!r}: give a number with a unit, e.g. 30d, 12h, 90m")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _last_use(entry: Path) -> float:
    marker = entry / MARKER
    with contextlib.suppress(OSError):
        return marker.stat().st_mtime
    return entry.lstat().st_mtime


def _entries(area: Path) -> list[Path]:
    if not area.is_dir():
        return []
    return sorted(p for p in area.iterdir() if not p.name.startswith(".") and not p.name.endswith(".lock"))


def info() -> list[Area]:
    root = cache_root()
    areas = []
    for name in AREAS:
        path = root / name
        entries = _entries(path)
        uses = [_last_use(e) for e in entries]
        areas.append(Area(name, path, len(entries), sum(_size(e) for e in entries), min(uses) if uses else None))
    return areas


def _remove(entry: Path) -> int:
    """Delete `entry` (rename aside first); the number of bytes freed."""
    size = _size(entry)
    aside = entry.with_name(f".stale-{entry.name[:16]}-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        entry.rename(aside)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise AmberError(f"cannot remove {entry}: {exc.strerror}") from exc
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)
    return size


def clean(older_than: float | None = None, everything: bool = False) -> tuple[int, int]:
    """Remove extraction entries (every area with `everything`) not used for `older_than` seconds
    (all when None), and leftovers of dead processes. Returns (entries removed, bytes freed)."""
    now = time.time()
    removed = freed = 0
    for name in AREAS if everything else ["extract"]:
        area = cache_root() / name
        if not area.is_dir():
            continue
        for leftover in area.iterdir():
            if leftover.name.startswith((".tmp-", ".stale-")) and now - leftover.lstat().st_mtime > LEFTOVER_AGE:
                freed += _remove(leftover)
                removed += 1
        for entry in _entries(area):
            if older_than is None or now - _last_use(entry) > older_than:
                freed += _remove(entry)
                removed += 1
    return removed, freed
