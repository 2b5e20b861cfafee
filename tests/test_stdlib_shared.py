"""The heavy stdlib extension modules as shared objects, and compressed members, end to end.

The runtime ELF carries only the interpreter and small modules; OpenSSL, SQLite, ncurses,
libffi, mpdecimal and the Unicode/CJK tables are shared objects in the archive. The bare
runtime imports them from lib-dynload; an app binary loads them from memory, only when
imported. By default code, sources, data and shared objects are zstd members (the boot
code and amber's metadata are not); `--no-compress` stores code and native objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import zipfile
from pathlib import Path

import pytest

from amber.archive.codecs import zstd_frame_dictionary
from amber.archive.dictionaries import dictionary_id
from amber.archive.format import TAIL_SIZE, read_trailer
from amber.archive.reader import open_binary
from amber.runtime import validate
from helpers.mounts import tmpfs
from helpers.proc import run

pytestmark = pytest.mark.runtime

AMBER = [sys.executable, "-m", "amber"]
HEAVY = ("_ssl", "_hashlib", "_sqlite3", "_decimal", "_uuid", "readline", "_curses",
         "_curses_panel", "pyexpat", "_elementtree", "unicodedata", "_multibytecodec", "_codecs_jp")
APP = '''\
import _hashlib, _ssl, bz2, ctypes, decimal, hashlib, json, lzma, sqlite3, ssl, sys, unicodedata, uuid
import xml.etree.ElementTree as ET


def main():
    maps = open("/proc/self/maps").read()
    con = sqlite3.connect(":memory:")
    print(json.dumps({
        "builtin": sorted(set(sys.builtin_module_names) & set(sys.argv[1:])),
        "files": {name: sys.modules[name].__file__ for name in ("_ssl", "_hashlib", "_sqlite3")},
        "ssl_mappings": sorted({line.split(None, 5)[-1] for line in maps.splitlines() if "_ssl.cpython" in line}),
        "openssl": ssl.OPENSSL_VERSION,
        "sha256": hashlib.sha256(b"amber").hexdigest(),
        "sha3": _hashlib.openssl_sha3_256(b"amber").hexdigest(),
        "sqlite": con.execute("select sqlite_version()").fetchone()[0],
        "decimal": str(decimal.Decimal(1) / decimal.Decimal(7)),
        "lzma": lzma.decompress(lzma.compress(b"x" * 1000)) == b"x" * 1000,
        "bz2": bz2.decompress(bz2.compress(b"y" * 1000)) == b"y" * 1000,
        "ctypes": ctypes.sizeof(ctypes.c_void_p),
        "uuid": len(str(uuid.uuid4())),
        "unicode": unicodedata.name("\\u00e9"),
        "xml": ET.fromstring("<a><b>t</b></a>").find("b").text,
        "cjk": "\\u65e5\\u672c".encode("shift_jis").hex(),
    }, sort_keys=True))
'''


def one_package_project(root: Path, name: str, source: str, extra: str = "", package_dir: str = "") -> Path:
    """A project at root/name: package `name` whose __init__ is `source` (under `package_dir`, if given), a
    `name` script calling its main(); `extra` goes at the end of [project]."""
    project = root / name
    package = project / package_dir / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n{extra}\n[project.scripts]\n{name} = "{name}:main"\n')
    return project


def stdlib_app(tmp_path: Path) -> Path:
    return one_package_project(tmp_path, "stdapp", APP, package_dir="src")


def build(project: Path, output: Path, *extra: str) -> Path:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 0, out.stderr
    return output


def elf_size(binary: Path) -> int:
    trailer = read_trailer(binary.read_bytes()[-TAIL_SIZE:])
    assert trailer is not None
    return trailer.archive_offset


@pytest.fixture(scope="module")
def plain_and_compressed(runtime: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The app built with --no-compress, and by default (compressed)."""
    tmp = tmp_path_factory.mktemp("stdapp")
    project = stdlib_app(tmp)
    return build(project, tmp / "plain", "--no-compress"), build(project, tmp / "compressed")


