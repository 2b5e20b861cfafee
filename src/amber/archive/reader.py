"""Reading an amber binary on the build side: its interpreter ELF and its archive members."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from amber.archive.format import INDEX_NAME, TAIL_SIZE, Trailer, read_trailer
from amber.archive.writer import Member
from amber.errors import AmberError


@dataclass(frozen=True)
class AmberBinary:
    path: Path
    trailer: Trailer

    def interpreter(self) -> bytes:
        """The ELF part: everything before the archive."""
        with self.path.open("rb") as f:
            return f.read(self.trailer.archive_offset)

    def members(self) -> list[Member]:
        """Every file of the archive (directories and the index are rebuilt by the writer)."""
        found = []
        with zipfile.ZipFile(self.path) as zf:
            for info in zf.infolist():
                if info.is_dir() or info.filename == INDEX_NAME:
                    continue
                found.append(Member(info.filename, zf.read(info), compress=info.compress_type != zipfile.ZIP_STORED,
                                    executable=bool((info.external_attr >> 16) & 0o111)))
        return found


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
