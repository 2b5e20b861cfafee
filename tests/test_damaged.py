"""Damaged binaries (issue #8, item 1): each damage gives correct behaviour or one `amber: ...`
line and a non-zero exit — never a hang, a signal or a traceback from the loader.

What is checked when: the launcher checks the trailer (and that nothing follows the ELF
image without one) at every start; zipimport checks the CRC of each member it reads (zstd's
own checksum for a compressed one), when it reads it. Nothing reads the whole payload at start-up.

Out of reach by design: a file cut inside its own interpreter (the ELF image) fails in the
kernel or the dynamic loader before any of amber's code runs.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4 = 0x4C34


@pytest.fixture(scope="module")
def hello(hello_binary: Path) -> Path:
    return hello_binary  # shared with the other test files (conftest.py); copied before any change


def variant(hello: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name / "hello"  # the script name must stay "hello"
    path.parent.mkdir()
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def outcome(binary: Path, *args: str, env: dict | None = None) -> tuple[int, list[str], str]:
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30,
                            env=env or {"PATH": "/usr/bin:/bin"})
    return result.returncode, result.stderr.strip().splitlines(), result.stdout


def assert_one_amber_line(code: int, err: list[str], *words: str) -> None:
    assert code == 1, (code, err)
    assert len(err) == 1 and err[0].startswith("amber: "), err
    for word in words:
        assert word in err[0], err


def member_data_offset(binary: Path, name: str) -> int:
    with zipfile.ZipFile(binary) as zf:
        info = zf.getinfo(name)
    return info.header_offset + 30 + len(info.filename)


def test_truncated_archive_is_one_line(hello: Path, tmp_path: Path):
    data = hello.read_bytes()
    with zipfile.ZipFile(hello) as zf:
        first = min(i.header_offset for i in zf.infolist())
    for cut in (first + 1, first + 100_000, (first + len(data)) // 2, len(data) - 30, len(data) - 1):
        code, err, _ = outcome(variant(hello, tmp_path, f"cut{cut}", data[:cut]), "x")
        assert_one_amber_line(code, err, "damaged file", "copy it again")


def test_flipped_bytes(hello: Path, tmp_path: Path):
    data = hello.read_bytes()

    def flipped(offset: int) -> bytes:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        return bytes(damaged)

    # The entry module's .pyc (an LZ4 block: every start runs it): it no longer decompresses, or its CRC no
    # longer matches, when it is imported.
    with zipfile.ZipFile(hello) as zf:
        assert zf.getinfo("hello/cli.pyc").compress_type == LZ4
    code, err, _ = outcome(variant(hello, tmp_path, "pyc", flipped(member_data_offset(hello, "hello/cli.pyc") + 40)))
    assert_one_amber_line(code, err, "damaged archive member", "hello/cli.pyc")
    assert "CRC mismatch" in err[0] or "does not decompress" in err[0], err
    # A module no start imports (a zstd member): imported by the code run, it no longer decompresses (or
    # zstd's checksum no longer matches), which that code gets as an ImportError naming the member.
    module = member_data_offset(hello, "traceback.pyc")
    assert data[module:module + 4] == ZSTD_MAGIC
    interpreter = {"PATH": "/usr/bin:/bin", "AMBER_INTERPRETER": "1"}
    code, err, _ = outcome(variant(hello, tmp_path, "zstd", flipped(module + 20)), "-c", "import traceback",
                           env=interpreter)
    assert code == 1 and err[-1].startswith("zipimport.ZipImportError: amber: damaged archive member"), err
    assert "traceback.pyc" in err[-1] and "does not decompress" in err[-1]
    # The frame header's checksum flag cleared: a frame that would go unchecked is refused too.
    unchecked = bytearray(data)
    unchecked[module + 4] &= ~0x04
    code, err, _ = outcome(variant(hello, tmp_path, "unchecked", bytes(unchecked)), "-c", "import traceback",
                           env=interpreter)
    assert code == 1 and "traceback.pyc" in err[-1] and "does not decompress" in err[-1], err
    # The .pyc dictionary (an LZ4 member every zstd .pyc refers into, archive/dictionaries.py): no longer
    # intact, it is not used, and a module compressed with it names what it misses.
    with zipfile.ZipFile(hello) as zf:
        pyc_dictionary = next(n for n in zf.namelist() if n.startswith(".amber/zstd/pyc-"))
    dictionary = member_data_offset(hello, pyc_dictionary) + 1000
    code, err, _ = outcome(variant(hello, tmp_path, "dictionary", flipped(dictionary)), "-c", "import traceback",
                           env=interpreter)
    assert code == 1 and "traceback.pyc" in err[-1], err
    assert "its zstd dictionary is missing or damaged" in err[-1], err
    # The boot module itself (an LZ4 block): it no longer decompresses, or its CRC no longer matches.
    boot = member_data_offset(hello, "__amber_boot__.pyc") + 40
    code, err, _ = outcome(variant(hello, tmp_path, "boot", flipped(boot)))
    assert_one_amber_line(code, err, "__amber_boot__.pyc")
    assert "CRC mismatch" in err[0] or "does not decompress" in err[0], err
    # The trailer: its offsets no longer fit the file.
    code, err, _ = outcome(variant(hello, tmp_path, "trailer", flipped(len(data) - 17)))
    assert_one_amber_line(code, err, "damaged file")
    # The marshalled index (read during interpreter start-up).
    index = member_data_offset(hello, ".amber/index")
    code, err, _ = outcome(variant(hello, tmp_path, "index", flipped(index + 2)))
    assert_one_amber_line(code, err, "cannot start")
    # A compressed member (the module's source, read only for a traceback): the app's own
    # traceback still comes, without that source line.
    source = member_data_offset(hello, "hello/cli.py") + 10
    fail = variant(hello, tmp_path, "source", flipped(source))
    link = fail.with_name("hello-fail")
    link.symlink_to(fail.name)
    code, err, _ = outcome(link, env={"PATH": "/usr/bin:/bin", "HELLO_EXIT": "-1"})
    assert code == 1 and err[-1] == "RuntimeError: boom from hello", err


def test_archive_appended_twice_still_runs(hello: Path, tmp_path: Path):
    data = hello.read_bytes()
    with zipfile.ZipFile(hello) as zf:
        first = min(i.header_offset for i in zf.infolist())
    code, err, out = outcome(variant(hello, tmp_path, "twice", data + data[first:]), "again")
    assert code == 0, err
    assert '"argv": ["again"]' in out