def test_runtime_elf_is_small_and_the_heavy_modules_are_lib_dynload(runtime: Path, clean_env):
    assert elf_size(runtime) < 9_000_000  # 17.1 MB with every module built in
    dynload = runtime.resolve().parent.parent / "lib" / "python3.13" / "lib-dynload"
    files = {p.name.split(".")[0]: p for p in dynload.glob("*.so")}
    assert set(HEAVY) <= set(files)
    assert files["_hashlib"].stat().st_size < 20_000  # a stub: its code is in _ssl
    assert validate.elf_facts(files["_hashlib"])["needed"][0] == files["_ssl"].name
    assert validate.check_shared_modules(dynload, "2.17") == []
    code = ("import sys, _hashlib, _ssl, hashlib; print(sorted(set(sys.builtin_module_names) & set(sys.argv[1:]))); "
            "print(_hashlib.__file__); print(hashlib.sha256(b'a').hexdigest()[:8])")
    out = run([runtime, "-I", "-c", code, *HEAVY], env=clean_env)
    assert out.returncode == 0, out.stderr
    builtin, hashlib_file, digest = out.stdout.splitlines()
    assert builtin == "[]"
    assert hashlib_file == str(files["_hashlib"])
    assert digest == "ca978112"


def test_app_loads_them_once_each_from_memory_or_the_cache(plain_and_compressed, tmp_path: Path, clean_env):
    """Small shared modules come from memory files; larger ones are kept in the extraction cache instead of
    being copied at every start, unless AMBER_NATIVE=memory: from the loader's KEEP_ON_DISK (1 MiB) for a
    stored member, from KEEP_ON_DISK_COMPRESSED (64 KiB) for a zstd one, whose copy is a decompression.
    The default build's are zstd: the cache holds them decompressed, memory files too."""
    _, plain = plain_and_compressed
    ssl_so = "_ssl.cpython-313-x86_64-linux-gnu.so"
    runs = {}
    with tmpfs(tmp_path / "noexec", options="noexec") as noexec:
        for policy in ("auto", "memory"):
            env = dict(clean_env, TMPDIR=str(noexec), AMBER_CACHE=str(tmp_path / policy), AMBER_NATIVE=policy)
            out = run([plain, *HEAVY], env=env)
            assert out.returncode == 0, out.stderr
            runs[policy] = json.loads(out.stdout)
        assert not os.listdir(noexec)
    kept = sorted(p.relative_to(tmp_path / "auto" / "extract").parts[1] for p in (tmp_path / "auto").rglob("*.so"))
    # _uuid (21 KB), _multibytecodec (35 KB), _elementtree (62 KB) and the _hashlib stub stay in memory files
    assert kept == sorted(f"{name}.cpython-313-x86_64-linux-gnu.so" for name in (
        "_codecs_jp", "_decimal", "_sqlite3", "_ssl", "pyexpat", "unicodedata"))
    assert not (tmp_path / "memory").exists()
    mapped = runs["auto"]["ssl_mappings"]
    assert len(mapped) == 1 and mapped[0].startswith(str(tmp_path / "auto" / "extract")) and mapped[0].endswith(ssl_so)
    facts = runs["memory"]
    assert len(facts["ssl_mappings"]) == 1 and "memfd:amber:_ssl" in facts["ssl_mappings"][0]  # _hashlib shares it
    assert {k: v for k, v in runs["auto"].items() if k != "ssl_mappings"} == \
        {k: v for k, v in facts.items() if k != "ssl_mappings"}
    assert facts["builtin"] == []
    assert facts["files"]["_ssl"] == f"{plain}/{ssl_so}"
    assert facts["openssl"].startswith("OpenSSL 3.5.7")
    assert facts["sha256"] == hashlib.sha256(b"amber").hexdigest()
    assert facts["sha3"] == hashlib.sha3_256(b"amber").hexdigest()
    assert facts["sqlite"] == "3.46.1" and facts["decimal"].startswith("0.142857")
    assert facts["lzma"] and facts["bz2"] and facts["ctypes"] == 8 and facts["uuid"] == 36
    assert facts["unicode"] == "LATIN SMALL LETTER E WITH ACUTE" and facts["xml"] == "t"
    assert facts["cjk"] == "93fa967b"


