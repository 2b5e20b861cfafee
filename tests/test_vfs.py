"""Paths inside the binary, as Python code reaches them: builtins.open, os, os.path, glob, pathlib,
shutil, importlib.resources. No Python wrapper answers them any more: the interpreter's own calls go
through the C file layer (runtime/fs/), so each way below checks that layer as apps use it.

One run of the zipunsafe binary reports, as JSON, what each way answers; each test checks one of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.build import build_fixture
from helpers.proc import run

pytestmark = pytest.mark.runtime

EXERCISE = r"""
import errno, glob, importlib.resources, json, os, pathlib, shutil, sys
binary, scratch = sys.executable, sys.argv[1]
pkg = os.path.join(binary, "zipunsafe", "data")
words = os.path.join(pkg, "words.txt")
seen = {}

def error(action):
    try:
        action()
    except OSError as e:
        return [type(e).__name__, errno.errorcode.get(e.errno)]
    return None

seen["text"] = open(words).read().split()[:2]
with open(words, "rb") as f:
    seen["binary"] = [f.read(5).decode(), f.name == words]
seen["listdir"] = sorted(os.listdir(pkg))
seen["scandir"] = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(pkg))
seen["walk"] = sorted(os.path.relpath(os.path.join(d, f), pkg) for d, _, fs in os.walk(pkg) for f in fs)
seen["os.path"] = [os.path.exists(words), os.path.isfile(pkg), os.path.isdir(pkg),
                   os.path.exists(os.path.join(pkg, "nope")), os.path.getsize(words) == len(open(words, "rb").read()),
                   os.path.isdir(binary), os.path.isfile(binary)]
seen["glob"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(pkg, "**", "*.json"), recursive=True))
p = pathlib.Path(pkg)
seen["pathlib"] = [(p / "words.txt").read_text().split()[0], sorted(c.name for c in p.iterdir()),
                   (p / "nested").is_dir()]
shutil.copy(os.path.join(pkg, "nested", "config.json"), scratch)
shutil.copytree(pkg, os.path.join(scratch, "tree"))
seen["shutil"] = [sorted(os.listdir(scratch)), sorted(os.listdir(os.path.join(scratch, "tree")))]
st = os.stat(words)
real = os.stat(binary)
seen["stat"] = [oct(st.st_mode), st.st_mtime == real.st_mtime, oct(os.stat(pkg).st_mode),
                st.st_ino == os.lstat(words).st_ino]
