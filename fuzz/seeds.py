"""Seed inputs for fuzz/targets.py: a small real amber archive and small real shared objects.

Run by the host's amber environment: `python fuzz/seeds.py DIR` writes DIR/index/* and DIR/elf/*.
"""

import io
import sys
from pathlib import Path

from amber.archive.writer import Member, write_archive

LIBDIRS = (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"))


def main() -> None:
    out = Path(sys.argv[1])
    (out / "index").mkdir(parents=True, exist_ok=True)
    (out / "elf").mkdir(parents=True, exist_ok=True)
    members = [Member("pkg/__init__.py", b"X = 1\n" * 40, compress=True), Member("pkg/data.bin", b"\x00\x01" * 30),
               Member("mod.pyc", b"\xf3\r\r\n" + b"\x00" * 60)]
    buf = io.BytesIO()
    buf.write(b"\x7fELF-stand-in-for-the-interpreter")
    write_archive(buf, members, flags=1)
    (out / "index" / "archive").write_bytes(buf.getvalue())
    elves = [p for d in LIBDIRS if d.is_dir() for p in d.glob("lib*.so*")
             if p.is_file() and 4096 < p.stat().st_size < 65536 and p.read_bytes()[:4] == b"\x7fELF"]
    small = sorted(elves, key=lambda p: p.stat().st_size)[:3]
    for path in small:
        (out / "elf" / path.name).write_bytes(path.read_bytes())


if __name__ == "__main__":
    main()
