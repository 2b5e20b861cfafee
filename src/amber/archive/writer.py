"""Writing an amber archive: deterministic zip members, the index, the trailer.

Determinism: members are written in sorted order with a fixed timestamp (the
zip epoch unless the caller passes another: nothing is read from the
environment), fixed permissions and a fixed compression level, so the same
inputs give the same bytes.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from amber.archive import dictionaries
from amber.archive.format import INDEX_NAME, RECORD, Trailer

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip can hold
MAX_U32 = 0xFFFFFFFF
STORED, DEFLATED, ZSTD, XZ = 0, 8, 93, 95  # zip method numbers (APPNOTE 4.4.5)
# amber's own method: one raw LZ4 block, for the code every start reads (runtime/fs/amber_fs.h has the
# same number; APPNOTE assigns none to LZ4). zipfile learns it in a running binary (boot/zipzstd.py).
LZ4 = 0x4C34
DEFLATE_LEVEL = 9
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
END_RECORD = struct.Struct("<4sHHHHIIH")
ZIP64_END_RECORD = struct.Struct("<4sQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<4sIQI")
# Members zstd never touches: amber's own metadata, which `amber inspect` reads with any Python's zipfile.
PLAIN_PREFIX = ".amber/"


@dataclass(frozen=True)
class Packed:
    """A member's bytes as some archive already holds them: written again as they are, not recompressed."""

    method: int
    payload: bytes


@dataclass(frozen=True)
class Member:
    """One file to store: its name in the archive, its bytes, how to compress it (zstd, LZ4, xz, deflate or
    not)."""

    name: str
    data: bytes
    compress: bool = False
    executable: bool = False
    packed: Packed | None = None  # the compressed bytes this member was read with, if any
    zstd: int | None = None  # Zstandard at this level (over `compress`), unless that saves too little
    lz4: bool = False  # LZ4 (over `compress`; `zstd` wins), unless that saves too little
    xz: bool = False  # xz (over `compress` and `lz4`; `zstd` wins), unless that saves too little (archive/xz.py)


def _date_time(timestamp: int) -> tuple[int, int, int, int, int, int]:
    """UTC calendar fields of `timestamp` (seconds), clamped to the earliest time a zip holds."""
    return time.gmtime(max(timestamp, ZIP_EPOCH))[:6]


def _directories(names: Iterable[str]) -> set[str]:
    dirs = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return dirs


