"""The musl runtime (issue #16): `amber runtime build --target x86_64-linux-musl`, dynamically linked against
musl's own loader (never static, so that C extensions can load), run in an empty root holding nothing but
Debian's musl package (its loader is its libc), /proc and a noexec /tmp: no glibc at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile
from helpers.chroot import Chroot, empty_root
from helpers.smoke import run_smoke

pytestmark = pytest.mark.runtime
TARGET = targets.X86_64_MUSL


@pytest.fixture(scope="module")
def musl_runtime(runtime: Path) -> Path:
    """The x86_64 musl runtime (scripts/test builds it before the tests: minutes)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=TARGET)


@pytest.fixture
def musl_root(tmp_path: Path) -> Chroot:
    """An empty root holding Debian's musl package only, /proc, /tmp a noexec tmpfs."""
    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    with empty_root(tmp_path / "musl-root", TARGET) as root:
        yield root


def test_the_musl_runtime_links_musl_alone(musl_runtime: Path):
    elf = ElfFile(musl_runtime.read_bytes())
    assert (elf.machine, elf.interpreter, elf.needed) == (62, "/lib/ld-musl-x86_64.so.1", ["libc.so"])
    assert elf.glibc_needed is None  # no glibc symbol version anywhere
    assert "PyModule_Create2" in elf.exported_symbols  # extension modules can bind to the C API
    dynload = musl_runtime.parent.parent / "lib" / "python3.13" / "lib-dynload"
    ssl = next(dynload.glob("_ssl.cpython-313-x86_64-linux-musl.so"))
    assert ElfFile(ssl.read_bytes()).needed == ["libc.so"]


def test_the_musl_runtime_in_an_empty_musl_root(musl_runtime: Path, musl_root: Chroot, tmp_path: Path):
    """The smoke imports, a TLS handshake with this machine's Python, a spawned child, curses' built-in terminfo
    and readline, with nothing in the root but musl."""
    assert not [p for d in ("lib", "usr") for p in (musl_root.root / d).rglob("libc.so.6")]  # no glibc
    out = run_smoke(musl_root, musl_runtime, tmp_path)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {
        "machine": "x86_64", "spawn": ["x86_64", "spawned"], "exitcode": 0, "sqlite": 42, "lzma": True,
        "decimal": "0.142857", "ctypes": 7, "zlib": 1190008450, "curses": True, "readline": True,
        "tls": ["TLSv1.3", "hello x86_64"]}
    assert os.listdir(musl_root.root / "tmp") == []


def test_apps_for_musl_are_refused_in_one_line(tmp_path: Path):
    """Until musllinux wheels and musl's loader are handled, `amber build --target x86_64-linux-musl` says so
    instead of writing a binary that would fail."""
    from helpers.build import AMBER, copy_fixture
    from helpers.proc import run

    out = run([*AMBER, "build", copy_fixture("hello", tmp_path), "--target", TARGET.name])
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "amber: amber build does not build apps for x86_64-linux-musl yet: its runtime builds (amber runtime build "
        "--target x86_64-linux-musl), but musllinux wheels and native code under musl's loader are still to come"]
