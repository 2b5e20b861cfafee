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
import os
from pathlib import Path

import pytest

from helpers.build import build_fixture
from helpers.proc import nomemfd, run

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
    "c_listdir": [["../", "./", "nested/", "words.txt"], "ENOTDIR", "ENOENT", True],
    "c_listdir_root": [True, True, True],
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


# -- a C extension of our own reading its data by path (tests/fixtures/cdata) ------------------------------------

CDATA_EXPECTED = {
    "fopen": "first line of the table", "mmap": "first", "stat": [36, 1], "openat": "deeper",
    "opendir": ["../", "./", "sub/", "table.db", "table.txt"], "scandir": [".", "..", "sub", "table.db", "table.txt"],
    "access": [1, 0, "Read-only file system"], "dlopen": 42,
    "sqlite": [["cat"], ["dog"]], "sqlite_write": "attempt to write a readonly database",
    "file": "cdata/_reader.cpython-313-x86_64-linux-gnu.so", "spawn": [7, 9],
}


@pytest.fixture(scope="module")
def cdata(runtime: Path, tmp_path_factory) -> Path:
    """The cdata fixture, its sibling library compiled and its database made first (as a wheel ships them), its
    wheel compiled against the runtime and tagged manylinux, then built into an app as any dependency is."""
    import sqlite3

    from helpers.build import AMBER, copy_fixture, manylinux_wheel

    where = tmp_path_factory.mktemp("cdata")
    project = copy_fixture("cdata", where)
    package = project / "src" / "cdata"
    run(["cc", "-shared", "-fPIC", "-o", package / "libsibling.so", package / "sibling.c"], check=True)
    run(["cc", "-static", "-o", package / "bin" / "tool", package / "bin" / "tool.c"], check=True)
    with sqlite3.connect(package / "data" / "table.db") as db:
        db.executescript("create table animals (id integer, name text); "
                         "insert into animals values (1, 'cat'), (2, 'dog');")
    db.close()
    # The extension's DT_RPATH names a directory of plugins outside the binary (test_bare_name_dlopen...).
    plugins = where / "plugins"
    plugins.mkdir()
    (plugins / "plugin.c").write_text("int plugin_answer(void) { return 17; }\n")
    run(["cc", "-shared", "-fPIC", "-o", plugins / "libcdataplugin.so", plugins / "plugin.c"], check=True)
    wheel = manylinux_wheel(project, where / "wheel", ldflags=f"-Wl,--disable-new-dtags,-rpath,{plugins}")
    app = where / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text(f'''[project]
name = "cdata-app"
version = "1.0"
dependencies = ["cdata @ {wheel.as_uri()}"]

[project.scripts]
cdata = "cdata:main"
''')
    out = run([*AMBER, "build", app], timeout=900)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def test_bare_name_dlopen_searches_the_callers_rpath(cdata: Path, clean_env):
    """glibc's dlopen() of a bare name searches the calling object's DT_RPATH: the runtime's dlopen hands such
    a name on by a tail call, so the caller is still the extension, not the runtime."""
    out = run([cdata, "-c", "from cdata import _reader; print(_reader.plugin())"],
              env=dict(clean_env, AMBER_INTERPRETER="1"))
    assert (out.returncode, out.stdout.strip()) == (0, "17"), out.stderr


