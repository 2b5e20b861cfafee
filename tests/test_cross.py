"""Another CPU's runtime, cross-built on this machine (issue #15): `amber runtime build --target
aarch64-linux-gnu`, checked as the validator checks every runtime, then run under emulation in an empty
aarch64 root (Debian's arm64 C library and nothing else, /tmp a noexec tmpfs), the kernel handing every
aarch64 program to qemu-aarch64-static (binfmt_misc), so that the programs it starts run too."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile
from helpers.chroot import Chroot
from helpers.smoke import run_smoke

pytestmark = pytest.mark.runtime
TARGET = targets.AARCH64_GNU



@pytest.fixture(scope="module")
def aarch64_runtime() -> Path:
    """The aarch64 runtime (scripts/test builds it before the tests: minutes)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=TARGET)


def test_the_aarch64_runtime_is_an_aarch64_program_for_glibc_2_17(aarch64_runtime: Path):
    elf = ElfFile(aarch64_runtime.read_bytes())
    assert elf.machine == TARGET.elf_machine
    assert elf.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert elf.glibc_needed <= (2, 17)
    assert set(elf.needed) <= {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
                                "libutil.so.1", "ld-linux-aarch64.so.1"}


def test_the_aarch64_runtime_in_an_empty_aarch64_root(aarch64_runtime: Path, arm_root: Chroot, tmp_path: Path):
    """The smoke imports, a TLS handshake with this machine's Python, a spawned child (another emulated
    process), curses' built-in terminfo and readline, with nothing in the root but the C library."""
    out = run_smoke(arm_root, aarch64_runtime, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "machine": "aarch64", "spawn": ["aarch64", "spawned"], "exitcode": 0, "sqlite": 42, "lzma": True,
        "decimal": "0.142857", "ctypes": 7, "zlib": 1190008450, "curses": True, "readline": True,
        "tls": ["TLSv1.3", "hello aarch64"]}
    assert os.listdir(arm_root.root / "tmp") == []