# every field a real file's stat has (sphinx, Jinja2 and pathlib read them): the binary's times and owner
seen["stat fields"] = [(st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns) == (real.st_atime_ns, real.st_mtime_ns,
                                                                             real.st_ctime_ns),
                       (st.st_uid, st.st_gid, st.st_dev, st.st_blksize) == (real.st_uid, real.st_gid, real.st_dev,
                                                                            real.st_blksize),
                       st.st_nlink, st.st_blocks == (st.st_size + 511) // 512, st.st_rdev, os.stat(pkg).st_nlink]
seen["access"] = [os.access(pkg, os.R_OK), os.access(words, os.W_OK), os.access(words, os.X_OK),
                  os.access(os.path.join(pkg, "x"), os.F_OK)]
seen["write"] = [error(lambda: open(words, "w")), error(lambda: open(os.path.join(pkg, "new"), "a")),
                 error(lambda: os.mkdir(os.path.join(pkg, "new")))]
seen["missing"] = [error(lambda: open(os.path.join(pkg, "missing.txt"))), error(lambda: os.listdir(words))]
with open(words, "rb", buffering=0) as f:
    f.read(6)
    fd = f.fileno()
    st = os.fstat(fd)
    seen["fileno"] = [oct(st.st_mode), st.st_size == os.stat(words).st_size, st.st_ino == os.stat(words).st_ino,
                      os.read(fd, 4).decode(), os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:amber:")]
seen["fileno closed"] = error(lambda: os.fstat(fd))
# a descriptor of a directory inside: os.listdir(fd), dir_fd= relative opens and stats, os.fwalk
dfd = os.open(pkg, os.O_RDONLY | os.O_DIRECTORY)
with open(os.open("words.txt", os.O_RDONLY, dir_fd=dfd), "rb") as f:
    seen["dir_fd"] = [sorted(os.listdir(dfd)), f.read(5).decode(), oct(os.stat("nested", dir_fd=dfd).st_mode),
                      oct(os.fstat(dfd).st_mode), os.access("words.txt", os.R_OK, dir_fd=dfd)]
os.close(dfd)
seen["fwalk"] = sorted(f for _, _, fs, _ in os.fwalk(pkg) for f in fs)
# the same paths reached another way: relative to the binary's directory, and through a symbolic link
os.chdir(os.path.dirname(binary))
relative = os.path.join(os.path.basename(binary), "zipunsafe", "data", "words.txt")
link = os.path.join(scratch, "link")
os.symlink(binary, link)
seen["other names"] = [open(relative).read(5), os.path.isdir(os.path.dirname(relative)),
                       sorted(os.listdir(os.path.join(link, "zipunsafe", "data"))),
                       os.path.realpath(os.path.join(link, "zipunsafe", "data", "nested"))
                       == os.path.join(pkg, "nested")]
# importlib.resources answers with real paths: as_file() copies nothing to a temporary file
files = importlib.resources.files("zipunsafe")
with importlib.resources.as_file(files / "data" / "words.txt") as path:
    seen["resources"] = [type(files).__name__, str(path) == words, path.read_text().split()[0]]
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def seen(runtime: Path, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("vfs")
    binary = build_fixture("zipunsafe", tmp)
    scratch = tmp / "scratch"
    scratch.mkdir()
    out = run([binary, "-c", EXERCISE, str(scratch)], env={"AMBER_INTERPRETER": "1", "PATH": "/usr/bin:/bin",
                                                           "HOME": str(tmp)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize(("way", "answer"), [
    ("text", ["alpha", "beta"]),
    ("binary", ["alpha", True]),
    ("listdir", ["nested", "words.txt"]),
    ("scandir", ["nested/", "words.txt"]),
    ("walk", ["nested/config.json", "words.txt"]),
    # exists, isfile(dir), isdir(dir), exists(missing), getsize, isdir(binary), isfile(binary)
    ("os.path", [True, False, True, False, True, False, True]),
    ("glob", ["config.json"]),
    ("pathlib", ["alpha", ["nested", "words.txt"], True]),
    ("shutil", [["config.json", "tree"], ["nested", "words.txt"]]),
    # a read-only file with the binary's times, a read-only directory, one inode whichever way
    ("stat", ["0o100444", True, "0o40555", True]),
    ("stat fields", [True, True, 1, True, 0, 2]),
    # R_OK on a directory, W_OK and X_OK on a data file, F_OK on nothing
    ("access", [True, False, False, False]),
    ("write", [["OSError", "EROFS"], ["OSError", "EROFS"], ["OSError", "EROFS"]]),
    ("missing", [["FileNotFoundError", "ENOENT"], ["NotADirectoryError", "ENOTDIR"]]),
    # a real descriptor (a sealed memfd) that fstat() reports as the member
    ("fileno", ["0o100444", True, True, "beta", True]),
    ("fileno closed", ["OSError", "EBADF"]),
    ("dir_fd", [["nested", "words.txt"], "alpha", "0o40555", "0o40555", True]),
    ("fwalk", ["config.json", "words.txt"]),
    ("other names", ["alpha", True, ["nested", "words.txt"], True]),
    ("resources", ["PosixPath", True, "alpha"]),
])
def test_paths_inside_the_archive_answer_like_a_read_only_tree(seen: dict, way: str, answer):
    assert seen[way] == answer
