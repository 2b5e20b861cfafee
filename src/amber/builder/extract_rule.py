"""Which distributions are materialized on disk at run time instead of read from the archive: the ones
the project names, and no others.

The runtime's C file layer (runtime/fs/) makes paths under the binary real to C code, so a CA bundle
that OpenSSL opens, fonts that FreeType opens, a database SQLite opens read-only or a data directory a
C library lists are all read from the archive. Extraction is the escape hatch for what still needs a
real file on disk: a path handed to a program that is not this binary (a compiler, a system tool), a
file something must write next to, or a library that bypasses libc (raw system calls).
`[tool.amber] extract = [...]` / `--extract NAME` names the distributions; `no-extract` /
`--no-extract NAME` is kept so that a project that lists it builds unchanged.

An extracted distribution keeps its site-packages layout in a
content-addressed cache entry; its `.py` files get their `.pyc` in
`__pycache__` as a normal install would, and its `.dist-info` stays in the
archive (one copy, found by importlib.metadata as before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from amber.archive.writer import Member
from amber.boot.vfs import EXTRACT_LIST_DIR
from amber.errors import AmberError


@dataclass(frozen=True)
class Extraction:
    dist: str
    key: str
    top_level: tuple[str, ...]
    files: tuple[tuple[str, str, bool], ...]  # (path on disk, archive member, executable)

    def listing(self, members: set[str]) -> Member:
        """The archive member that lists the entry's files (those the archive really has: a .py that
        did not compile has no .pyc)."""
        lines = "".join(f"{disk}\t{name}\t{'x' if x else '-'}\n" for disk, name, x in self.files if name in members)
        return Member(f"{EXTRACT_LIST_DIR}/{self.key}", lines.encode(), compress=True)


def top_level_names(files: Iterable[str]) -> tuple[str, ...]:
    """Import names a distribution's files provide at the top of site-packages."""
    names = set()
    for path in files:
        parts = PurePosixPath(path).parts
        first = parts[0]
        if first.endswith((".dist-info", ".data", ".libs")) or first == "__pycache__":
            continue
        if len(parts) > 1:
            if first.isidentifier():
                names.add(first)
        elif first.endswith(".py") or ".so" in first:
            stem = first.split(".", 1)[0]
            if stem.isidentifier():
                names.add(stem)
    return tuple(sorted(names))


def _disk_layout(files: list[str], keep_sources: bool, cache_tag: str,
                 executable: dict[str, bool]) -> list[tuple[str, str, bool]]:
    """(path on disk, archive member, executable) for one distribution's installed files."""
    layout = []
    for path in files:
        if path.split("/", 1)[0].endswith(".dist-info") or path not in executable:
            continue
        if path.endswith(".py"):
            if keep_sources:
                parent, _, leaf = path.rpartition("/")
                cached = f"__pycache__/{leaf[:-3]}.{cache_tag}.pyc"
                layout += [(path, path, False), (f"{parent}/{cached}" if parent else cached, path + "c", False)]
            else:
                layout.append((path + "c", path + "c", False))
        else:
            layout.append((path, path, executable[path]))
    return sorted(layout)


def _key(salt: str, layout: list[tuple[str, str, bool]], files: dict[str, Path]) -> str:
    """Content key of an entry: its layout and the bytes it is made from (.pyc files are a function
    of their source and the runtime, which `salt` names)."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for disk, name, executable in layout:
        source = name[:-1] if name.endswith(".pyc") and name[:-1] in files else name
        digest.update(f"{disk}\0{name}\0{int(executable)}\0".encode())
        digest.update(hashlib.sha256(files[source].read_bytes()).digest())
    return digest.hexdigest()


def choose(dist_files: dict[str, list[str]], files: dict[str, Path], *, keep_sources: bool, cache_tag: str,
           salt: str, extract: list[str], no_extract: list[str]) -> list[Extraction]:
    """The distributions to extract: `extract`, minus `no_extract` (names as in pip).

    dist_files: distribution -> its installed files (RECORD paths); files: archive name -> file on disk.
    """
    by_name = {canonicalize_name(d): d for d in dist_files}
    for option, names in (("extract", extract), ("no-extract", no_extract)):
        for name in names:
            if canonicalize_name(name) not in by_name:
                known = ", ".join(sorted(dist_files)) or "none"
                raise AmberError(f"{option}: no bundled distribution is named {name!r} (bundled: {known})")
    forced = {canonicalize_name(n) for n in extract}
    refused = {canonicalize_name(n) for n in no_extract}
    executable = {name: bool(path.stat().st_mode & 0o111) for name, path in files.items()}
    chosen = []
    for canonical, dist in sorted(by_name.items()):
        if canonical in refused or canonical not in forced:
            continue
        layout = _disk_layout(dist_files[dist], keep_sources, cache_tag, executable)
        tops = top_level_names(dist_files[dist])
        if not layout or not tops:
            continue  # nothing importable to redirect
        chosen.append(Extraction(dist, _key(salt, layout, files), tops, tuple(layout)))
    return chosen
