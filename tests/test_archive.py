"""The archive format: a valid zip for standard tools, plus the one-read index."""

from __future__ import annotations

import io
import marshal
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from amber.archive.format import INDEX_NAME, RECORD, TAIL_SIZE, Trailer, read_trailer
from amber.archive.writer import Member, write_archive

PREFIX = b"\x7fELF" + b"\0" * 1000  # stands in for the interpreter ELF


def build(members: list[Member], prefix: bytes = PREFIX, flags: int = 0, **kwargs) -> bytes:
    out = io.BytesIO()
    out.write(prefix)
    write_archive(out, members, flags=flags, **kwargs)
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
    for name, (header_offset, csize, size, crc, compress, _t, _d, mode) in zip(names, entries, strict=True):
        info = infos[name]
        assert (compress, csize, size, crc) == (info.compress_type, info.compress_size, info.file_size, info.CRC)
        assert mode == info.external_attr >> 16  # the Unix mode, as the central directory has it
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
    first = build(SAMPLE)
    second = build(list(reversed(SAMPLE)))
    assert first == second
    # the writer reads no environment: the member time is a parameter
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000100")
    assert build(SAMPLE) == first
    stamped = build(SAMPLE, timestamp=1700000100)
    assert stamped != first
    with zipfile.ZipFile(io.BytesIO(stamped)) as zf:
        assert {info.date_time for info in zf.infolist()} == {(2023, 11, 14, 22, 15, 0)}
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


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


def _binary(tmp_path: Path, members: list[Member], name: str = "app", **kwargs) -> Path:
    path = tmp_path / name
    with path.open("wb") as out:
        out.write(PREFIX)
        write_archive(out, members, **kwargs)
    return path


