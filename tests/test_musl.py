"""The musl runtimes (issue #16): `amber runtime build --target x86_64-linux-musl` (and aarch64-linux-musl),
dynamically linked against musl's own loader (never static, so that C extensions can load), run in an empty root
holding nothing but Debian's musl package (its loader is its libc), /proc and a noexec /tmp: no glibc at all."""

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


@pytest.fixture(params=[targets.X86_64_MUSL, targets.AARCH64_MUSL], ids=lambda t: t.name)
def target(request) -> targets.Target:
    """Each musl target; aarch64's programs run through qemu (the `emulated` fixture's binfmt_misc rule)."""
    if request.param.arch != os.uname().machine:
        request.getfixturevalue("emulated")
    return request.param


@pytest.fixture
def target_runtime(target: targets.Target, runtime: Path) -> Path:
    """The target's musl runtime (scripts/test builds both before the tests: minutes each)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=target)


@pytest.fixture
def target_root(target: targets.Target, tmp_path: Path) -> Chroot:
    """An empty root holding the target's Debian musl package (1.2.3) only, /proc, /tmp a noexec tmpfs."""
    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    with empty_root(tmp_path / "musl-root", target) as root:
        yield root


def test_the_musl_runtime_links_musl_alone(target: targets.Target, target_runtime: Path):
    elf = ElfFile(target_runtime.read_bytes())
    assert (elf.machine, elf.interpreter, elf.needed) == (target.elf_machine, f"/lib/{target.loader}", ["libc.so"])
    assert elf.glibc_needed is None  # no glibc symbol version anywhere
    assert "PyModule_Create2" in elf.exported_symbols  # extension modules can bind to the C API
    dynload = target_runtime.parent.parent / "lib" / "python3.13" / "lib-dynload"
    ssl = next(dynload.glob(f"_ssl{target.extension_suffix('3.13')}"))
    assert ElfFile(ssl.read_bytes()).needed == ["libc.so"]


def test_the_musl_runtime_in_an_empty_musl_root(target: targets.Target, target_runtime: Path, target_root: Chroot,
                                                tmp_path: Path):
    """The smoke imports, a TLS handshake with this machine's Python, a spawned child, curses' built-in terminfo
    and readline, with nothing in the root but musl 1.2.3 (aarch64's under qemu)."""
    assert not [p for d in ("lib", "usr") for p in (target_root.root / d).rglob("libc.so.6")]  # no glibc
    out = run_smoke(target_root, target_runtime, tmp_path)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    arch = target.arch
    assert seen == {
        "machine": arch, "spawn": [arch, "spawned"], "exitcode": 0, "sqlite": 42, "lzma": True,
        "decimal": "0.142857", "ctypes": 7, "zlib": 1190008450, "curses": True, "readline": True,
        "tls": ["TLSv1.3", f"hello {arch}"]}
    assert os.listdir(target_root.root / "tmp") == []