def test_compressed_build_is_smaller_and_runs_the_same(plain_and_compressed, tmp_path: Path, clean_env, chroot):
    plain, compressed = plain_and_compressed
    archive = {b: b.stat().st_size - elf_size(b) for b in (plain, compressed)}  # the ELF is not compressed
    assert archive[compressed] < 0.5 * archive[plain]  # this app imports much of the stdlib at start: LZ4
    methods = {}
    for binary in (plain, compressed):
        with zipfile.ZipFile(binary) as zf:
            methods[binary] = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
    ssl_so, ZSTD, LZ4 = "_ssl.cpython-313-x86_64-linux-gnu.so", 93, 0x4C34
    assert methods[compressed][ssl_so] == methods[compressed]["ctypes/util.pyc"] == ZSTD
    assert methods[compressed]["json/__init__.py"] == methods[compressed]["stdapp/__init__.py"] == ZSTD
    # zstd code and sources refer into the runtime's dictionaries (archive/dictionaries.py): the standard
    # library's, compressed when the runtime was built, and the app's own, compressed by this build.
    read = {m.name: m for m in open_binary(compressed).members()}
    named = {name.rpartition("/")[2].partition("-")[0]: read[name] for name in read if name.startswith(".amber/zstd/")}
    pyc_dict, py_dict = (dictionary_id(named[kind].data) for kind in ("pyc", "py"))
    assert named["pyc"].lz4 and named["py"].zstd is not None
    assert named["pyc"].name == f".amber/zstd/pyc-{pyc_dict}.dict"  # the C layer finds it by the id
    assert zstd_frame_dictionary(read["ctypes/util.pyc"].packed.payload) == pyc_dict != 0
    for source in ("json/__init__.py", "stdapp/__init__.py"):
        assert zstd_frame_dictionary(read[source].packed.payload) == py_dict != 0, source
    assert zstd_frame_dictionary(read[ssl_so].packed.payload) == 0  # native code: no dictionary
    # What every start runs is LZ4: the entry module and what it imports at module level (json, and json's
    # own imports), the interpreter's start-up modules, the boot code (its sources are zstd, like any).
    for name in ("stdapp/__init__.pyc", "json/__init__.pyc", "json/decoder.pyc", "encodings/__init__.pyc",
                 "__amber_boot__.pyc", "__amber_app__.pyc", "__amber_vfs__.pyc"):
        assert methods[compressed][name] == LZ4, name
    assert methods[compressed]["__amber_boot__.py"] == ZSTD
    assert methods[compressed][".amber/build.json"] in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # any zip tool
    assert methods[plain][ssl_so] == methods[plain]["json/__init__.pyc"] == zipfile.ZIP_STORED
    assert methods[plain]["json/__init__.py"] == zipfile.ZIP_DEFLATED
    assert not {ZSTD, LZ4} & set(methods[plain].values())
    assert not [name for name in methods[plain] if name.endswith(".dict")]  # no dictionary: nothing uses one
    expected = run([plain, *HEAVY], env=clean_env)
    got = run([compressed, *HEAVY], env=clean_env)
    assert got.returncode == 0, got.stderr
    strip = lambda text: {k: v for k, v in json.loads(text).items() if k not in ("files", "ssl_mappings")}  # noqa: E731
    assert strip(got.stdout) == strip(expected.stdout)
    chroot.add(compressed, "/app", mode=0o755)
    chroot.mount_proc()  # shared modules from memory, through /proc/self/fd
    out = chroot.run(["/app", *HEAVY])
    assert out.returncode == 0, out.stderr
    info = json.loads(run([*AMBER, "inspect", "--json", compressed]).stdout)
    assert info["compression"] == {"policy": "default", "zstd_level": 9, "runtime_zstd_level": 19, "startup": "lz4",
                                   "dictionaries": [".py", ".pyc"]}
    text = run([*AMBER, "inspect", compressed]).stdout
    assert ("  members:  zstd: the standard library at level 19, the app at level 9, .py and .pyc files with zstd "
            "dictionaries, the code every start runs LZ4") in text


