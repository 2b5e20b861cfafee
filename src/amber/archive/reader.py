"""Reading an amber binary on the build side: its interpreter ELF and its archive members."""

from __future__ import annotations

import marshal
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amber.archive.dictionaries import dictionary_id, is_dictionary
from amber.archive.format import RECORD, TAIL_SIZE, Trailer, read_trailer
from amber.archive.packing import RUNTIME_LEVEL
from amber.archive.writer import DEFLATED, LZ4, STORED, XZ, ZSTD, Member, Packed
from amber.errors import AmberError

LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True)
class AmberBinary:
    path: Path
    trailer: Trailer

    def interpreter(self) -> bytes:
        """The ELF part: everything before the archive."""
        with self.path.open("rb") as f:
            return f.read(self.trailer.archive_offset)

    def members(self, wanted: Callable[[str], bool] | None = None) -> list[Member]:
        """The files of the archive (directories and the index are rebuilt by the writer), or those
        whose name `wanted` accepts.

        Read through the amber index, like the importer does, each member checked against
        its CRC; a compressed member keeps its compressed bytes (`packed`), so that writing
        it into another archive the same way copies them instead of compressing again (a zstd
        member says the runtime's level, used only if it must be compressed anew).
        """
        with self.path.open("rb") as f:
            f.seek(self.trailer.index_offset)
            index = f.read(self.trailer.index_size)
            if zlib.crc32(index) != self.trailer.index_crc:
                raise AmberError(f"{self.path}: damaged archive index (CRC mismatch)")
            names, records = marshal.loads(index)
            with zipfile.ZipFile(f) as zf:  # the modes: only the central directory has them
                modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
            records_of = {name: RECORD.unpack_from(records, number * RECORD.size) for number, name in enumerate(names)
                          if not name.endswith("/") and (wanted is None or wanted(name) or is_dictionary(name))}
            dictionaries = _Dictionaries()

            def read(name: str) -> tuple[int, bytes, bytes]:
                """(method, payload, data) of member `name`, checked."""
                header, csize, size, crc, method, *_time_date_mode = records_of[name]
                f.seek(header)
                local = f.read(LOCAL_HEADER_SIZE)
                f.seek(int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little"), 1)
                payload = f.read(csize)
                try:
                    data = _unpack(name, method, payload, size, dictionaries)
                except ValueError as exc:
                    raise AmberError(f"{self.path}: damaged archive member {name} ({exc})") from None
                if zlib.crc32(data) != crc or len(data) != size:
                    raise AmberError(f"{self.path}: damaged archive member {name} (CRC mismatch)")
                return method, payload, data

            # the dictionaries (archive/dictionaries.py), read when a member needs one
            dictionaries.load = lambda: [(name, read(name)[2]) for name in names if is_dictionary(name)]
            found = []
            for name in names:
                if name not in records_of or (wanted is not None and not wanted(name)):
                    continue
                method, payload, data = read(name)
                found.append(Member(name, data, compress=method == DEFLATED,
                                    executable=bool(modes.get(name, 0) & 0o111),
                                    packed=Packed(method, payload) if method != STORED else None,
                                    zstd=RUNTIME_LEVEL if method == ZSTD else None, lz4=method == LZ4,
                                    xz=method == XZ))
        return found


class _Dictionaries:
    """An archive's zstd dictionaries by id, read the first time a member needs one (most reads need none)."""

    def __init__(self) -> None:
        self.load: Callable[[], list[tuple[str, bytes]]] = list
        self._zstd: dict[int, bytes] | None = None

    def zstd(self) -> dict[int, bytes]:
        if self._zstd is None:
            self._zstd = {dictionary_id(data): data for _name, data in self.load()}
        return self._zstd


def _unpack(name: str, method: int, payload: bytes, size: int, dictionaries: _Dictionaries) -> bytes:
    if method == STORED:
        return payload
    if method == DEFLATED:
        return zlib.decompressobj(-15).decompress(payload, size + 1)
    if method == ZSTD:
        from amber.archive.codecs import zstd_decompress, zstd_frame_dictionary

        needs = zstd_frame_dictionary(payload) and not is_dictionary(name)  # a dictionary needs none
        return zstd_decompress(payload, size, dictionaries.zstd() if needs else {})
    if method == LZ4:
        from amber.archive.codecs import lz4_decompress

        return lz4_decompress(payload, size)
    if method == XZ:
        from amber.archive import xz

        return xz.decompress(payload, size)
    raise AmberError(f"archive member {name} uses an unknown compression method ({method})")


def open_binary(path: Path) -> AmberBinary:
    """Parse `path` as an amber binary, or raise a clear error."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - TAIL_SIZE))
            tail = f.read()
    except OSError as exc:
        raise AmberError(f"cannot read {path}: {exc.strerror}") from exc
    trailer = read_trailer(tail)
    if trailer is None:
        raise AmberError(f"{path} is not an amber binary (no amber archive trailer)")
    return AmberBinary(path, trailer)
