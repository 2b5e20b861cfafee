"""The zipimport patch, applied to CPython's own zipimport.py and run by a same-minor host Python.

Fast feedback without building a runtime: the patched module reads the amber
index, decodes records lazily, keeps its zipimport semantics, and rejects a
damaged index with ZipImportError instead of crashing.
"""

from __future__ import annotations

import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from amber.archive.format import TAIL_SIZE, read_trailer
from amber.archive.writer import Member, marshal_index, write_archive
from amber.runtime.cpython import PATCH_DIR
from amber.runtime.recipe import load_recipe
from amber.runtime.sources import download_dir, source_dirs

HOST_313 = Path("/root/.pyenv/versions/3.13.0/bin/python3.13")


@pytest.fixture(scope="module")
def patched_zipimport(tmp_path_factory) -> Path:
    if not HOST_313.is_file():
        pytest.skip("no host CPython 3.13 to run the patched module")
    rec = load_recipe().python("3.13")
    tarball = next((d / rec.source.file for d in [*source_dirs(), download_dir()] if (d / rec.source.file).is_file()),
                   None)
    if tarball is None:
        pytest.skip("CPython source tarball not in any source cache")
    root = tmp_path_factory.mktemp("zipimport")
    with tarfile.open(tarball) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/Lib/zipimport.py"))
        (root / "Lib").mkdir()
        (root / "Lib" / "zipimport.py").write_bytes(tar.extractfile(member).read())
    patch = PATCH_DIR / "0001-zipimport-amber-index.patch"
    subprocess.run(["patch", "-p1", "--batch", "-i", str(patch)], cwd=root, check=True, capture_output=True)
    return root / "Lib" / "zipimport.py"


def make_archive(path: Path, members: list[Member]) -> Path:
    with path.open("wb") as f:
        f.write(b"\x7fELF" + b"\0" * 4096)
        write_archive(f, members)
    return path


CHECK = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("zi", sys.argv[1])
zi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zi)
archive = sys.argv[2]
z = zi.zipimporter(archive)
files = z._get_files()
print(type(files).__name__, len(files))
print(files["pkg/mod.py"][0], files["pkg/mod.py"][3], files.get("missing"))
print(z.is_package("pkg"), zi.zipimporter(archive + "/pkg").get_source("pkg.mod").strip())
code = zi.zipimporter(archive + "/pkg").get_code("pkg.mod")
ns = {}
exec(code, ns)
print(ns["f"](), code.co_filename)
print(z.get_data(archive + "/data/blob.txt")[:5])
print(sorted(files)[:2], dict(files.items())["pkg/"][2])
"""


def test_patched_zipimport_reads_the_index(patched_zipimport: Path, tmp_path: Path):
    archive = make_archive(tmp_path / "app", [
        Member("pkg/__init__.py", b""),
        Member("pkg/mod.py", b"def f():\n    return 42\n", compress=True),
        Member("data/blob.txt", b"hello" * 300, compress=True),
    ])
    out = subprocess.run([str(HOST_313), "-I", "-c", CHECK, str(patched_zipimport), str(archive)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "_AmberDirectory 5"
    assert lines[1] == f"{archive}/pkg/mod.py 23 None"
    assert lines[2:4] == ["True def f():", "    return 42"]
    assert lines[4] == f"42 {archive}/pkg/mod.py"
    assert "b'hello'" in out.stdout
    assert lines[-1] == "['data/', 'data/blob.txt'] 0"


def test_damaged_index_is_an_import_error(patched_zipimport: Path, tmp_path: Path):
    archive = make_archive(tmp_path / "app", [Member("m.py", b"x = 1\n")])
    data = bytearray(archive.read_bytes())
    trailer = read_trailer(bytes(data[-TAIL_SIZE:]))
    data[trailer.index_offset:trailer.index_offset + 8] = b"\xff" * 8  # garbage marshal data
    archive.write_bytes(bytes(data))
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('zi', sys.argv[1])\n"
            "zi = importlib.util.module_from_spec(spec); spec.loader.exec_module(zi)\n"
            "try:\n    zi.zipimporter(sys.argv[2])\nexcept zi.ZipImportError as e:\n    print('refused:', e)\n")
    out = subprocess.run([str(HOST_313), "-I", "-c", code, str(patched_zipimport), str(archive)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: damaged amber archive index")


DAMAGE = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("zi", sys.argv[1])
zi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zi)
z = zi.zipimporter(sys.argv[2])
for name in sys.argv[3:]:
    try:
        z.get_data(sys.argv[2] + "/" + name)
        print(name, "read")
    except zi.ZipImportError as e:
        print(name, "refused:", e)
"""


