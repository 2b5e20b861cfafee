"""Writing an amber archive: deterministic zip members, the index, the trailer.

Determinism: members are written in sorted order with a fixed timestamp
(SOURCE_DATE_EPOCH, clamped to the zip epoch), fixed permissions and a fixed
compression level, so the same inputs give the same bytes.
"""

from __future__ import annotations

import os
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from amber.archive.format import INDEX_NAME, RECORD, Trailer

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip can hold
MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Member:
    """One file to store: its name in the archive, its bytes, whether to deflate it."""

    name: str
    data: bytes
    compress: bool = False
    executable: bool = False


def fixed_date_time() -> tuple[int, int, int, int, int, int]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", ZIP_EPOCH))
    return time.gmtime(max(epoch, ZIP_EPOCH))[:6]


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


def write_archive(out: BinaryIO, members: Iterable[Member], flags: int = 0) -> None:
    """Append an amber archive holding `members` at `out`'s current position."""
    by_name: dict[str, Member] = {}
    for member in members:
        if member.name in by_name:
            raise ValueError(f"duplicate archive member {member.name}")
        by_name[member.name] = member
    date_time = fixed_date_time()
    dostime, dosdate = _dos(date_time)
    archive_offset = out.tell()
    names = sorted(set(by_name) | _directories(by_name))
    index_names: list[str] = []
    records = bytearray()
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time)
            info.create_system = 3  # unix, so external_attr holds the mode bits
            member = by_name.get(name)
            if member is None:  # a directory
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = (0o100755 if member.executable else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED if member.compress else zipfile.ZIP_STORED
                zf.writestr(info, member.data, compresslevel=9 if member.compress else None)
            if info.compress_size > MAX_U32 or info.file_size > MAX_U32:
                raise ValueError(f"{name} is larger than 4 GiB")
            index_names.append(name)
            records += RECORD.pack(info.header_offset, info.compress_size, info.file_size, info.CRC,
                                   info.compress_type, dostime, dosdate)
        index = marshal_index(index_names, bytes(records))
        info = zipfile.ZipInfo(INDEX_NAME, date_time)
        info.create_system = 3
        info.external_attr = 0o100644 << 16
        index_header = out.tell()
        # Data starts after the 30-byte local header and the name (no extra field).
        index_offset = index_header + 30 + len(INDEX_NAME.encode())
        zf.writestr(info, index)
        if info.header_offset != index_header:
            raise AssertionError("zip writer moved the index member")
        zf.comment = Trailer(flags, index_offset, len(index), archive_offset, zlib.crc32(index)).pack()
