"""Seed inputs for fuzz/targets.py: a small real amber archive and small real shared objects.

Run by the host's amber environment: `python fuzz/seeds.py DIR` writes DIR/index/*, DIR/zstd/*, DIR/lz4/* and DIR/elf/*.
"""

import io
import sys
import zlib
from pathlib import Path

from amber.archive.codecs import lz4_compress, zstd_compress
from amber.archive.writer import Member, write_archive

LIBDIRS = (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"))


def main() -> None:
    out = Path(sys.argv[1])
    (out / "index").mkdir(parents=True, exist_ok=True)
    (out / "elf").mkdir(parents=True, exist_ok=True)
    members = [Member("pkg/__init__.py", b"X = 1\n" * 40, compress=True), Member("pkg/data.bin", b"\x00\x01" * 30),
               Member("mod.pyc", b"\xf3\r\r\n" + b"\x00" * 60),
               Member("pkg/zstd.py", b"def f(x):\n    return x * 2\n" * 20, zstd=9),
               Member("pkg/hot.pyc", b"\xf3\r\r\n" + b"LOAD_CONST " * 40, lz4=True)]
    buf = io.BytesIO()
    buf.write(b"\x7fELF-stand-in-for-the-interpreter")
    write_archive(buf, members, flags=1)
    (out / "index" / "archive").write_bytes(buf.getvalue())
    # zstd: the size the member's record gives, then one frame (as amber's writer makes them).
    (out / "zstd").mkdir(parents=True, exist_ok=True)
    for number, text in enumerate((b"", b"amber " * 300, bytes(range(256)) * 8)):
        frame = zstd_compress(text, 3)
        (out / "zstd" / str(number)).write_bytes(len(text).to_bytes(4, "little") + frame)
    # lz4: the size and CRC the member's record gives, then one raw block.
    (out / "lz4").mkdir(parents=True, exist_ok=True)
    for number, text in enumerate((b"", b"amber " * 300, bytes(range(256)) * 8)):
        record = len(text).to_bytes(4, "little") + zlib.crc32(text).to_bytes(4, "little")
        (out / "lz4" / str(number)).write_bytes(record + lz4_compress(text))
    elves = [p for d in LIBDIRS if d.is_dir() for p in d.glob("lib*.so*")
             if p.is_file() and 4096 < p.stat().st_size < 65536 and p.read_bytes()[:4] == b"\x7fELF"]
    small = sorted(elves, key=lambda p: p.stat().st_size)[:3]
    for path in small:
        (out / "elf" / path.name).write_bytes(path.read_bytes())


if __name__ == "__main__":
    main()