def test_damaged_members_are_refused_by_name(patched_zipimport: Path, tmp_path: Path):
    """Every member read is checked against its CRC; offsets outside the archive (found by fuzzing)
    and data that does not inflate are ZipImportErrors naming the member, never a crash."""
    import zipfile

    archive = make_archive(tmp_path / "app", [
        Member("stored.txt", b"s" * 200), Member("deflated.txt", b"d" * 2000, compress=True),
        Member("intact.txt", b"i" * 100)])
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        for name in ("stored.txt", "deflated.txt"):
            info = zf.getinfo(name)
            data[info.header_offset + 30 + len(name) + 5] ^= 0xFF
    trailer = read_trailer(bytes(data[-TAIL_SIZE:]))
    archive.write_bytes(bytes(data))
    out = subprocess.run([str(HOST_313), "-I", "-c", DAMAGE, str(patched_zipimport), str(archive),
                          "stored.txt", "deflated.txt", "intact.txt"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("stored.txt refused: amber: damaged archive member") and "CRC mismatch" in lines[0]
    assert lines[1].startswith("deflated.txt refused: amber: damaged archive member")
    assert lines[2] == "intact.txt read"
    # A record whose offset points past the index (the fuzzer's first finding: ValueError from seek).
    import marshal

    names, records = marshal.loads(bytes(data[trailer.index_offset:trailer.index_offset + trailer.index_size]))
    records = bytearray(records)
    number = names.index("intact.txt")
    records[number * 32:number * 32 + 8] = (2 ** 63).to_bytes(8, "little")
    index = marshal_index(list(names), bytes(records))
    assert len(index) == trailer.index_size
    data[trailer.index_offset:trailer.index_offset + trailer.index_size] = index
    data[-40 + 12:-40 + 16] = zlib.crc32(index).to_bytes(4, "little")  # a consistent trailer CRC
    archive.write_bytes(bytes(data))
    out = subprocess.run([str(HOST_313), "-I", "-c", DAMAGE, str(patched_zipimport), str(archive), "intact.txt"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("intact.txt refused: amber: damaged archive: member 'intact.txt' lies outside it")


def test_trailer_pointing_past_the_file_is_refused(patched_zipimport: Path, tmp_path: Path):
    """The fuzzer's second finding: an index offset near 2**64 made seek() raise OverflowError."""
    archive = make_archive(tmp_path / "app", [Member("m.py", b"x = 1\n")])
    data = bytearray(archive.read_bytes())
    data[-40 + 16:-40 + 24] = (2 ** 64 - 16).to_bytes(8, "little")  # trailer: index data offset
    archive.write_bytes(bytes(data))
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('zi', sys.argv[1])\n"
            "zi = importlib.util.module_from_spec(spec); spec.loader.exec_module(zi)\n"
            "try:\n    zi.zipimporter(sys.argv[2])\nexcept zi.ZipImportError as e:\n    print('refused:', e)\n")
    out = subprocess.run([str(HOST_313), "-I", "-c", code, str(patched_zipimport), str(archive)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: damaged amber archive index")


def test_index_crc_mismatch_is_refused(patched_zipimport: Path, tmp_path: Path):
    """The fuzzer's third finding: a damaged count inside the index made marshal allocate gigabytes.
    The trailer's CRC of the index is checked first, so damaged index bytes never reach marshal."""
    archive = make_archive(tmp_path / "app", [Member("m.py", b"x = 1\n")])
    data = bytearray(archive.read_bytes())
    trailer = read_trailer(bytes(data[-TAIL_SIZE:]))
    data[trailer.index_offset + 12] ^= 0x01  # inside the names, still valid marshal
    archive.write_bytes(bytes(data))
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('zi', sys.argv[1])\n"
            "zi = importlib.util.module_from_spec(spec); spec.loader.exec_module(zi)\n"
            "try:\n    zi.zipimporter(sys.argv[2])\nexcept zi.ZipImportError as e:\n    print('refused:', e)\n")
    out = subprocess.run([str(HOST_313), "-I", "-c", code, str(patched_zipimport), str(archive)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: damaged amber archive index")
