"""How each archive member is stored: small by default, for a decompression of what is read.

Three policies, one per value of `amber build`'s `compress` option:

  None (the default)   every member Zstandard-compressed (the writer stores one that would save under
                       3%), except amber's metadata (`.amber/`, which any zip tool must read), the code
                       every start runs: amber's boot modules and the .pyc files builder/startup.py finds
                       the interpreter and the entry points import when they start, which are LZ4
                       blocks, and the standard library's shared objects no import of the app reaches,
                       which are xz (archive/xz.py: 14% smaller than zstd, decompressed once per machine
                       if ever). The runtime's standard library comes already compressed at RUNTIME_LEVEL
                       (runtime/stdlib.py), so it is copied, not compressed again; the app's own members
                       are compressed at APP_LEVEL, which keeps builds fast (zstd's level 19 is ten times
                       slower than 9 for a few per cent).
  False (--no-compress) the layout of amber before compression became the default: .pyc and native code
                       stored, sources and data deflated. For comparing, and for an app whose start-up
                       imports so much that even LZ4's speed shows.
  a level (--compress N) every member but the metadata at level N.

Why the start-up code is LZ4: zstd decompresses code at 0.5-0.8 GB/s on a 2-core Xeon VM, about
1.5 ms per MB imported, 6-10% of a Flask or Django start when everything was zstd. LZ4 decompresses the
same .pyc files at 2.4 GB/s, and its blocks are half their size (stdlib .pyc: 10.5 MB, 5.1 MB as LZ4,
4.1 MB as zstd level 19), so the code every start reads costs half the room of storing it for a
fraction of a millisecond per MB. What is read later, or never (sources, tests, most of the stdlib),
costs nothing at start. The importer reads a member of its own binary in one C call (one pread, a
kept decompression context), 3-4 times cheaper than zipimport's own reading. bench/size.py measures
both against --no-compress.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import replace

from amber.archive.writer import PLAIN_PREFIX, Member
from amber.elf import is_elf

APP_LEVEL = 9
RUNTIME_LEVEL = 19
BOOT_PREFIX = "__amber_"  # amber's boot modules, at the archive's top level (boot/__init__.py names them)
# Runtime members that are Zstandard-compressed: code and sources, which only zipimport and the C file
# layer read. The runtime's few data files keep their zip methods, as the bare runtime (an `amber venv`)
# reads them with zipfile, which knows no zstd there.
RUNTIME_SUFFIXES = (".pyc", ".py", ".so")


def runtime_members(members: list[Member]) -> list[Member]:
    """The runtime's stdlib members as its archive stores them."""
    return [replace(m, zstd=RUNTIME_LEVEL) if m.name.endswith(RUNTIME_SUFFIXES) else m for m in members]


def app_members(members: list[Member], compress: bool | int | None, startup: Set[str] = frozenset(),
                unreached: Set[str] = frozenset()) -> list[Member]:
    """An app archive's members as `compress` (see the module's docstring) stores them; by default the .pyc
    files named in `startup` (the code every start runs: builder/startup.py) are LZ4, and the shared objects
    in `unreached` (no import of the app reaches them: builder/stdlib_choice.py) are xz."""
    if compress is None:
        return [m if m.name.startswith(PLAIN_PREFIX) else
                replace(m, zstd=None, compress=False, lz4=True) if _hot(m.name, startup) or _is_boot(m.name) else
                replace(m, zstd=None, compress=False, lz4=False, xz=True) if _cold_native(m, unreached) else
                replace(m, zstd=APP_LEVEL, lz4=False) for m in members]
    if compress is False:
        return [m if m.name.startswith(PLAIN_PREFIX) else
                replace(m, zstd=None, lz4=False, compress=(m.compress or m.name.endswith(".py"))
                        and not (m.name.endswith(".pyc") or is_elf(m.data))) for m in members]
    return members  # a level: write_archive compresses every member at it


def _is_boot(name: str) -> bool:
    """amber's boot code, which every start imports (`__amber_app__` too, which no scan finds)."""
    return name.startswith(BOOT_PREFIX) and "/" not in name and name.endswith(".pyc")


def _hot(name: str, startup: Set[str]) -> bool:
    """Compiled code that every start reads: LZ4 (its shared objects are decompressed once, into the
    extraction cache, or are small)."""
    return name.endswith(".pyc") and name in startup


def _cold_native(member: Member, unreached: Set[str]) -> bool:
    """A shared object no import of the app reaches: xz, decompressed once per machine if ever
    (archive/xz.py)."""
    return member.name in unreached and is_elf(member.data)


def every_member_level(compress: bool | int | None) -> int | None:
    """The level write_archive compresses every member at: only for `--compress N`."""
    return None if compress is None or isinstance(compress, bool) else compress


def manifest_record(compress: bool | int | None, dictionaries: Iterable[str] = ()) -> dict:
    """What `.amber/build.json` says of the members' compression (`amber inspect` shows it); `dictionaries`
    are the kinds (".pyc", ".py") the archive holds a zstd dictionary for (archive/dictionaries.py)."""
    kinds = {"dictionaries": sorted(dictionaries)} if dictionaries and compress is not False else {}
    if compress is None:
        return {"policy": "default", "zstd_level": APP_LEVEL, "runtime_zstd_level": RUNTIME_LEVEL,
                "startup": "lz4", **kinds}
    if compress is False:
        return {"policy": "none", "zstd_level": None}
    return {"policy": "level", "zstd_level": every_member_level(compress), **kinds}
