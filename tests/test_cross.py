"""Another CPU's runtime, cross-built on this machine (issue #15): `amber runtime build --target
aarch64-linux-gnu`, checked as the validator checks every runtime, then run under qemu-aarch64-static with
Debian's arm64 C library as its root."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile

pytestmark = pytest.mark.runtime

SMOKE = r"""
import ctypes, ctypes.util, decimal, json, lzma, platform, sqlite3, ssl, sys, zlib
seen = {"machine": platform.machine(), "sqlite": sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0],
        "lzma": lzma.decompress(lzma.compress(b"amber" * 100)) == b"amber" * 100,
        "decimal": str(decimal.Decimal(1) / decimal.Decimal(7))[:8], "ssl": ssl.OPENSSL_VERSION.split()[0],
        "ctypes": ctypes.CDLL(None).abs(-7), "zlib": zlib.crc32(b"amber")}
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def aarch64_runtime() -> Path:
    """The aarch64 runtime (scripts/test builds it before the tests: minutes)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=targets.AARCH64_GNU)


def test_the_aarch64_runtime_is_an_aarch64_program_for_glibc_2_17(aarch64_runtime: Path):
    elf = ElfFile(aarch64_runtime.read_bytes())
    assert elf.machine == targets.AARCH64_GNU.elf_machine
    assert elf.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert elf.glibc_needed <= (2, 17)
    assert set(elf.needed) <= {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
                                "libutil.so.1", "ld-linux-aarch64.so.1"}


def test_the_aarch64_runtime_runs_under_emulation(aarch64_runtime: Path):
    from amber.runtime.emulation import runner

    out = subprocess.run([*runner(targets.AARCH64_GNU), aarch64_runtime, "-I", "-c", SMOKE], capture_output=True,
                         text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"machine": "aarch64", "sqlite": 42, "lzma": True, "decimal": "0.142857",
                                      "ssl": "OpenSSL", "ctypes": 7, "zlib": 1190008450}
