"""The amber archive format: a standard zip appended to an ELF, plus a one-read index.

Standard tools (unzip, python -m zipfile) read the archive as a zip with a
prefix. For fast start-up, the zip also holds one member, `.amber/index`:
marshal((names, records)), the member names in archive order and one packed
32-byte RECORD per name. Loading it creates one string per name and nothing
else; the importer decodes a record only when that member is used. The
end-of-central-directory comment is a fixed 40-byte trailer that points at it.
The launcher (runtime/launcher.c) and the patched zipimport
(runtime/patches/0001-zipimport-amber-index.patch) read the same trailer.

Trailer (little endian):
    magic[8]  b"AMBER\\0\\1\\0"
    flags     u32   bit 0: the archive holds an app (see FLAG_APP)
    index_crc u32   crc32 of the index data, checked before the index is unmarshalled
    index_offset u64   absolute offset of the index member's data
    index_size   u64
    archive_offset u64 absolute offset of the first local file header
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"AMBER\x00\x01\x00"
# The trailer's fields in order (struct codes, little endian). The launcher (C), the patched zipimport
# and docs/ARCHITECTURE.md read the trailer by the offsets TRAILER_FIELDS derives from this;
# tests/test_archive.py checks each of them against it, so this is the one description of the format.
TRAILER_LAYOUT = (("magic", "8s"), ("flags", "I"), ("index_crc", "I"), ("index_offset", "Q"), ("index_size", "Q"),
                  ("archive_offset", "Q"))
TRAILER = struct.Struct("<" + "".join(code for _, code in TRAILER_LAYOUT))
# name -> (offset in the trailer, size in bytes)
TRAILER_FIELDS = {name: (struct.calcsize("<" + "".join(c for _, c in TRAILER_LAYOUT[:i])), struct.calcsize("<" + code))
                  for i, (name, code) in enumerate(TRAILER_LAYOUT)}
TRAILER_SIZE = TRAILER.size  # 40
EOCD_SIZE = 22
TAIL_SIZE = EOCD_SIZE + TRAILER_SIZE
INDEX_NAME = ".amber/index"
# One index record per member name, in order: the absolute offset of its local header, its compressed
# size, size, crc32, compression method, DOS time and date, its Unix mode (type and permission bits, as the
# central directory's external attributes carry it: the C file layer answers stat and X_OK from it), then
# padding to 32 bytes.
RECORD_LAYOUT = (("header_offset", "Q"), ("compressed_size", "I"), ("size", "I"), ("crc", "I"), ("method", "H"),
                 ("dos_time", "H"), ("dos_date", "H"), ("mode", "H"))
RECORD = struct.Struct("<" + "".join(code for _, code in RECORD_LAYOUT) + "4x")
# name -> (offset in the record, size in bytes)
RECORD_FIELDS = {name: (struct.calcsize("<" + "".join(c for _, c in RECORD_LAYOUT[:i])), struct.calcsize("<" + code))
                 for i, (name, code) in enumerate(RECORD_LAYOUT)}
FLAG_APP = 1

assert TRAILER_SIZE == 40 and RECORD.size == 32


@dataclass(frozen=True)
class Trailer:
    flags: int
    index_offset: int
    index_size: int
    archive_offset: int
    index_crc: int = 0

    def pack(self) -> bytes:
        return TRAILER.pack(MAGIC, self.flags, self.index_crc, self.index_offset, self.index_size,
                            self.archive_offset)


def read_trailer(tail: bytes) -> Trailer | None:
    """Parse the last TAIL_SIZE bytes of a file; None if it is not an amber archive."""
    if len(tail) < TAIL_SIZE:
        return None
    tail = tail[-TAIL_SIZE:]
    if tail[:4] != b"PK\x05\x06" or int.from_bytes(tail[20:22], "little") != TRAILER_SIZE:
        return None
    magic, flags, index_crc, index_offset, index_size, archive_offset = TRAILER.unpack(tail[EOCD_SIZE:])
    if magic != MAGIC:
        return None
    return Trailer(flags, index_offset, index_size, archive_offset, index_crc)