def test_compressed_build_is_reproducible_and_levels_are_checked(plain_and_compressed, runtime: Path, tmp_path: Path):
    _, compressed = plain_and_compressed
    project = stdlib_app(tmp_path)
    again = build(project, tmp_path / "again")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(compressed.read_bytes()).digest()
    level = build(project, tmp_path / "level", "--compress", "3")
    with zipfile.ZipFile(level) as zf:
        assert zf.getinfo("__amber_boot__.pyc").compress_type == 93  # every member but the metadata
    assert json.loads(run([*AMBER, "inspect", "--json", level]).stdout)["compression"] == \
        {"policy": "level", "zstd_level": 3, "dictionaries": [".py", ".pyc"]}
    bad = run([*AMBER, "build", project, "-o", tmp_path / "bad", "--compress", "40"], timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["amber: --compress must be true, false or a zstd level from 1 to 22, "
                                               "not 40"]
    assert not (tmp_path / "bad").exists()


RESOURCE_APP = '''\
import importlib.metadata, importlib.resources, json, sys, zipfile, zoneinfo


def lz4_member():
    """This module's own .pyc, an LZ4 member (every start runs it), read again after a seek back."""
    with zipfile.ZipFile(sys.executable) as zf:
        info = zf.getinfo("resapp/__init__.pyc")
        with zf.open(info) as f:
            whole = f.read()
            f.seek(0)  # a rewind past what zipfile buffered: a new decompressor
            head = f.read(16)
        return [info.compress_type, len(whole) == info.file_size, whole[:16] == head, zf.testzip()]


def main():
    print(json.dumps({
        "resource": importlib.resources.files("resapp").joinpath("data.txt").read_text(),
        "zipfile": zipfile.ZipFile(sys.executable).read("resapp/data.txt").decode(),
        "tz": str(zoneinfo.ZoneInfo("Europe/Paris").utcoffset(__import__("datetime").datetime(2026, 7, 1))),
        "version": importlib.metadata.version("tzdata"),
        "lz4": lz4_member(),
    }))
'''


def test_compressed_members_read_through_zipfile_and_resources(runtime: Path, tmp_path: Path, clean_env):
    """zoneinfo reads tzdata through importlib.resources' zip reader, i.e. zipfile, which knows no zstd:
    a binary with zstd members teaches it (trimmed too: the zstd reader needs nothing the trim drops), and
    the LZ4 members of the code every start runs, which zipfile.testzip() reads with all the others."""
    project = tmp_path / "resapp"
    (project / "resapp").mkdir(parents=True)
    (project / "resapp" / "__init__.py").write_text(RESOURCE_APP)
    (project / "resapp" / "data.txt").write_text("payload " * 100)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "resapp"\nversion = "1.0"\ndependencies = ["tzdata==2026.6"]\n\n'
        '[project.scripts]\nresapp = "resapp:main"\n[tool.setuptools.package-data]\nresapp = ["*.txt"]\n')
    binary = build(project, tmp_path / "resapp-bin", "--trim")
    with zipfile.ZipFile(binary) as zf:
        assert zf.getinfo("resapp/data.txt").compress_type == 93
        assert zf.getinfo("tzdata/zoneinfo/Europe/Paris").compress_type == 93
    out = run([binary], env=clean_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"resource": "payload " * 100, "zipfile": "payload " * 100, "tz": "2:00:00",
                                      "version": "2026.6", "lz4": [0x4C34, True, True, None]}


def test_another_zips_zstd_members_import_and_a_damaged_one_is_named(runtime: Path, tmp_path: Path, clean_env):
    """zipimport reads a zip other than the binary (a zipapp on sys.path) through the same C unpack as the
    binary's own members: a zstd member imports, a damaged one is a ZipImportError naming it."""
    import io

    from amber.archive.writer import ZSTD, Member, write_archive

    buf = io.BytesIO()
    write_archive(buf, [Member("zmod.py", b"X = 42\n" * 50, zstd=9)])
    good = tmp_path / "good.zip"
    good.write_bytes(buf.getvalue())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("zmod.py")
    assert info.compress_type == ZSTD
    damaged = bytearray(good.read_bytes())
    damaged[info.header_offset + 30 + len("zmod.py") + 12] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(damaged))
    code = "import sys; sys.path.insert(0, sys.argv[1]); import zmod; print(zmod.X)"
    out = run([runtime, "-I", "-c", code, good], env=clean_env)
    assert out.returncode == 0 and out.stdout.strip() == "42", out.stderr
    out = run([runtime, "-I", "-c", code, bad], env=clean_env)
    assert out.returncode == 1
    assert "zipimport.ZipImportError: amber: damaged archive member" in out.stderr and "zmod.py" in out.stderr


