"""The in-binary file system layer (boot/vfs.py), exercised by a host Python on a real archive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from amber.archive.writer import Member, write_archive
from amber.boot import BOOT_DIR

EXERCISE = r"""
import errno, glob, importlib.util, io, os, pathlib, shutil, sys
archive, scratch = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("vfs", sys.argv[3])
vfs = importlib.util.module_from_spec(spec); spec.loader.exec_module(vfs)
sys.path.insert(0, archive)
vfs.install(archive)
pkg = os.path.join(archive, "pkg")
out = []
out.append(open(os.path.join(pkg, "data.txt")).read())
with open(os.path.join(pkg, "data.txt"), "rb") as f:
    out.append(repr(f.read(5)) + " " + f.name.rsplit("/", 1)[-1])
out.append(sorted(os.listdir(pkg)))
out.append(sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(pkg)))
out.append(sorted(os.path.relpath(os.path.join(d, f), archive) for d, _, fs in os.walk(archive) for f in fs))
out.append([os.path.exists(os.path.join(pkg, "data.txt")), os.path.isfile(pkg), os.path.isdir(pkg),
            os.path.exists(os.path.join(pkg, "nope")), os.path.getsize(os.path.join(pkg, "data.txt")),
            os.path.isdir(archive), os.path.isfile(archive)])
out.append(sorted(os.path.basename(p) for p in glob.glob(os.path.join(pkg, "**", "*.bin"), recursive=True)))
p = pathlib.Path(pkg)
out.append([(p / "data.txt").read_text().strip(), sorted(c.name for c in p.iterdir()), (p / "sub").is_dir()])
shutil.copy(os.path.join(pkg, "sub", "blob.bin"), scratch)
out.append(open(os.path.join(scratch, "blob.bin"), "rb").read()[:3])
st = os.stat(os.path.join(pkg, "data.txt"))
out.append([oct(st.st_mode), st.st_size, st.st_mtime == os.stat(archive).st_mtime, oct(os.stat(pkg).st_mode)])
out.append([os.access(pkg, os.R_OK), os.access(os.path.join(pkg, "data.txt"), os.W_OK),
            os.access(os.path.join(pkg, "data.txt"), os.X_OK), os.access(os.path.join(pkg, "x"), os.F_OK)])
for action in (lambda: open(os.path.join(pkg, "data.txt"), "w"), lambda: open(os.path.join(pkg, "new"), "a")):
    try:
        action()
    except OSError as e:
        out.append(errno.errorcode[e.errno])
for action in (lambda: open(os.path.join(pkg, "missing.txt")), lambda: os.listdir(os.path.join(pkg, "data.txt"))):
    try:
        action()
    except OSError as e:
        out.append(type(e).__name__)
out.append(os.listdir(scratch))
with open(os.path.join(pkg, "data.txt"), "rb") as f:
    f.read(6)
    fd = f.fileno()
    st = os.fstat(fd)
    out.append([oct(st.st_mode), st.st_size, os.read(fd, 4), os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")])
try:
    os.fstat(fd)
except OSError as e:
    out.append(type(e).__name__)
print(repr(out))
"""


def test_archive_paths_answer_like_a_read_only_tree(tmp_path: Path):
    archive = tmp_path / "app"
    with archive.open("wb") as f:
        f.write(b"\x7fELF" + b"\0" * 100)
        write_archive(f, [Member("pkg/__init__.py", b""), Member("pkg/data.txt", b"hello data\n", compress=True),
                          Member("pkg/sub/blob.bin", b"\x00\x01\x02" * 100)])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = subprocess.run([sys.executable, "-I", "-c", EXERCISE, str(archive), str(scratch), str(BOOT_DIR / "vfs.py")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = eval(out.stdout)
    assert result[0] == "hello data\n"
    assert result[1] == "b'hello' data.txt"
    assert result[2] == ["__init__.py", "data.txt", "sub"]
    assert result[3] == ["__init__.py", "data.txt", "sub/"]
    assert result[4] == ["pkg/__init__.py", "pkg/data.txt", "pkg/sub/blob.bin"]
    assert result[5] == [True, False, True, False, 11, False, True]
    assert result[6] == ["blob.bin"]
    assert result[7] == ["hello data", ["__init__.py", "data.txt", "sub"], True]
    assert result[8] == b"\x00\x01\x02"
    assert result[9] == ["0o100444", 11, True, "0o40555"]
    assert result[10] == [True, False, False, False]
    assert result[11:13] == ["EROFS", "EROFS"]
    assert result[13:15] == ["FileNotFoundError", "NotADirectoryError"]
    assert result[15] == ["blob.bin"]
    assert result[16] == ["0o100444", 11, b"data", True]  # a real descriptor, positioned like the file
    assert result[17] == "OSError"  # closed with the file
