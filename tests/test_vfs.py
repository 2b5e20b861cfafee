"""The in-binary file system layer (boot/vfs.py), installed in a host Python on a real archive.

One child process installs the layer (it wraps builtins.open and the os functions for the whole
process, so not in pytest's) and reports, as JSON, what each way apps reach their files answers;
each test checks one of them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from amber.archive.writer import Member, write_archive

EXERCISE = r"""
import errno, glob, json, os, pathlib, shutil, sys
import amber.boot.vfs as vfs  # its in-binary imports (__amber_hooks__...) resolve to amber.boot's modules
archive, scratch = sys.argv[1], sys.argv[2]
sys.path.insert(0, archive)
vfs.install(archive)
pkg = os.path.join(archive, "pkg")
seen = {}

def error(action):
    try:
        action()
    except OSError as e:
        return [type(e).__name__, errno.errorcode.get(e.errno)]
    return None

seen["text"] = open(os.path.join(pkg, "data.txt")).read()
with open(os.path.join(pkg, "data.txt"), "rb") as f:
    seen["binary"] = [f.read(5).decode(), f.name.rsplit("/", 1)[-1]]
seen["listdir"] = sorted(os.listdir(pkg))
seen["scandir"] = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(pkg))
seen["walk"] = sorted(os.path.relpath(os.path.join(d, f), archive) for d, _, fs in os.walk(archive) for f in fs)
seen["os.path"] = [os.path.exists(os.path.join(pkg, "data.txt")), os.path.isfile(pkg), os.path.isdir(pkg),
                   os.path.exists(os.path.join(pkg, "nope")), os.path.getsize(os.path.join(pkg, "data.txt")),
                   os.path.isdir(archive), os.path.isfile(archive)]
seen["glob"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(pkg, "**", "*.bin"), recursive=True))
p = pathlib.Path(pkg)
seen["pathlib"] = [(p / "data.txt").read_text().strip(), sorted(c.name for c in p.iterdir()), (p / "sub").is_dir()]
shutil.copy(os.path.join(pkg, "sub", "blob.bin"), scratch)
seen["shutil.copy"] = [open(os.path.join(scratch, "blob.bin"), "rb").read()[:3].hex(), os.listdir(scratch)]
st = os.stat(os.path.join(pkg, "data.txt"))
seen["stat"] = [oct(st.st_mode), st.st_size, st.st_mtime == os.stat(archive).st_mtime, oct(os.stat(pkg).st_mode)]
seen["access"] = [os.access(pkg, os.R_OK), os.access(os.path.join(pkg, "data.txt"), os.W_OK),
                  os.access(os.path.join(pkg, "data.txt"), os.X_OK), os.access(os.path.join(pkg, "x"), os.F_OK)]
seen["write"] = [error(lambda: open(os.path.join(pkg, "data.txt"), "w")),
                 error(lambda: open(os.path.join(pkg, "new"), "a"))]
seen["missing"] = [error(lambda: open(os.path.join(pkg, "missing.txt"))),
                   error(lambda: os.listdir(os.path.join(pkg, "data.txt")))]
with open(os.path.join(pkg, "data.txt"), "rb") as f:
    f.read(6)
    fd = f.fileno()
    st = os.fstat(fd)
    seen["fileno"] = [oct(st.st_mode), st.st_size, os.read(fd, 4).decode(),
                      os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")]
seen["fileno closed"] = error(lambda: os.fstat(fd))
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("vfs")
    archive = tmp / "app"
    with archive.open("wb") as f:
        f.write(b"\x7fELF" + b"\0" * 100)
        write_archive(f, [Member("pkg/__init__.py", b""), Member("pkg/data.txt", b"hello data\n", compress=True),
                          Member("pkg/sub/blob.bin", b"\x00\x01\x02" * 100)])
    scratch = tmp / "scratch"
    scratch.mkdir()
    out = subprocess.run([sys.executable, "-I", "-c", EXERCISE, str(archive), str(scratch)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize(("way", "answer"), [
    ("text", "hello data\n"),
    ("binary", ["hello", "data.txt"]),
    ("listdir", ["__init__.py", "data.txt", "sub"]),
    ("scandir", ["__init__.py", "data.txt", "sub/"]),
    ("walk", ["pkg/__init__.py", "pkg/data.txt", "pkg/sub/blob.bin"]),
    # exists, isfile(dir), isdir(dir), exists(missing), getsize, isdir(binary), isfile(binary)
    ("os.path", [True, False, True, False, 11, False, True]),
    ("glob", ["blob.bin"]),
    ("pathlib", ["hello data", ["__init__.py", "data.txt", "sub"], True]),
    ("shutil.copy", ["000102", ["blob.bin"]]),
    # a read-only file, the binary's times, a read-only directory
    ("stat", ["0o100444", 11, True, "0o40555"]),
    # R_OK on a directory, W_OK and X_OK on a data file, F_OK on nothing
    ("access", [True, False, False, False]),
    ("write", [["OSError", "EROFS"], ["OSError", "EROFS"]]),
    ("missing", [["FileNotFoundError", "ENOENT"], ["NotADirectoryError", "ENOTDIR"]]),
    # a real descriptor (a memfd), positioned like the file
    ("fileno", ["0o100444", 11, "data", True]),
    ("fileno closed", ["OSError", "EBADF"]),  # closed with the file
])
def test_paths_inside_the_archive_answer_like_a_read_only_tree(seen: dict, way: str, answer):
    assert seen[way] == answer
