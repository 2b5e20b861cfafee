"""The archive format: a valid zip for standard tools, plus the one-read index."""

from __future__ import annotations

import io
import marshal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from amber.archive.format import INDEX_NAME, RECORD, TAIL_SIZE, Trailer, read_trailer
from amber.archive.writer import Member, write_archive

PREFIX = b"\x7fELF" + b"\0" * 1000  # stands in for the interpreter ELF


def build(members: list[Member], prefix: bytes = PREFIX, flags: int = 0) -> bytes:
    out = io.BytesIO()
    out.write(prefix)
    write_archive(out, members, flags=flags)
    return out.getvalue()


SAMPLE = [
    Member("pkg/__init__.py", b"X = 1\n", compress=True),
    Member("pkg/data/table.txt", b"a,b\n" * 100, compress=True),
    Member("mod.py", b"print('hi')\n"),
]


def test_standard_zip_readers_see_every_member():
    data = build(SAMPLE)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert zf.read("pkg/data/table.txt") == b"a,b\n" * 100
        assert zf.testzip() is None
    assert {"pkg/", "pkg/data/", "pkg/__init__.py", "mod.py", INDEX_NAME} <= set(names)
    assert names == sorted(names[:-1]) + [INDEX_NAME]


def test_trailer_points_at_the_index_and_the_archive_start():
    data = build(SAMPLE, flags=1)
    trailer = read_trailer(data[-TAIL_SIZE:])
    assert trailer is not None and trailer.flags == 1
    assert trailer.archive_offset == len(PREFIX)
    names, records = marshal.loads(data[trailer.index_offset:trailer.index_offset + trailer.index_size])
    entries = [RECORD.unpack_from(records, i * RECORD.size) for i in range(len(names))]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert set(names) == set(infos) - {INDEX_NAME}
    for name, (header_offset, csize, size, crc, compress, _t, _d) in zip(names, entries, strict=True):
        info = infos[name]
        assert (compress, csize, size, crc) == (info.compress_type, info.compress_size, info.file_size, info.CRC)
        assert header_offset == info.header_offset  # absolute: the ELF prefix is counted
        assert data[header_offset:header_offset + 4] == b"PK\x03\x04"


def test_not_an_amber_file():
    assert read_trailer(b"") is None
    assert read_trailer(PREFIX) is None
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("a", b"b")
    assert read_trailer(plain.getvalue()) is None
    forged = bytearray(build(SAMPLE))
    forged[-40] ^= 0xFF  # first byte of the magic
    assert read_trailer(bytes(forged)) is None


def test_same_inputs_same_bytes(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = build(SAMPLE)
    second = build(list(reversed(SAMPLE)))
    assert first == second
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000100")
    assert build(SAMPLE) != first


def test_duplicate_member_is_refused():
    with pytest.raises(ValueError, match="duplicate"):
        build([Member("a.py", b""), Member("a.py", b"x")])


def test_stock_zipimport_still_imports_from_it(tmp_path: Path):
    """Interpreters without our patch treat the file as an ordinary zip."""
    path = tmp_path / "app.bin"
    path.write_bytes(build([Member("hello_amber.py", b"GREETING = 'hi from zip'\n")]))
    code = f"import sys; sys.path.insert(0, {str(path)!r}); import hello_amber; print(hello_amber.GREETING)"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "hi from zip"


def test_trailer_round_trip():
    t = Trailer(flags=3, index_offset=10, index_size=20, archive_offset=5)
    tail = b"PK\x05\x06" + b"\0" * 16 + (40).to_bytes(2, "little") + t.pack()
    assert read_trailer(tail) == t


def test_index_bytes_depend_on_the_names_only():
    """marshal.dumps would flag shared strings for back-references (it depends on reference counts,
    which differ between interpreters); the index writer never does."""
    import marshal

    from amber.archive.writer import marshal_index

    shared = ["pkg/mod.pyc", "pkg/é.txt", "x" * 300]
    fresh = [n.encode().decode() for n in shared]
    keep = [shared, list(shared)]  # more references to the same string objects
    assert marshal_index(shared, b"r" * 96) == marshal_index(fresh, b"r" * 96)
    assert marshal.loads(marshal_index(shared, b"r" * 96)) == (tuple(shared), b"r" * 96)
    assert keep
