"""zstd dictionaries of the app's own files, one per kind of file that is many and alike.

The runtime's dictionaries (archive/dictionaries.py) are trained on the standard library, for code and
sources. An app's own files share more with each other than with the stdlib: the same license header in
every source of a package, its imports and idioms, generated code (an API client's thousand models), the
same catalog layout in every translation. Each member is compressed alone, so that a read decompresses
only it, and a file of a few KB alone compresses poorly. Measured at the app's level 9 on bench/'s apps:

    big (kubernetes, sympy, rich)   .py  54 MB raw: 9.4 MB with the runtime's dictionary, 8.2 with its own
    django                          .po  8.8 MB raw: 2.73 MB alone, 1.37 with a 128 KiB dictionary
                                    .mo  6.8 MB raw: 2.88 MB alone, 1.58 with a 64 KiB one

Neither sources nor data files are read at start (compiled code is, and keeps the runtime's small .pyc
dictionary: a frame's matches land anywhere in its dictionary, see archive/dictionaries.py), and the
runtime's C file layer reads a dictionary the first time a frame names its id, found by the id in its
member's name: `.amber/zstd/app.mo-<id>.dict`. It reads up to eight an archive; the runtime's two leave
room for MAX_OWN. Each member keeps whichever frame is smaller, with the app's dictionary or as the writer
would make it, and a dictionary goes in only if it saves more than its own stored size.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, replace

from amber.archive import dictionaries, packing
from amber.archive.codecs import zstd_compress
from amber.archive.writer import MIN_SAVING, PLAIN_PREFIX, ZSTD, Member, Packed
from amber.elf import is_elf

MAX_OWN = 6  # the C layer reads 8 dictionaries (runtime/fs/archive.c), the runtime's are 2
MIN_FILES = 16  # fewer files of a kind share too little for a dictionary to teach anything
SMALLEST, LARGEST = 1 << 16, 1 << 20  # a dictionary's size: a 64th of its samples, within these
DICTIONARY_LEVEL = 19  # as the runtime's source dictionary is stored
KIND = re.compile(r"\.[a-z0-9]{1,8}")  # the suffixes that name a kind (and a dictionary member)


@dataclass(frozen=True)
class OwnDictionary:
    """One dictionary of the app's: what build.json says of it."""

    kind: str  # ".py", ".mo", ...
    member: str
    size: int  # its bytes, as trained
    members: int  # the members compressed with it
    saved: int  # bytes saved over the runtime's dictionaries (or none), its own stored size taken off

    def as_json(self) -> dict:
        return {"kind": self.kind, "member": self.member, "bytes": self.size, "members": self.members,
                "saved": self.saved}


def with_own_dictionaries(members: list[Member], compress: bool | int | None,
                          runtime: dict[str, bytes]) -> tuple[list[Member], list[OwnDictionary]]:
    """`members` (the app's own, before packing.app_members) with the files that gain from it compressed with
    a dictionary trained on their kind, and those dictionaries' members. `runtime` is the runtime's
    dictionaries by kind (dictionaries.by_kind), which the writer would use otherwise. Nothing changes when
    nothing is compressed (--no-compress) or no kind is many enough for a dictionary to pay."""
    level = packing.every_member_level(compress) or (packing.APP_LEVEL if compress is None else None)
    if level is None:
        return members, []
    by_kind: dict[str, list[Member]] = defaultdict(list)
    for m in sorted(members, key=lambda m: m.name):
        if (kind := _kind_of(m)) is not None:
            by_kind[kind].append(m)
    taken = {0, *dictionaries.by_id(runtime.values())}  # a frame names its dictionary by id: one each
    made = []
    for kind, group in sorted(by_kind.items()):
        if (found := _trained(kind, group, level, runtime.get(kind), taken)) is not None:
            made.append(found)
            taken.add(dictionaries.dictionary_id(found[1].data))
    made = sorted(made, key=lambda found: -found[0].saved)[:MAX_OWN]
    packed = {name: payload for _, _, payloads in made for name, payload in payloads.items()}
    return ([replace(m, packed=Packed(ZSTD, packed[m.name])) if m.name in packed else m for m in members]
            + [member for _, member, _ in made], [own for own, _, _ in made])


def manifest_record(made: list[OwnDictionary]) -> dict:
    """What build.json's compression record adds for them (`amber inspect` names their kinds)."""
    return {"app_dictionaries": [own.as_json() for own in made]} if made else {}


def _trained(kind: str, group: list[Member], level: int, runtime_dictionary: bytes | None,
             taken: set[int]) -> tuple[OwnDictionary, Member, dict[str, bytes]] | None:
    """A dictionary trained on `group` (members of one kind, in name order), with the frames it makes smaller
    than the writer's; None if it would not pay, or its id is `taken`."""
    import zstandard

    samples = [m.data for m in group if len(m.data) >= dictionaries.MIN_SAMPLE]
    total = sum(map(len, samples))
    if total < dictionaries.MIN_SAMPLES or len(samples) < MIN_FILES:
        return None
    size = min(LARGEST, max(SMALLEST, 1 << (total // 64).bit_length() - 1))
    try:
        trained = zstandard.train_dictionary(size, samples, k=dictionaries.SEGMENT, d=dictionaries.DMER).as_bytes()
    except zstandard.ZstdError:  # samples the trainer can make nothing of
        return None
    if dictionaries.dictionary_id(trained) in taken:
        return None
    payloads: dict[str, bytes] = {}
    saved = 0
    for m in group:
        ours = zstd_compress(m.data, level, trained)
        theirs = _stored_size(zstd_compress(m.data, level, runtime_dictionary), m.data)
        if _stored_size(ours, m.data) < theirs:
            payloads[m.name] = ours
            saved += theirs - len(ours)
    stored = len(zstd_compress(trained, DICTIONARY_LEVEL))
    if saved <= stored:
        return None
    name = (f"{dictionaries.DICTIONARY_DIR}app{kind}-{dictionaries.dictionary_id(trained)}"
            f"{dictionaries.DICTIONARY_SUFFIX}")
    return (OwnDictionary(kind, name, len(trained), len(payloads), saved - stored),
            Member(name, trained, zstd=DICTIONARY_LEVEL), payloads)


def _stored_size(payload: bytes, data: bytes) -> int:
    """What the writer stores for `data` compressed to `payload`: the data itself if that saves too little."""
    return len(payload) if len(payload) <= len(data) * (1 - MIN_SAVING) else len(data)


def _kind_of(member: Member) -> str | None:
    """The kind of an app member the writer would compress new (not copied from the runtime's archive) and
    that no start reads: its suffix; None for compiled code, native code, amber's metadata and boot code."""
    name = member.name
    if not member.data or member.packed is not None or name.startswith(PLAIN_PREFIX):
        return None
    if name.startswith(packing.BOOT_PREFIX) and "/" not in name:
        return None
    kind = posixpath.splitext(posixpath.basename(name))[1].lower()
    if not KIND.fullmatch(kind) or kind == ".pyc" or is_elf(member.data):
        return None
    return kind
