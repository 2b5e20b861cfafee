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
    subprocess.run([zig_binary(), "cc", "-target", target.zig_target, "-o", program, tmp_path / "main.c"],
                   check=True, capture_output=True,  # zig's cache is the runtime builds' (warm after them)
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                        "ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "toolchain" / "zig-cache")})
    elf = ElfFile(program.read_bytes())
    assert elf.machine == target.elf_machine
    assert Path(elf.interpreter).name == target.loader
    assert elf.glibc_needed <= target.libc_floor


def test_names_and_tags():
    x86 = targets.get("x86_64-linux-gnu")
    assert x86 is targets.DEFAULT and x86.zig_target == "x86_64-linux-gnu.2.17"
    assert x86.extension_suffix("3.13") == ".cpython-313-x86_64-linux-gnu.so"
    assert targets.get("aarch64-linux-gnu").python_platform((2, 28)) == "aarch64-manylinux_2_28"
    with pytest.raises(AmberError, match="unknown target 'sparc-linux-gnu' \\(known: x86_64-linux-gnu, aarch64"):
        targets.get("sparc-linux-gnu")
