"""The target table (src/amber/targets.py) says what zig builds: each entry's facts are checked against a
program compiled for it, read back with amber's own ELF reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile
from amber.errors import AmberError


@pytest.mark.parametrize("target", list(targets.TARGETS.values()), ids=lambda t: t.name)
def test_each_target_is_what_zig_builds_for_it(target: targets.Target, tmp_path: Path):
    from amber.paths import cache_root
    from amber.runtime.toolchain import zig_binary

    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    program = tmp_path / "main"
    flags = [target.link_flags] if target.link_flags else []
    subprocess.run([zig_binary(), "cc", "-target", target.zig_target, *flags, "-o", program, tmp_path / "main.c"],
                   check=True, capture_output=True,  # zig's cache is the runtime builds' (warm after them)
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                        "ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "toolchain" / "zig-cache")})
    elf = ElfFile(program.read_bytes())
    assert elf.machine == target.elf_machine
    assert Path(elf.interpreter).name == target.loader
    if target.libc == "gnu":
        assert elf.glibc_needed <= target.libc_floor
    else:  # dynamically linked against musl's one library, which has no symbol versions
        assert (elf.needed, elf.glibc_needed) == (["libc.so"], None)


def test_names_and_tags():
    x86 = targets.get("x86_64-linux-gnu")
    assert x86 is targets.DEFAULT and x86.zig_target == "x86_64-linux-gnu.2.17"
    assert x86.extension_suffix("3.13") == ".cpython-313-x86_64-linux-gnu.so"
    assert targets.get("aarch64-linux-gnu").python_platform((2, 28)) == "aarch64-manylinux_2_28"
    musl = targets.get("x86_64-linux-musl")
    assert (musl.zig_target, musl.link_flags, musl.extension_suffix("3.13"), musl.python_platform((2, 28))) == (
        "x86_64-linux-musl", "-dynamic", ".cpython-313-x86_64-linux-musl.so", "x86_64-unknown-linux-musl")
    assert (musl.libc_label, musl.label, x86.libc_label) == ("musl 1.2.3", "x86_64 Linux (musl)", "glibc 2.17")
    with pytest.raises(AmberError, match="unknown target 'sparc-linux-gnu' \\(known: x86_64-linux-gnu, aarch64"):
        targets.get("sparc-linux-gnu")


@pytest.mark.parametrize("library", ["libffi", "zlib"])
def test_library_steps_cross_build_for_aarch64(library: str, tmp_path: Path, monkeypatch):
    """The runtime's library steps take their CPU from the target (libffi: its aarch64 port; configure's --host;
    OpenSSL's target): built for aarch64 from this x86_64 machine, every object in the archive is aarch64 code."""
    from amber.paths import cache_root
    from amber.progress import BuildLog
    from amber.runtime.build import build_library
    from amber.runtime.recipe import load_recipe
    from amber.runtime.toolchain import make_toolchain

    # The runtime builds' toolchain (its zig cache is warm), made before the library cache moves to tmp_path.
    tools = make_toolchain(cache_root() / "toolchain", targets.AARCH64_GNU, prefix_map=tmp_path)
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path / "cache"))
    source = load_recipe().sources[library]
    prefix = build_library(source, tools, BuildLog(tmp_path / "build.log", quiet=True), 2, tmp_path / "work")
    (archive,) = (prefix / "lib").glob("lib*.a")
    members = tmp_path / "members"
    members.mkdir()
    subprocess.run(["ar", "x", archive], cwd=members, check=True)
    machines = {ElfFile(path.read_bytes()).machine for path in members.iterdir()}
    assert machines == {targets.AARCH64_GNU.elf_machine}
