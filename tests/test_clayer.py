"""Issue #17, first steps: C code's open/fopen/stat/access/opendir/realpath of paths under the binary read
its archive.

The runtime defines these libc functions (runtime/amber_fs.c) and exports them, so every shared object
the process loads binds to them: OpenSSL inside the `_ssl` module reads certifi's CA bundle straight from
the archive, with nothing extracted; `os.open` (which the Python-level wrappers never saw), ctypes calls
of libc's fopen and stat, and mmap of the descriptor all work. Members stored, deflated and
zstd-compressed (`--compress`) are served; writing is EROFS; ordinary paths are libc's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.build import build_fixture
from helpers.proc import run

pytestmark = pytest.mark.runtime

CHECKS = r"""
import ctypes, errno, json, mmap, os, ssl, sys
import certifi, zipunsafe
binary = sys.executable
words = os.path.join(os.path.dirname(zipunsafe.__file__), "data", "words.txt")
seen = {}
# OpenSSL (C, inside the _ssl module loaded from memory) opens the CA bundle by its path in the archive,
# the path next to certifi's __file__ (certifi.where() goes through importlib.resources.as_file, which
# copies a zipimported package's resource to a temporary file)
bundle = os.path.join(os.path.dirname(certifi.__file__), "cacert.pem")
context = ssl.create_default_context(cafile=bundle)
seen["openssl_roots"] = context.cert_store_stats()["x509_ca"] > 100
seen["bundle_inside"] = bundle.startswith(binary + "/")
# os.open goes straight to C's open(): a sealed memory file holding the member
fd = os.open(words, os.O_RDONLY)
seen["os_open"] = [os.read(fd, 5).decode(), os.fstat(fd).st_size == len(open(words, "rb").read())]
with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as view:
    seen["mmap"] = bytes(view[:5]).decode()
os.close(fd)
for path in (binary + "//zipunsafe/./data/../data/words.txt",):
    fd = os.open(path, os.O_RDONLY); seen["normalized"] = os.read(fd, 5).decode(); os.close(fd)
def error(action):
    try:
        action()
    except OSError as e:
        return errno.errorcode[e.errno]
seen["write"] = error(lambda: os.open(words, os.O_WRONLY))
seen["create"] = error(lambda: os.open(words + ".new", os.O_WRONLY | os.O_CREAT, 0o644))
seen["missing"] = error(lambda: os.open(binary + "/zipunsafe/nope.txt", os.O_RDONLY))
seen["outside"] = error(lambda: os.open(binary + "/../no-such-file-anywhere", os.O_RDONLY))  # libc's answer
# libc's own fopen and stat, called from C through ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fgets.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
stream = libc.fopen(words.encode(), b"r")
line = ctypes.create_string_buffer(64)
if stream:
    libc.fgets(line, 64, stream)
    libc.fclose(stream)
seen["fopen"] = line.value.decode() if stream else errno.errorcode[ctypes.get_errno()]
seen["fopen_write"] = [libc.fopen(words.encode(), b"w"), errno.errorcode[ctypes.get_errno()]]
buffer = ctypes.create_string_buffer(256)
stat = getattr(libc, "stat", None) or getattr(libc, "__xstat")
result = stat(words.encode(), buffer) if stat.__name__ == "stat" else stat(1, words.encode(), buffer)
seen["c_stat"] = [result, int.from_bytes(buffer.raw[48:56], "little") == os.path.getsize(words),
                  oct(int.from_bytes(buffer.raw[24:28], "little"))]
seen["c_access"] = [libc.access(words.encode(), os.R_OK), libc.access(words.encode(), os.W_OK),
                    errno.errorcode[ctypes.get_errno()], libc.access((binary + "/zipunsafe").encode(), os.X_OK)]
# io.open_code, which the import system's file loaders read sources through (ansible's plugin loader
# makes SourceFileLoaders for files inside the binary), is C's open() as well
with __import__("io").open_code(words) as f:
    seen["open_code"] = f.read(5).decode()
# directories list through libc's opendir/readdir, realpath normalizes, nothing is a symbolic link
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
def c_listdir(path):
    handle = libc.opendir(path.encode())
    if not handle:
        return errno.errorcode[ctypes.get_errno()]
    names = []
    while True:
        entry = libc.readdir(handle)
        if not entry:
            break
        names.append(entry.contents.d_name.decode() + ("/" if entry.contents.d_type == 4 else ""))
    libc.closedir(handle)
    return sorted(names)
data = os.path.dirname(words)
seen["c_listdir"] = [c_listdir(data), c_listdir(words), c_listdir(data + "/nope"), bool(c_listdir("/proc"))]
seen["c_listdir_root"] = [name in c_listdir(binary + "/") for name in ("zipunsafe/", "certifi/", "json/")]
libc.realpath.restype = ctypes.c_char_p
libc.realpath.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
resolved = libc.realpath((binary + "//zipunsafe/./data/../data/words.txt").encode(), None)
seen["c_realpath"] = [resolved.decode() == words, libc.realpath((data + "/nope").encode(), None),
                      errno.errorcode[ctypes.get_errno()]]
libc.readlink.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
seen["c_readlink"] = [libc.readlink(words.encode(), ctypes.create_string_buffer(64), 64),
                      errno.errorcode[ctypes.get_errno()]]
# ordinary files are libc's
fd = os.open("/proc/self/exe", os.O_RDONLY)
seen["ordinary"] = [libc.access(b"/proc/self/exe", os.R_OK), os.read(fd, 4).hex()]
os.close(fd)
print(json.dumps(seen))
"""
EXPECTED = {
    "openssl_roots": True, "bundle_inside": True, "os_open": ["alpha", True], "mmap": "alpha", "normalized": "alpha",
    "write": "EROFS", "create": "EROFS", "missing": "ENOENT", "outside": "ENOTDIR", "fopen": "alpha\n",
    "fopen_write": [None, "EROFS"], "c_stat": [0, True, "0o100444"], "c_access": [0, -1, "EROFS", 0],
    "ordinary": [0, "7f454c46"],
    "c_listdir": [["nested/", "words.txt"], "ENOTDIR", "ENOENT", True], "c_listdir_root": [True, True, True],
    "c_realpath": [True, None, "ENOENT"], "c_readlink": [-1, "EINVAL"], "open_code": "alpha",
}


@pytest.fixture(scope="module", params=["default", "compress"])
def app(request, runtime: Path, tmp_path_factory) -> Path:
    """zipunsafe with certifi, whose CA bundle the extraction rule would otherwise materialize."""
    project_dir = tmp_path_factory.mktemp(request.param)
    flags = ["--no-extract", "certifi", *(["--compress"] if request.param == "compress" else [])]
    binary = build_fixture("zipunsafe", project_dir, *flags, "--requirements", str(_pins(project_dir)))
    return binary


def _pins(where: Path) -> Path:
    pins = where / "pins.txt"
    pins.write_text("certifi==2026.10.19.post1\n")
    return pins


def test_c_code_reads_files_inside_the_binary(app: Path, clean_env):
    out = run([app, "-c", CHECKS], env=dict(clean_env, AMBER_INTERPRETER="1"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == EXPECTED


@pytest.mark.root
def test_c_code_reads_files_inside_the_binary_in_an_empty_chroot(app: Path, chroot):
    chroot.add(app, "/app/zipunsafe", mode=0o755)
    chroot.mount_proc()
    out = chroot.run(["/app/zipunsafe", "-c", CHECKS], env={"AMBER_INTERPRETER": "1"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == EXPECTED
