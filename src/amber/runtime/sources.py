"""Getting the pinned source tarballs, verified by sha256 every time.

Order of lookup: the read-only source caches ($AMBER_SOURCES, colon-separated),
then our own download cache, then Debian's source package through apt, then the
upstream URL recorded in the recipe. Whatever the origin, a file whose sha256
differs from the recipe is an error that names the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from amber.errors import AmberError
from amber.paths import cache_root
from amber.progress import BuildLog
from amber.runtime import apt
from amber.runtime.recipe import Source


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, source: Source) -> Path:
    """Return `path` if its content is the pinned one, else raise naming the file."""
    actual = sha256_of(path)
    if actual != source.sha256:
        raise AmberError(
            f"sha256 mismatch for {path}: expected {source.sha256} ({source.key} {source.version}), got {actual}"
        )
    return path


def source_dirs() -> list[Path]:
    """Read-only source caches from $AMBER_SOURCES (colon-separated)."""
    value = os.environ.get("AMBER_SOURCES", "")
    return [Path(p).expanduser() for p in value.split(":") if p]


def download_dir() -> Path:
    return cache_root() / "sources"


def fetch(source: Source, log: BuildLog | None = None) -> Path:
    """Return a verified local path of `source`'s tarball, fetching it if needed."""
    for directory in [*source_dirs(), download_dir()]:
        candidate = directory / source.file
        if candidate.is_file():
            return verify(candidate, source)
    target = download_dir() / source.file
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for method in (_fetch_debian, _fetch_url):
        try:
            fetched = method(source, target.parent, log)
        except AmberError as exc:
            errors.append(str(exc))
            continue
        try:
            verify(fetched, source)
        except AmberError as exc:
            fetched.unlink(missing_ok=True)
            errors.append(str(exc))
            continue
        if fetched != target:
            os.replace(fetched, target)
        return target
    raise AmberError(f"cannot fetch {source.file}: " + "; ".join(errors))


def _fetch_debian(source: Source, into: Path, log: BuildLog | None) -> Path:
    with tempfile.TemporaryDirectory(prefix=".apt-", dir=into) as tmp:
        got = apt.download_orig(source.debian, source.suites, source.file, Path(tmp), log)
        final = into / f".{source.file}.part"
        shutil.move(got, final)
    return final


def _fetch_url(source: Source, into: Path, log: BuildLog | None) -> Path:
    part = into / f".{source.file}.part"
    if log:
        log.write(f"downloading {source.url}\n")
    try:
        with urllib.request.urlopen(source.url, timeout=60) as resp, part.open("wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise AmberError(f"download of {source.url} failed: {exc}") from exc
    return part


def unpack(tarball: Path, into: Path) -> Path:
    """Unpack `tarball` into an emptied `into`; return its single top-level directory."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="tar")
    entries = list(into.iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        raise AmberError(f"{tarball.name}: expected one top-level directory, found {len(entries)} entries")
    return entries[0]