EARLY_EXIT_APP = '''\
import os
import sys

if os.environ.get("EXIT_EARLY"):  # before the imports below: the shared objects are never loaded
    sys.exit(3)
if os.environ.get("FORK_FIRST"):  # a child that imports them too, while the parent's are written ahead
    child = os.fork()
    if child == 0:
        import ssl

        os._exit(0 if ssl.OPENSSL_VERSION.startswith("OpenSSL") else 1)
    assert os.waitpid(child, 0)[1] == 0
import sqlite3
import ssl


def main():
    print(ssl.OPENSSL_VERSION.split()[0], sqlite3.sqlite_version_info >= (3, 0))
'''


def test_a_first_run_writes_the_shared_objects_every_start_loads_ahead(runtime: Path, tmp_path: Path, clean_env):
    """`.amber/warm` lists the shared objects the scripts' modules import at module level (builder/startup.py,
    largest first); a first run writes their cache entries in a background thread (boot/cache.py's warm) and
    waits for it at exit, even when the app exits before importing them: no entry is left half-written."""
    binary = build(one_package_project(tmp_path, "early", EARLY_EXIT_APP), tmp_path / "early-bin")
    with zipfile.ZipFile(binary) as zf:
        warm = zf.read(".amber/warm").decode().splitlines()
    assert warm == ["_ssl.cpython-313-x86_64-linux-gnu.so", "_sqlite3.cpython-313-x86_64-linux-gnu.so"]

    def entries(cache: Path) -> dict[str, list[str]]:
        extract = cache / "extract"
        found = {p.name: sorted(c.name for c in p.iterdir()) for p in extract.iterdir()} if extract.is_dir() else {}
        assert not [name for name in found if name.startswith(".")], found  # no temporary or stale entry
        return found

    cache = tmp_path / "cache"
    early = run([binary], env={**clean_env, "AMBER_CACHE": str(cache), "EXIT_EARLY": "1"})
    assert early.returncode == 3 and not early.stderr, early.stderr
    assert sorted(entries(cache).values()) == sorted([".amber-entry", name] for name in warm)
    again = run([binary], env={**clean_env, "AMBER_CACHE": str(cache)})
    assert again.returncode == 0 and again.stdout.split() == ["OpenSSL", "True"], again.stderr
    assert len(entries(cache)) == 2  # the entries written ahead were the ones the imports wanted
    # A fork before the imports: the child writes what it imports itself (the parent's thread is not there)
    forked = tmp_path / "forked-cache"
    out = run([binary], env={**clean_env, "AMBER_CACHE": str(forked), "FORK_FIRST": "1"})
    assert out.returncode == 0 and out.stdout.split() == ["OpenSSL", "True"], out.stderr
    assert len(entries(forked)) == 2
    # AMBER_NATIVE=memory: nothing is written ahead (nor later)
    memory = tmp_path / "memory-cache"
    out = run([binary], env={**clean_env, "AMBER_CACHE": str(memory), "AMBER_NATIVE": "memory", "EXIT_EARLY": "1"})
    assert out.returncode == 3 and entries(memory) == {}


def test_the_runtime_dictionaries_are_trained_again_from_its_files(runtime: Path):
    """A self-built amber made with --no-compress carries no dictionaries; it writes its runtime back with
    dictionaries trained again from the standard library (runtime/embedded.py): the same bytes."""
    from amber.archive import dictionaries

    members = open_binary(runtime).members()
    trained = {m.name: m.data for m in members if dictionaries.is_dictionary(m.name)}
    assert len(trained) == 2
    again = dictionaries.train(m for m in members if not dictionaries.is_dictionary(m.name))
    assert {m.name: m.data for m in again} == trained


