"""Zstandard dictionaries: what every .pyc (and every .py) file has in common, stored once per archive.

Members are compressed one by one, so that the importer reads one without the others. A file of a few
KB compresses poorly on its own: most of what it holds (bytecode idioms, the names of builtins and
common modules, docstring phrases, license headers) is spelled again in every other file. A zstd
dictionary holds such shared content once; a frame compressed with it refers into it, and names the
dictionary's id in its header. Measured on the runtime's standard library (535 modules, zstd level 19,
one frame per member):

    .pyc  10.7 MB raw: 4.13 MB alone, 3.34 MB with a 256 KiB dictionary (0.14 MB as LZ4)
    .py   10.2 MB raw: 2.42 MB alone, 1.60 MB with a 1 MiB dictionary (0.26 MB as zstd)

and an app's own code gains about as much from the same dictionaries, so one pair, trained when the
runtime is built, serves every archive made from it; an app build trains nothing and stays fast.

The .pyc dictionary is kept small for speed, not size: a frame's matches land anywhere in its
dictionary, and a start that imports hundreds of zstd modules (Django's apps, found by computed names)
waits on the cache misses. Measured on bench/'s Django app, warm: 1.3% slower with a 512 KiB dictionary,
3.1% with 1 MiB, 0.7% with 128 KiB; 256 KiB gives up 0.1 MB of the 1 MiB one's saving, dictionary
counted in. The .py one is read only by tracebacks and inspect. The code every start runs is LZ4
(archive/packing.py), without a dictionary: LZ4 made those blocks 14% smaller with a 64 KiB one, and
Django's and numpy's starts 1.5% slower.

The dictionaries are archive members written like any other and copied with the runtime's standard
library into every app, `.amber/zstd/<kind>-<id>.dict` (the .pyc one LZ4, the .py one zstd), which the
runtime's C file layer (runtime/fs/archive.c) reads the first time a frame names its id. The build side
(archive/reader.py) reads them with the zstandard package.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amber.archive.writer import Member  # the writer imports this module

DICTIONARY_DIR = ".amber/zstd/"  # runtime/fs/archive.c finds `<this><kind>-<id>.dict` by the id
DICTIONARY_SUFFIX = ".dict"
# The kinds of member that get a dictionary, and its size (past 1 MiB a dictionary grows faster than what
# it saves; the .pyc one is smaller for speed, above).
KINDS = {".pyc": 1 << 18, ".py": 1 << 20}
# fastcover's parameters, fixed: its search for the best ones takes minutes and gains under 2%; with them
# fixed, training takes a tenth of a second and gives the same bytes for the same samples.
SEGMENT, DMER = 1024, 8
MIN_SAMPLE = 64  # shorter files (empty __init__.py) teach nothing, and zstd's trainer refuses them
MIN_SAMPLES = 1 << 20  # below this much sample data a dictionary costs more than it saves


def member_name(kind: str, dictionary: bytes) -> str:
    """`.amber/zstd/pyc-<id>.dict` for kind ".pyc": the runtime's C layer reads only the dictionary a
    frame names, found by the id in its name."""
    return f"{DICTIONARY_DIR}{kind.lstrip('.')}-{dictionary_id(dictionary)}{DICTIONARY_SUFFIX}"


def is_dictionary(name: str) -> bool:
    """A dictionary member: archive metadata that the members compressed with it need."""
    return name.startswith(DICTIONARY_DIR) and name.endswith(DICTIONARY_SUFFIX)


def train(members: Iterable[Member]) -> list[Member]:
    """A dictionary member per kind, trained on `members` of that kind (in name order, so the same members
    give the same bytes). The .pyc one is stored as LZ4, read at the first import of a zstd .pyc (0.1 ms);
    the .py one as zstd, read only by tracebacks and inspect."""
    import zstandard

    from amber.archive.writer import Member

    members = sorted(members, key=lambda m: m.name)
    made = []
    for kind, size in KINDS.items():
        samples = [m.data for m in members if m.name.endswith(kind) and len(m.data) >= MIN_SAMPLE]
        if sum(map(len, samples)) < MIN_SAMPLES:
            continue
        trained = zstandard.train_dictionary(size, samples, k=SEGMENT, d=DMER).as_bytes()
        code = kind == ".pyc"
        made.append(Member(member_name(kind, trained), trained, lz4=code, zstd=None if code else 19))
    return made


def by_kind(members: Iterable[Member]) -> dict[str, bytes]:
    """{".pyc": dictionary bytes, ...}: the zstd dictionaries among `members`, for compressing new members."""
    return {"." + m.name[len(DICTIONARY_DIR):].partition("-")[0]: m.data for m in members
            if is_dictionary(m.name)}


def by_id(dictionaries: Iterable[bytes]) -> dict[int, bytes]:
    """{dictionary id: bytes}: what a frame's header names, for decompressing it."""
    return {dictionary_id(d): d for d in dictionaries}


def dictionary_id(dictionary: bytes) -> int:
    """The id a zstd dictionary carries after its magic number (0: raw content, no id)."""
    if dictionary[:4] != b"\x37\xa4\x30\xec":
        return 0
    return int.from_bytes(dictionary[4:8], "little")


def kind_of(name: str) -> str | None:
    """The dictionary kind a member of this name is compressed with, if any."""
    for kind in KINDS:
        if name.endswith(kind):
            return kind
    return None
