"""Seed inputs for fuzz/targets.py: a small real amber archive and small real shared objects.

Run by the host's amber environment: `python fuzz/seeds.py DIR [RUNTIME]` writes DIR/index/*, DIR/zstd/*,
DIR/lz4/*, DIR/xz/* and DIR/elf/*; with RUNTIME (the runtime file the targets run on), zstd seeds made with its
dictionaries too, which the runtime's C layer reads from its own archive.
"""

import io
import sys
import zlib
from pathlib import Path

from amber.archive import dictionaries, xz
from amber.archive.codecs import lz4_compress, zstd_compress
from amber.archive.reader import open_binary
from amber.archive.writer import Member, write_archive

LIBDIRS = (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"))


def main() -> None:
    out = Path(sys.argv[1])
    (out / "index").mkdir(parents=True, exist_ok=True)
    (out / "elf").mkdir(parents=True, exist_ok=True)
    members = [Member("pkg/__init__.py", b"X = 1\n" * 40, compress=True), Member("pkg/data.bin", b"\x00\x01" * 30),
               Member("mod.pyc", b"\xf3\r\r\n" + b"\x00" * 60),
               Member("pkg/zstd.py", b"def f(x):\n    return x * 2\n" * 20, zstd=9),
               Member("pkg/hot.pyc", b"\xf3\r\r\n" + b"LOAD_CONST " * 40, lz4=True),
               Member("pkg/_cold.so", b"\x7fELF\x02\x01\x01" + b"\xe8\x00\x10\x00\x00\x90" * 60, xz=True)]
    buf = io.BytesIO()
    buf.write(b"\x7fELF-stand-in-for-the-interpreter")
    write_archive(buf, members, flags=1)
    (out / "index" / "archive").write_bytes(buf.getvalue())
    # zstd: the size the member's record gives, then one frame (as amber's writer makes them).
    (out / "zstd").mkdir(parents=True, exist_ok=True)
    held = open_binary(Path(sys.argv[2])).members(dictionaries.is_dictionary) if len(sys.argv) > 2 else []
    kinds = dictionaries.by_kind(held)
    samples = (b"", b"amber " * 300, bytes(range(256)) * 8)
    texts, frames = list(samples), [zstd_compress(text, 3) for text in samples]
    for dictionary in (kinds[kind] for kind in sorted(kinds)):
        texts += samples[1:]
        frames += [zstd_compress(text, 3, dictionary) for text in samples[1:]]
    for number, (text, frame) in enumerate(zip(texts, frames, strict=True)):
        (out / "zstd" / str(number)).write_bytes(len(text).to_bytes(4, "little") + frame)
    # lz4: the size and CRC the member's record gives, then one raw block.
    (out / "lz4").mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(samples):
        record = len(text).to_bytes(4, "little") + zlib.crc32(text).to_bytes(4, "little")
        (out / "lz4" / str(number)).write_bytes(record + lz4_compress(text))
    # xz: the same, then one stream (with the x86 branch filter for the ELF-looking one).
    (out / "xz").mkdir(parents=True, exist_ok=True)
    for number, text in enumerate((*samples, b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + b"\x3e\x00" + b"\xe8" * 500)):
        record = len(text).to_bytes(4, "little") + zlib.crc32(text).to_bytes(4, "little")
        (out / "xz" / str(number)).write_bytes(record + xz.compress(text))
    elves = [p for d in LIBDIRS if d.is_dir() for p in d.glob("lib*.so*")
             if p.is_file() and 4096 < p.stat().st_size < 65536 and p.read_bytes()[:4] == b"\x7fELF"]
    small = sorted(elves, key=lambda p: p.stat().st_size)[:3]
    for path in small:
        (out / "elf" / path.name).write_bytes(path.read_bytes())


if __name__ == "__main__":
    main()