UNKNOWN_DICTIONARIES = '''\
import sys, zipfile, _amber_fs

archive = zipfile.ZipFile(sys.executable)
with open(sys.executable, "rb") as f:
    info = archive.getinfo("json/decoder.py")  # a source: its dictionary is not read at start
    f.seek(info.header_offset + 30 + len(info.filename))
    frame = f.read(info.compress_size)
descriptor = frame[4]
assert descriptor & 3 == 3  # a 4-byte dictionary id
at = 5 + (0 if descriptor & 0x20 else 1)  # after the window descriptor, if any
refused = 0
for other in range(1, 21):  # frames naming ids the archive has no dictionary for
    try:
        _amber_fs.unpack(frame[:at] + (0x7000 + other).to_bytes(4, "little") + frame[at + 4:], 93, info.file_size, 0)
    except ValueError as exc:
        refused += "dictionary is missing" in str(exc)
print(refused, len(_amber_fs.unpack(frame, 93, info.file_size, info.CRC)) == info.file_size)
'''


def test_frames_naming_unknown_dictionaries_do_not_crowd_out_the_archives_own(runtime: Path):
    """The C layer lists the archive's dictionaries once: frames naming other ids (damaged, or from another
    zip) are refused and take no room, and the archive's own dictionary is still read when first named."""
    out = run([runtime, "-c", UNKNOWN_DICTIONARIES])
    assert out.returncode == 0 and out.stdout.split() == ["20", "True"], out.stderr


LATE_APP = '''\
import json
import sys


def main():
    late()


def late():
    import importlib
    import zipfile

    # A module no import statement names (a plugin's, a name from a configuration file) and a codec named
    # by data: compiled once from their source, their shared objects read from xz members.
    sqlite3 = importlib.import_module(sys.argv[1])
    con = sqlite3.connect(":memory:")
    with zipfile.ZipFile(sys.executable) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("_sqlite3."))
        whole = len(zf.read(info)) == info.file_size
    print(json.dumps([con.execute("select 6 * 7").fetchone()[0], "\\u65e5\\u672c".encode(sys.argv[2]).hex(),
                      info.compress_type, whole]))
'''


def test_shared_objects_no_import_reaches_are_xz_and_load_when_imported(runtime: Path, tmp_path: Path, clean_env):
    """The runtime's shared objects no import of the app reaches (here sqlite3's, imported by a name the app
    is given, and a CJK codec's) are xz members (archive/xz.py), decompressed by the C layer when first
    imported, from memory or into the cache; zipfile reads them too. A damaged stream is refused."""
    binary = build(one_package_project(tmp_path, "lateapp", LATE_APP), tmp_path / "late")
    with zipfile.ZipFile(binary) as zf:
        methods = {i.filename.split(".")[0]: i.compress_type for i in zf.infolist() if ".cpython-" in i.filename}
    assert methods["_sqlite3"] == methods["_codecs_jp"] == methods["_multibytecodec"] == 95
    described = run([*AMBER, "inspect", binary]).stdout
    assert re.search(r"\n  xz: +\d+ shared objects no import of the app reaches \([^)]*_sqlite3", described), described
    for native in ("auto", "memory", "disk"):
        cache = tmp_path / f"cache-{native}"
        out = run([binary, "sqlite3", "shift_jis"], env={**clean_env, "AMBER_CACHE": str(cache),
                                                         "AMBER_NATIVE": native})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [42, "93fa967b", 95, True]
    with zipfile.ZipFile(binary) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("_sqlite3."))
    with binary.open("rb") as f:
        f.seek(info.header_offset + 30 + len(info.filename))
        stream = f.read(info.compress_size)
    damaged = stream[:100] + bytes([stream[100] ^ 0xFF]) + stream[101:]
    code = ("import sys, _amber_fs\nstream = open(sys.argv[1], 'rb').read()\n"
            "try:\n    _amber_fs.unpack(stream, 95, int(sys.argv[2]), int(sys.argv[3]))\n"
            "except ValueError as exc:\n    print('refused:', exc)\n")
    (tmp_path / "damaged").write_bytes(damaged)
    out = run([runtime, "-c", code, tmp_path / "damaged", str(info.file_size), str(info.CRC)])
    assert out.returncode == 0 and out.stdout.startswith("refused:"), (out.stdout, out.stderr)
    (tmp_path / "whole").write_bytes(stream)
    out = run([runtime, "-c", code, tmp_path / "whole", str(info.file_size), str(info.CRC)])
    assert out.returncode == 0 and out.stdout == "", out.stderr