def test_a_c_extension_reads_its_data_and_loads_a_sibling_by_path(cdata: Path, clean_env):
    out = run([cdata], env=clean_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == CDATA_EXPECTED


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (not /proc) with its size and modification time: what a run may have written."""
    seen = {}
    for directory, dirs, files in os.walk(root):
        if directory == str(root):
            dirs[:] = [d for d in dirs if d != "proc"]
        for name in files + dirs:
            st = os.lstat(os.path.join(directory, name))
            seen[os.path.relpath(os.path.join(directory, name), root)] = (st.st_size, st.st_mtime_ns)
    return seen


@pytest.mark.root
@pytest.mark.parametrize("native", ["auto", "memory"])
def test_nothing_is_written_anywhere_in_an_empty_chroot(cdata: Path, chroot, native: str):
    """glibc's files and /proc only, /tmp a noexec tmpfs and HOME read-only: the extension, its data, its
    sibling library and the database all come from the archive, and the run leaves every file as it was."""
    chroot.add(cdata, "/app/cdata", mode=0o755)
    chroot.mount_proc()
    chroot.mount_tmpfs("/tmp")
    chroot.mount_tmpfs("/home", "ro,mode=755")
    before = _tree(chroot.root)
    out = chroot.run(["/app/cdata"], env={"HOME": "/home", "AMBER_NATIVE": native})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == CDATA_EXPECTED
    assert _tree(chroot.root) == before


@pytest.mark.root
def test_without_proc_the_cache_serves_code(cdata: Path, chroot):
    """No /proc in the chroot: no /proc/self/fd/N to dlopen or posix_spawn, so the extension, its sibling
    library and its program come from the extraction cache; data files still come from memory files, and
    execve() of the program runs it with execveat() (no /proc needed)."""
    chroot.add(cdata, "/app/cdata", mode=0o755)
    chroot.mount_tmpfs("/tmp")
    (chroot.root / "home").mkdir()
    out = chroot.run(["/app/cdata"], env={"HOME": "/home"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == CDATA_EXPECTED
    cached = [p.name for p in (chroot.root / "home" / ".cache" / "amber" / "extract").rglob("*") if p.is_file()]
    assert {"libsibling.so", "tool"} <= set(cached)


@pytest.mark.parametrize("how", ["build", "environment"])
def test_disk_mode_creates_no_memory_file(cdata: Path, runtime: Path, tmp_path: Path, how: str):
    """AMBER_NATIVE=disk (or `amber build --native disk`): not one memfd_create() (a seccomp filter kills the
    process at the first), everything from the extraction cache, whose files a second run reuses."""
    binary = cdata
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(tmp_path / "cache")}
    if how == "build":
        from helpers.build import AMBER

        binary = tmp_path / "cdata-disk"
        out = run([*AMBER, "build", cdata.parent.parent, "--native", "disk", "-o", binary], timeout=900)
        assert out.returncode == 0, out.stderr
    else:
        env["AMBER_NATIVE"] = "disk"
    guard = nomemfd(tmp_path)
    out = run([guard, "kill", binary], env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == CDATA_EXPECTED
    files = tmp_path / "cache" / "extract" / "files"
    written = {p.name: p.stat().st_mtime_ns for p in files.iterdir()}
    assert {name.split("-", 2)[2] for name in written} >= {"table.txt", "note.txt", "table.db"}
    assert oct(files.stat().st_mode & 0o777) == "0o700"
    out = run([guard, "kill", binary], env=env)
    assert out.returncode == 0, out.stderr
    assert {p.name: p.stat().st_mtime_ns for p in files.iterdir()} == written


def test_without_memory_files_the_fallbacks_serve(cdata: Path, tmp_path: Path):
    """memfd_create() refused (ENOSYS: an old kernel, a sandbox): native code from the cache, the files C code
    opens from unlinked temporary files; the results are the same."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    out = run([nomemfd(tmp_path), "enosys", cdata], env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == CDATA_EXPECTED
    assert (tmp_path / ".cache" / "amber" / "extract").is_dir()


def test_a_misspelt_native_policy_is_one_line(cdata: Path, tmp_path: Path):
    out = run([cdata], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_NATIVE": "disc"})
    assert (out.returncode, out.stderr) == (1, "amber: AMBER_NATIVE='disc' is not one of: auto, memory, disk\n")


# -- real wheels whose C libraries read files by path (tests/fixtures/clibs) ----------------------------------------

CLIBS_EXPECTED = {
    "gdal": {"tiff": [1200, 32633], "utm_easting": 500000, "wkt": True, "gdal_data_inside": True},
    "libmagic": {"tiff": "image/tiff", "xml": "text/xml", "database_inside": True},
    "libxml2": {"to": "amber", "default_attribute": "en", "invalid_rejected": True, "dtd": True},
    "freetype": {"font_inside": True, "family": "DejaVu Sans", "png": True},
    "openssl": {"where_inside": True, "roots": True, "requests_bundle": True},
}


@pytest.fixture(scope="module")
def clibs(runtime: Path, tmp_path_factory) -> Path:
    """rasterio (GDAL, PROJ), pylibmagic + python-magic, lxml, matplotlib, requests + certifi, built plainly:
    no --extract, and nothing is extracted."""
    binary = build_fixture("clibs", tmp_path_factory.mktemp("clibs"), timeout=1800)
    from helpers.build import AMBER

    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    assert info["extract"] == []
    return binary


@pytest.mark.root
def test_c_libraries_of_real_wheels_read_their_files_in_an_empty_chroot(clibs: Path, chroot):
    """GDAL opening a GeoTIFF and PROJ its proj.db, libmagic its database and the file it identifies, libxml2 a
    document and its DTD, FreeType matplotlib's fonts, OpenSSL certifi's bundle: all by paths under the binary,
    with /tmp a noexec tmpfs, HOME read-only and no file anywhere changed (matplotlib's own font cache, which it
    keeps in MPLCONFIGDIR, aside)."""
    chroot.add(clibs, "/app/clibs", mode=0o755)
    chroot.mount_proc()
    chroot.mount_tmpfs("/tmp")
    chroot.mount_tmpfs("/home", "ro,mode=755")
    chroot.mount_tmpfs("/mpl", "mode=700")
    before = {k: v for k, v in _tree(chroot.root).items() if k.split("/")[0] != "mpl"}
    out = chroot.run(["/app/clibs"], env={"HOME": "/home", "MPLCONFIGDIR": "/mpl"}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout) == CLIBS_EXPECTED
    assert {k: v for k, v in _tree(chroot.root).items() if k.split("/")[0] != "mpl"} == before