def _dos(date_time: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time
    return (hour << 11 | minute << 5 | second // 2), ((year - 1980) << 9 | month << 5 | day)


def marshal_index(names: list[str], records: bytes) -> bytes:
    """marshal.dumps((tuple(names), records)), written out by hand in marshal's format 4.

    marshal.dumps flags an object for back-references when its reference count is above one,
    which differs between interpreters (3.11's vs 3.13's, immortal strings), so the same index
    would come out as different bytes depending on the Python running amber. Without references
    the bytes depend on the names alone; marshal.loads reads them like any marshal data.
    """
    out = bytearray(b"(" + struct.pack("<I", 2))  # TYPE_TUPLE of 2
    out += b"(" + struct.pack("<I", len(names))
    for name in names:
        data = name.encode("utf-8", "surrogatepass")
        if name.isascii() and len(data) < 256:
            out += b"z" + bytes([len(data)]) + data  # TYPE_SHORT_ASCII
        else:
            out += b"u" + struct.pack("<I", len(data)) + data  # TYPE_UNICODE
    out += b"s" + struct.pack("<I", len(records)) + records  # TYPE_STRING (bytes)
    return bytes(out)


# A zstd or LZ4 payload must save this share of a member's size, or the member is stored: already
# compressed files (wheels, images) and tiny ones cost a decompression at every read for nothing.
MIN_SAVING = 0.03


@dataclass(frozen=True)
class _Dictionaries:
    """The zstd dictionaries an archive holds (archive/dictionaries.py): by kind, and their ids."""

    kinds: dict[str, bytes]
    ids: frozenset[int]

    @classmethod
    def among(cls, members: Iterable[Member]) -> _Dictionaries:
        kinds = dictionaries.by_kind(members)
        return cls(kinds, frozenset(dictionaries.by_id(kinds.values())))


def _method(member: Member, zstd_level: int | None) -> int:
    if member.data and (not member.name.startswith(PLAIN_PREFIX) or dictionaries.is_dictionary(member.name)):
        # a dictionary is metadata only the C file layer and amber read: compressed as its member says
        if zstd_level is not None and not dictionaries.is_dictionary(member.name) or member.zstd is not None:
            return ZSTD
        if member.xz:
            return XZ
        if member.lz4:
            return LZ4
    return DEFLATED if member.compress else STORED


def _payload(member: Member, method: int, zstd_level: int | None, held: _Dictionaries,
             xz_cache: Path | None = None) -> tuple[int, bytes]:
    """(method, the member's bytes as it stores them): reused from `packed` when it is already in that
    method; a zstd, LZ4 or xz payload that saves less than MIN_SAVING is stored instead. A new zstd frame
    uses the archive's dictionary for the member's kind; xz payloads are kept in `xz_cache`."""
    if method == STORED:
        return method, member.data
    if member.packed is not None and member.packed.method == method:
        return method, member.packed.payload
    if method == DEFLATED:
        deflate = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
        return method, deflate.compress(member.data) + deflate.flush()
    from amber.archive.codecs import lz4_compress, zstd_compress

    if method == LZ4:
        payload = lz4_compress(member.data)
    elif method == XZ:
        from amber.archive import xz

        payload = xz.compress(member.data, xz_cache)
    else:
        level = member.zstd if zstd_level is None or dictionaries.is_dictionary(member.name) else zstd_level
        assert level is not None
        kind = dictionaries.kind_of(member.name)
        payload = zstd_compress(member.data, level, held.kinds.get(kind) if kind else None)
    if len(payload) > len(member.data) * (1 - MIN_SAVING):
        return STORED, member.data
    return method, payload


def _check_dictionary(name: str, payload: bytes, held: frozenset[int]) -> None:
    """A copied zstd frame must find the dictionary it was made with in the archive it goes into."""
    from amber.archive.codecs import zstd_frame_dictionary

    wanted = zstd_frame_dictionary(payload)
    if wanted and wanted not in held:
        raise ValueError(f"{name}: compressed with zstd dictionary {wanted}, which the archive does not hold")


class _ZipWriter:
    """Local headers and data as they come, the central directory and end records at the end."""

    def __init__(self, out: BinaryIO, timestamp: int) -> None:
        self.out = out
        self.start = out.tell()
        self.central = bytearray()
        self.count = 0
        self.dostime, self.dosdate = _dos(_date_time(timestamp))

    def put(self, name: str, method: int, payload: bytes, size: int, crc: int, external_attr: int) -> int:
        """Write one member; returns the absolute offset of its local header."""
        encoded = name.encode("utf-8")
        utf8 = 0 if name.isascii() else 0x800
        version = 20 if method in (STORED, DEFLATED) else 63
        header = self.out.tell()
        if header - self.start > MAX_U32 or len(payload) > MAX_U32 or size > MAX_U32:
            raise ValueError(f"{name}: archives and members over 4 GiB are not supported")
        self.out.write(LOCAL_HEADER.pack(b"PK\x03\x04", version, utf8, method, self.dostime, self.dosdate, crc,
                                         len(payload), size, len(encoded), 0) + encoded)
        self.out.write(payload)
        self.central += CENTRAL_HEADER.pack(b"PK\x01\x02", 3 << 8 | version, version, utf8, method, self.dostime,
                                            self.dosdate, crc, len(payload), size, len(encoded), 0, 0, 0, 0,
                                            external_attr, header - self.start) + encoded
        self.count += 1
        return header

    def finish(self, comment: bytes) -> None:
        """The central directory, zip64 end records when there are over 65,535 members, the end record."""
        directory = self.out.tell() - self.start
        self.out.write(self.central)
        count = self.count
        if count > 0xFFFF:
            end64 = self.out.tell() - self.start
            self.out.write(ZIP64_END_RECORD.pack(b"PK\x06\x06", ZIP64_END_RECORD.size - 12, 45, 45, 0, 0, count,
                                                 count, len(self.central), directory))
            self.out.write(ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, end64, 1))
            count = 0xFFFF
        self.out.write(END_RECORD.pack(b"PK\x05\x06", 0, 0, count, count, len(self.central), directory,
                                       len(comment)) + comment)


def write_archive(out: BinaryIO, members: Iterable[Member], flags: int = 0, zstd_level: int | None = None,
                  timestamp: int = ZIP_EPOCH, xz_cache: Path | None = None) -> None:
    """Append an amber archive holding `members` at `out`'s current position.

    A standard zip (local headers, central directory, end record whose comment is the
    amber trailer), written by hand so that members already compressed elsewhere (the
    runtime's stdlib) are copied as they are and Zstandard (method 93) can be written.
    A member is Zstandard-compressed at its own `zstd` level, or, with `zstd_level`, every
    member but amber's metadata is, at that level; .pyc and .py members with the dictionaries
    among `members` (archive/dictionaries.py); an `xz` member's payload is kept in `xz_cache`. Every
    member carries `timestamp` (seconds since 1970; the zip epoch by default: no member
    time is ever read, the .pyc files are hash-based).
    """
    by_name: dict[str, Member] = {}
    for member in members:
        if member.name in by_name:
            raise ValueError(f"duplicate archive member {member.name}")
        by_name[member.name] = member
    held = _Dictionaries.among(by_name.values())
    zipped = _ZipWriter(out, timestamp)
    index_names: list[str] = []
    records = bytearray()
    for name in sorted(set(by_name) | _directories(by_name)):
        member = by_name.get(name)
        if member is None:  # a directory
            method, payload, crc, size, mode = STORED, b"", 0, 0, 0o40755
            header = zipped.put(name, method, payload, size, crc, (mode << 16) | 0x10)
        else:
            method, payload = _payload(member, _method(member, zstd_level), zstd_level, held, xz_cache)
            if method == ZSTD and member.packed is not None:
                _check_dictionary(name, payload, held.ids)
            crc, size = zlib.crc32(member.data), len(member.data)
            mode = 0o100755 if member.executable else 0o100644
            header = zipped.put(name, method, payload, size, crc, mode << 16)
        index_names.append(name)
        records += RECORD.pack(header, len(payload), size, crc, method, zipped.dostime, zipped.dosdate, mode)
    index = marshal_index(index_names, bytes(records))
    index_header = zipped.put(INDEX_NAME, STORED, index, len(index), zlib.crc32(index), 0o100644 << 16)
    # Data starts after the 30-byte local header and the name (no extra field).
    index_offset = index_header + LOCAL_HEADER.size + len(INDEX_NAME.encode())
    zipped.finish(Trailer(flags, index_offset, len(index), zipped.start, zlib.crc32(index)).pack())
