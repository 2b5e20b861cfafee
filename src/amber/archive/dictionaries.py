"""Zstandard dictionaries: what every .pyc (and every .py) file has in common, stored once per archive.

Members are compressed one by one, so that the importer reads one without the others. A file of a few
KB compresses poorly on its own: most of what it holds (bytecode idioms, the names of builtins and
common modules, docstring phrases, license headers) is spelled again in every other file. A zstd
dictionary holds such shared content once; a frame compressed with it refers into it, and names the
dictionary's id in its header. Measured on the runtime's standard library (535 modules, zstd level 19,
one frame per member):

    .pyc  10.5 MB raw: 4.13 MB alone, 2.79 MB with a 1 MiB dictionary (0.61 MB as LZ4)
    .py   10.2 MB raw: 2.42 MB alone, 1.60 MB with a 1 MiB dictionary (0.26 MB as zstd)

and an app's own code gains about as much from the same dictionaries (the Flask example's .pyc: 1.41 ->
1.14 MB), so one pair, trained when the runtime is built, serves every archive made from it; an app
build trains nothing and stays fast. Decompression is as fast as without a dictionary.

The code every start runs is LZ4, not zstd (archive/packing.py), and LZ4 takes a dictionary too: up to
64 KiB that every block may refer into, as if it came just before. Trained the same way on the same
.pyc files, it makes those blocks 14% smaller (the standard library's .pyc: 5.17 MB as LZ4 blocks, 4.45
MB with the dictionary), decompressed as fast. A raw block does not say whether it needs the dictionary,
so such blocks have a zip method of their own (writer.LZ4_DICT).

The dictionaries are archive members written like any other and copied with the runtime's standard
library into every app: `.amber/zstd/<kind>-<id>.dict` (the .pyc one LZ4, the .py one zstd), which the
runtime's C file layer (runtime/fs/archive.c) reads the first time a frame names its id, and
`.amber/lz4.dict`, stored, as every start reads it. The build side (archive/reader.py) reads them with
the zstandard and lz4 packages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amber.archive.writer import Member  # the writer imports this module

DICTIONARY_DIR = ".amber/zstd/"  # runtime/fs/archive.c finds `<this><kind>-<id>.dict` by the id
DICTIONARY_SUFFIX = ".dict"
LZ4_KIND = ".pyc"  # LZ4 is only for code (the code every start runs)
# The kinds of member that get a dictionary, and its size. Past 1 MiB the dictionary grows faster than
# what it saves.
KINDS = {".pyc": 1 << 20, ".py": 1 << 20}
# fastcover's parameters, fixed: its search for the best ones takes minutes and gains under 2%; with them
# fixed, training takes a tenth of a second and gives the same bytes for the same samples.
SEGMENT, DMER = 1024, 8
LZ4_DICTIONARY = ".amber/lz4.dict"  # runtime/fs/archive.c reads it by this name
LZ4_SIZE = 1 << 16  # LZ4 refers back at most 64 KiB
MIN_SAMPLE = 64  # shorter files (empty __init__.py) teach nothing, and zstd's trainer refuses them
MIN_SAMPLES = 1 << 20  # below this much sample data a dictionary costs more than it saves


def member_name(kind: str, dictionary: bytes) -> str:
    """`.amber/zstd/pyc-<id>.dict` for kind ".pyc": the runtime's C layer reads only the dictionary a
    frame names, found by the id in its name."""
    return f"{DICTIONARY_DIR}{kind.lstrip('.')}-{dictionary_id(dictionary)}{DICTIONARY_SUFFIX}"


def is_dictionary(name: str) -> bool:
    """A zstd or the LZ4 dictionary: archive metadata, read before the members that need it."""
    return name == LZ4_DICTIONARY or is_zstd_dictionary(name)


def is_zstd_dictionary(name: str) -> bool:
    return name.startswith(DICTIONARY_DIR) and name.endswith(DICTIONARY_SUFFIX)


def train(members: Iterable[Member]) -> list[Member]:
    """A zstd dictionary member per kind, and the LZ4 one, trained on `members` of that kind (in name
    order, so the same members give the same bytes). The .pyc zstd dictionary is LZ4, read at the first
    import of a zstd .pyc (0.4 ms); the .py one zstd, read only by tracebacks and inspect; the LZ4
    dictionary stored."""
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
        if kind == LZ4_KIND:
            made.append(Member(LZ4_DICTIONARY, zstandard.train_dictionary(LZ4_SIZE, samples, k=SEGMENT,
                                                                          d=DMER).as_bytes()))
    return made


def by_kind(members: Iterable[Member]) -> dict[str, bytes]:
    """{".pyc": dictionary bytes, ...}: the zstd dictionaries among `members`, for compressing new members."""
    return {"." + m.name[len(DICTIONARY_DIR):].partition("-")[0]: m.data for m in members
            if is_zstd_dictionary(m.name)}


def lz4_dictionary(members: Iterable[Member]) -> bytes | None:
    """The LZ4 dictionary among `members`, if any."""
    return next((m.data for m in members if m.name == LZ4_DICTIONARY), None)


def by_id(dictionaries: Mapping[str, bytes] | Iterable[bytes]) -> dict[int, bytes]:
    """{dictionary id: bytes}: what a frame's header names, for decompressing it."""
    values = dictionaries.values() if isinstance(dictionaries, Mapping) else dictionaries
    return {dictionary_id(d): d for d in values}


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