def test_zstd_members_read_back_and_metadata_stays_deflated(tmp_path):
    from amber.archive.reader import open_binary
    from amber.archive.writer import ZSTD

    members = [*SAMPLE, Member(".amber/build.json", b'{"a": 1}\n' * 50, compress=True),
               Member("lib/x.so", b"\x7fELF" + bytes(range(256)) * 64, executable=True)]
    path = _binary(tmp_path, members, zstd_level=19)
    with zipfile.ZipFile(path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
        assert zf.read(".amber/build.json") == b'{"a": 1}\n' * 50  # any Python's zipfile reads the metadata
    assert methods["lib/x.so"] == methods["pkg/data/table.txt"] == ZSTD
    assert methods["mod.py"] == zipfile.ZIP_STORED  # 12 bytes: a frame would be larger
    assert methods[".amber/build.json"] == zipfile.ZIP_DEFLATED
    back = {m.name: m for m in open_binary(path).members()}
    for member in members:
        assert back[member.name].data == member.data
    assert back["lib/x.so"].executable and not back["mod.py"].executable
    assert path.stat().st_size < _binary(tmp_path, members, "plain").stat().st_size


def test_deflated_members_are_copied_not_recompressed(tmp_path):
    from amber.archive.reader import open_binary
    from amber.archive.writer import Packed

    first = {m.name: m for m in open_binary(_binary(tmp_path, SAMPLE)).members()}
    table = first["pkg/data/table.txt"]
    assert table.packed is not None and table.packed.method == zipfile.ZIP_DEFLATED
    # A payload the writer would never produce itself proves it was copied as it is.
    stored_block = b"\x01" + len(table.data).to_bytes(2, "little") + (len(table.data) ^ 0xFFFF).to_bytes(2, "little")
    marked = Member(table.name, table.data, compress=True, packed=Packed(zipfile.ZIP_DEFLATED,
                                                                           stored_block + table.data))
    again = _binary(tmp_path, [marked], "again")
    with zipfile.ZipFile(again) as zf:
        assert zf.read(table.name) == table.data
        assert zf.getinfo(table.name).compress_size == len(stored_block) + len(table.data)


def test_members_take_their_own_zstd_level_and_incompressible_ones_stay_stored(tmp_path):
    import os

    import zstandard

    from amber.archive.reader import open_binary
    from amber.archive.writer import STORED, ZSTD

    noise = os.urandom(4096)  # what zstd cannot shrink: a wheel, an image
    members = [Member("code.pyc", b"\xf3\r\r\n" + b"LOAD_CONST " * 400, zstd=9), Member("noise.bin", noise, zstd=9),
               Member("empty.py", b"", zstd=9), Member("plain.txt", b"p" * 600),
               Member(".amber/build.json", b"{}" * 300, compress=True, zstd=9)]
    path = _binary(tmp_path, members)
    with zipfile.ZipFile(path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
    assert methods == {"code.pyc": ZSTD, "noise.bin": STORED, "empty.py": STORED, "plain.txt": STORED,
                       ".amber/build.json": zipfile.ZIP_DEFLATED, ".amber/index": STORED}
    back = {m.name: m for m in open_binary(path).members()}
    assert back["code.pyc"].data == members[0].data and back["noise.bin"].data == noise
    # Every frame carries zstd's checksum, which the runtime checks instead of the CRC (and requires).
    payload = back["code.pyc"].packed.payload
    assert zstandard.get_frame_parameters(payload).has_checksum
    assert zstandard.get_frame_parameters(payload).content_size == len(members[0].data)


def test_zstd_payloads_are_copied_not_recompressed(tmp_path):
    import zstandard

    from amber.archive.reader import open_binary
    from amber.archive.writer import ZSTD, Packed

    data = b"def f():\n    return 1\n" * 200
    # A level-1 frame the writer (asked for level 19) would never make itself proves it was copied.
    frame = zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=True).compress(data)
    path = _binary(tmp_path, [Member("m.py", data, zstd=19, packed=Packed(ZSTD, frame))])
    member = open_binary(path).members()[0]
    assert member.packed == Packed(ZSTD, frame) and member.zstd is not None and not member.compress
    again = _binary(tmp_path, [member], "again")  # read back and written again, as an app build does
    assert open_binary(again).members()[0].packed.payload == frame


def test_lz4_members_round_trip_are_copied_and_stored_when_lz4_saves_too_little(tmp_path):
    import os

    import lz4.block

    from amber.archive.reader import open_binary
    from amber.archive.writer import LZ4, STORED, ZSTD, Packed

    code = b"\xf3\r\r\n" + b"LOAD_CONST STORE_NAME " * 300
    members = [Member("hot.pyc", code, lz4=True), Member("noise.pyc", os.urandom(4096), lz4=True),
               Member("both.pyc", code, lz4=True, zstd=9), Member(".amber/meta.json", code, lz4=True)]
    path = _binary(tmp_path, members)
    with zipfile.ZipFile(path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
        assert zf.getinfo("hot.pyc").compress_size < len(code) // 4
    assert methods == {"hot.pyc": LZ4, "noise.pyc": STORED, "both.pyc": ZSTD, ".amber/meta.json": STORED,
                       ".amber/index": STORED}
    back = {m.name: m for m in open_binary(path).members()}
    assert back["hot.pyc"].data == code and back["hot.pyc"].lz4 and back["hot.pyc"].zstd is None
    # A raw block (no frame, no size prefix): the index records both sizes.
    assert lz4.block.decompress(back["hot.pyc"].packed.payload, uncompressed_size=len(code)) == code
    # A block the writer (at its level 9) would never make itself proves it was copied, not recompressed.
    fast = lz4.block.compress(code, mode="fast", store_size=False)
    again = _binary(tmp_path, [Member("hot.pyc", code, lz4=True, packed=Packed(LZ4, fast))], "again")
    assert open_binary(again).members()[0].packed.payload == fast


def test_xz_members_round_trip_with_the_branch_filter_and_their_payloads_are_kept(tmp_path):
    import lzma
    import os

    from amber.archive import xz
    from amber.archive.reader import open_binary
    from amber.archive.writer import STORED, XZ, Packed
    from amber.errors import AmberError

    libdir = Path("/usr/lib/x86_64-linux-gnu")
    elf = next(p.read_bytes() for p in sorted(libdir.glob("lib*.so.*"))  # a real x86-64 shared object
               if p.is_file() and not p.is_symlink() and 100_000 < p.stat().st_size < 400_000)
    cache = tmp_path / "xz-cache"
    members = [Member("_cold.so", elf, xz=True, executable=True), Member("noise.bin", os.urandom(4096), xz=True)]
    path = _binary(tmp_path, members, xz_cache=cache)
    with zipfile.ZipFile(path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
    assert methods == {"_cold.so": XZ, "noise.bin": STORED, ".amber/index": STORED}
    back = {m.name: m for m in open_binary(path).members()}
    assert back["_cold.so"].data == elf and back["_cold.so"].xz and back["_cold.so"].executable
    payload = back["_cold.so"].packed.payload
    # One .xz stream, the x86 branch filter before LZMA2, no check of its own (the zip CRC is checked).
    assert lzma.decompress(payload) == elf and payload[6:8] == b"\x00\x00"  # stream flags: CHECK_NONE
    plain = lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE,
                          filters=[{"id": lzma.FILTER_LZMA2, "preset": xz.PRESET}])
    assert len(payload) < len(plain)  # the branch filter pays on code
    # Kept in the cache, with its digest: the next build reads it instead of encoding again.
    kept = list(cache.rglob("*.xz"))
    assert len(kept) == 2 and not list(cache.rglob(".tmp-*"))
    cached = next(p for p in kept if p.read_bytes()[:-xz.DIGEST_SIZE] == payload)
    cached.write_bytes(b"\xfd7zXZ" + bytes(cached.stat().st_size))  # damaged: encoded again, not used
    assert xz.compress(elf, cache) == payload and cached.read_bytes()[:-xz.DIGEST_SIZE] == payload
    # A payload read in the same method is copied as it is: here a damaged one, which reading refuses.
    again = _binary(tmp_path, [Member("_cold.so", elf, xz=True, packed=Packed(XZ, payload[:-1] + b"!"))], "again")
    with pytest.raises(AmberError, match="_cold.so"):
        open_binary(again).members()
    with pytest.raises(ValueError, match="xz"):
        xz.decompress(payload, len(elf) + 1)


def _up_to(members: Iterable[Member], limit: int) -> list[Member]:
    """The first of `members` whose sizes add up to just over `limit` bytes."""
    found, total = [], 0
    for member in members:
        found.append(member)
        total += len(member.data)
        if total > limit:
            break
    return found


def _host_sources(limit: int) -> list[Member]:
    """Real Python sources, about `limit` bytes of them: the host Python's standard library."""
    import sysconfig

    paths = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    return _up_to((Member(f"lib/{path.name}", path.read_bytes()) for path in paths), limit)


def test_zstd_dictionaries_are_trained_once_and_named_by_every_frame(tmp_path):
    import zstandard

    from amber.archive import dictionaries
    from amber.archive.reader import open_binary
    from amber.archive.writer import ZSTD

    sources = _host_sources(3 << 20)
    trained = dictionaries.train(sources)
    # Sources only: a .py dictionary (zstd, read only by tracebacks), none for .pyc without samples.
    ident = dictionaries.dictionary_id(trained[0].data)
    assert ident != 0
    # named by its id: the runtime's C layer reads only the dictionary a frame names
    assert [m.name for m in trained] == [f".amber/zstd/py-{ident}.dict"] and trained[0].zstd == 19
    assert dictionaries.train(list(reversed(sources))) == trained  # the same members, the same bytes
    with_dict = _binary(tmp_path, [replace(m, zstd=9) for m in sources] + trained, "with")
    without = _binary(tmp_path, [replace(m, zstd=9) for m in sources], "without")
    with zipfile.ZipFile(with_dict) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert infos[f".amber/zstd/py-{ident}.dict"].compress_type == ZSTD
    raw = with_dict.read_bytes()
    for member in sources:
        info = infos[member.name]
        start = info.header_offset + 30 + len(info.filename)
        assert zstandard.get_frame_parameters(raw[start:start + info.compress_size]).dict_id == ident
    # The dictionary pays for itself, counted in.
    assert with_dict.stat().st_size < without.stat().st_size * 0.95
    back = open_binary(with_dict).members()
    assert {m.name: m.data for m in back} == {m.name: m.data for m in [*sources, *trained]}
    # Read back and written again (an app build), the frames are copied with their dictionary ...
    again = _binary(tmp_path, back, "again")
    assert again.read_bytes()[len(PREFIX):] == raw[len(PREFIX):]
    # ... and without it, the writer refuses to make an archive nothing could read.
    with pytest.raises(ValueError, match="lib/.*dictionary .* does not hold"):
        _binary(tmp_path, [m for m in back if not dictionaries.is_dictionary(m.name)], "orphans")


def _host_code(limit: int) -> list[Member]:
    """Real compiled code, about `limit` bytes of it: the host Python's standard library, compiled here."""
    import importlib.util

    header = importlib.util.MAGIC_NUMBER + bytes(12)
    return _up_to((Member(m.name + "c", header + marshal.dumps(compile(m.data, m.name, "exec")))
                   for m in _host_sources(limit * 3)), limit)


def test_code_gets_a_small_dictionary_and_the_start_up_code_none(tmp_path):
    import zstandard

    from amber.archive import dictionaries
    from amber.archive.reader import open_binary
    from amber.archive.writer import LZ4, ZSTD

    code = _host_code(2 << 20)
    trained = dictionaries.train(code)
    assert [m.name for m in trained] == [dictionaries.member_name(".pyc", trained[0].data)]
    assert len(trained[0].data) == 256 << 10 and trained[0].lz4  # small: Django's start waits on its misses
    members = [replace(m, zstd=9) for m in code[1:]] + [replace(code[0], lz4=True)] + trained
    path = _binary(tmp_path, members)
    with zipfile.ZipFile(path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
    assert methods[code[0].name] == LZ4 and methods[trained[0].name] == LZ4
    back = {m.name: m for m in open_binary(path).members()}
    ident = dictionaries.dictionary_id(trained[0].data)
    assert all(zstandard.get_frame_parameters(back[m.name].packed.payload).dict_id == ident for m in code[1:])
    assert {methods[m.name] for m in code[1:]} == {ZSTD}
    assert {name: m.data for name, m in back.items()} == {m.name: m.data for m in [*code, *trained]}


def test_a_frame_whose_dictionary_is_missing_is_a_clear_error(tmp_path):
    from amber.archive import dictionaries
    from amber.archive.codecs import zstd_compress, zstd_decompress

    sources = _host_sources(2 << 20)
    dictionary = dictionaries.train(sources)[0].data
    frame = zstd_compress(sources[0].data, 9, dictionary)
    assert zstd_decompress(frame, len(sources[0].data), dictionaries.by_id([dictionary])) == sources[0].data
    with pytest.raises(ValueError, match="needs dictionary .* the archive does not hold"):
        zstd_decompress(frame, len(sources[0].data), {})


def test_a_damaged_lz4_member_is_a_clear_error(tmp_path):
    from amber.archive.reader import open_binary
    from amber.errors import AmberError

    code = b"\xf3\r\r\n" + b"LOAD_CONST STORE_NAME " * 300
    path = _binary(tmp_path, [Member("hot.pyc", code, lz4=True)])
    data = bytearray(path.read_bytes())
    at = data.index(b"hot.pyc") + len("hot.pyc")  # the first member's data follows its local header's name
    data[at + 20] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(AmberError, match="damaged archive member hot.pyc"):
        open_binary(path).members()


def test_the_lz4_method_number_and_the_dictionary_names_are_the_runtimes():
    from amber.archive.dictionaries import DICTIONARY_DIR, DICTIONARY_SUFFIX
    from amber.archive.writer import LZ4
    from amber.boot import zipzstd

    header = (Path(__file__).parents[1] / "src/amber/runtime/fs/amber_fs.h").read_text()
    assert f"#define AMBER_METHOD_LZ4 {LZ4:#06X}".replace("0X", "0x") in header
    assert zipzstd.LZ4 == LZ4
    archive_c = (Path(__file__).parents[1] / "src/amber/runtime/fs/archive.c").read_text()
    for name in (DICTIONARY_DIR, DICTIONARY_SUFFIX):  # where the C layer finds the dictionaries
        assert f'"{name}"' in archive_c, name


def test_packing_policies():
    from amber.archive import packing

    members = [Member("json/__init__.pyc", b"c" * 100), Member("json/__init__.py", b"s" * 100, compress=True),
               Member("_ssl.so", b"\x7fELF" + b"e" * 100, executable=True), Member("pkg/data.txt", b"d" * 100),
               Member("__amber_boot__.pyc", b"b" * 100), Member(".amber/build.json", b"{}", compress=True)]
    default = {m.name: (m.zstd, m.compress, m.lz4) for m in packing.app_members(members, None, {"json/__init__.pyc"})}
    assert default == {"json/__init__.pyc": (None, False, True), "json/__init__.py": (packing.APP_LEVEL, True, False),
                       "_ssl.so": (packing.APP_LEVEL, False, False), "pkg/data.txt": (packing.APP_LEVEL, False, False),
                       "__amber_boot__.pyc": (None, False, True), ".amber/build.json": (None, True, False)}
    # --no-compress: amber's layout before compression was the default, whatever the members were read as.
    read_as_zstd = [Member(m.name, m.data, m.compress, m.executable, zstd=19, lz4=True) for m in members[:4]]
    none = {m.name: (m.zstd, m.compress, m.lz4) for m in packing.app_members(read_as_zstd, False)}
    assert none == {"json/__init__.pyc": (None, False, False), "json/__init__.py": (None, True, False),
                    "_ssl.so": (None, False, False), "pkg/data.txt": (None, False, False)}
    assert packing.app_members(members, 3) == members and packing.every_member_level(3) == 3
    assert packing.every_member_level(None) is None and packing.every_member_level(False) is None
    runtime = {m.name: m.zstd for m in packing.runtime_members(members[:4])}
    assert runtime == {"json/__init__.pyc": 19, "json/__init__.py": 19, "_ssl.so": 19, "pkg/data.txt": None}


def test_more_members_than_a_plain_zip_can_count(tmp_path):
    members = [Member(f"m/{i:05}.txt", b"x") for i in range(70_000)]
    path = _binary(tmp_path, members)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == 70_000 + 2 and zf.read("m/69999.txt") == b"x"
    assert read_trailer(path.read_bytes()[-TAIL_SIZE:]) is not None


# -- one description of the format: the C launcher, the zipimport patch and the docs agree with format.py --

RUNTIME_DIR = Path(__file__).parent.parent / "src" / "amber" / "runtime"
EOCD = 22  # the zip end-of-central-directory record before the comment that is the trailer


def _c_bytes(literal: str) -> bytes:
    return literal.encode().decode("unicode_escape").encode("latin-1")


def test_launcher_reads_the_trailer_format_py_describes():
    from amber.archive.format import FLAG_APP, MAGIC, TRAILER_FIELDS, TRAILER_SIZE

    source = (RUNTIME_DIR / "launcher.c").read_text()
    defines = dict(re.findall(r"^#define (AMBER_\w+|EOCD_SIZE) (.+)$", source, re.MULTILINE))
    assert _c_bytes(defines["AMBER_MAGIC"].strip('"')) == MAGIC
    assert int(defines["AMBER_MAGIC_SIZE"]) == len(MAGIC)
    assert int(defines["AMBER_COMMENT_SIZE"]) == TRAILER_SIZE
    assert int(defines["EOCD_SIZE"]) == EOCD
    assert int(defines["AMBER_FLAG_APP"].rstrip("u")) == FLAG_APP
    reads = dict(re.findall(r"t->(\w+) = (?:\(uint32_t\))?amber_read_le\(c \+ (\d+, \d+)\);", source))
    assert reads and {name: tuple(map(int, at.split(", "))) for name, at in reads.items()} == {
        name: TRAILER_FIELDS[name] for name in reads}
    # the layout table in its header comment
    table = re.findall(r"^ \*\s+(\d+)\s+(\d+)\s+(\S.*)$", source, re.MULTILINE)
    assert [(int(o), int(s)) for o, s, _ in table] == list(TRAILER_FIELDS.values())


def test_zipimport_patch_reads_the_format_py_describes():
    from amber.archive.format import MAGIC, RECORD, RECORD_FIELDS, TRAILER_FIELDS, TRAILER_SIZE

    patch = (RUNTIME_DIR / "patches" / "0001-zipimport-amber-index.patch").read_text()
    assert f"+_AMBER_MAGIC = {MAGIC!r}" in patch
    assert f"+_AMBER_COMMENT_SIZE = {TRAILER_SIZE}" in patch
    assert f"+_AMBER_RECORD_SIZE = {RECORD.size}" in patch
    slices = {name: tuple(map(int, at)) for name, *at in re.findall(r"(\w+) = _unpack_uint\d+\(tail\[(\d+):(\d+)\]\)",
                                                                    patch)}
    slices["magic"] = tuple(map(int, re.search(r"tail\[(\d+):(\d+)\] != _AMBER_MAGIC", patch).groups()))
    slices["index_crc"] = tuple(map(int, re.search(r"_crc32\(data\) != _unpack_uint32\(tail\[(\d+):(\d+)\]\)",
                                                   patch).groups()))
    assert slices == {name: (EOCD + TRAILER_FIELDS[name][0], EOCD + sum(TRAILER_FIELDS[name]))
                      for name in ("magic", "index_crc", "index_offset", "index_size")}
    # a record becomes zipimport's toc_entry: (path, method, compressed size, size, offset, time, date, crc)
    entry = re.search(r"return \(self\._prefix \+ name, (.+?)\)\n", patch, re.DOTALL).group(1)
    named = {"offset": "header_offset"}
    read = [(int(a), int(b)) for a, b in re.findall(r"r\[o\+(\d+):o\+(\d+)\]", entry)]
    size_at = re.search(r"size = _unpack_uint32\(r\[o\+(\d+):o\+(\d+)\]\)", patch).groups()
    offset_at = re.search(r"offset = _unpack_uint64\(r\[o:o\+(\d+)\]\)", patch).groups()
    span = {name: (start, start + size) for name, (start, size) in RECORD_FIELDS.items()}
    assert read == [span["method"], span["size"], span["dos_time"], span["dos_date"], span["crc"]]
    assert (int(size_at[0]), int(size_at[1])) == span["compressed_size"]
    assert (0, int(offset_at[0])) == span[named["offset"]]


def test_c_file_layer_reads_the_records_format_py_describes():
    """runtime/fs/archive.c parses the index itself (C code may call open() on any thread, before Python
    is up): each record field it reads sits where RECORD_LAYOUT puts it."""
    from amber.archive.format import RECORD, RECORD_FIELDS

    source = (RUNTIME_DIR / "fs" / "archive.c").read_text()
    assert f"#define RECORD_SIZE {RECORD.size}" in source
    reads = re.findall(r"amber_members\[i\]\.(\w+) = (?:\(\w+\))?amber_read_le\(r(?: \+ (\d+))?, (\d+)\);", source)
    named = {"header": "header_offset", "csize": "compressed_size"}
    assert {named.get(field, field): (int(at or 0), int(size)) for field, at, size in reads} == \
        {name: RECORD_FIELDS[name] for name in ("header_offset", "compressed_size", "size", "crc", "method", "mode")}


def test_architecture_doc_table_is_format_py():
    from amber.archive.format import TRAILER_FIELDS

    doc = (Path(__file__).parent.parent / "docs" / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (.+) \|$", doc, re.MULTILINE)
    assert [(int(o), int(s)) for o, s, _ in rows] == list(TRAILER_FIELDS.values())
    assert "crc32 of the index" in rows[2][2]
