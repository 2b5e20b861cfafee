"""The two ELF readers, one set of cases: the boot code's (standard library only, inside binaries) and the
host's (amber.elf: the builder's glibc baseline and the runtime validator) agree with binutils' readelf on
real files: a shared object compiled here with a SONAME and a RUNPATH, the host's libstdc++, a program."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from amber.boot.elf import ELFError, dynamic_info
from amber.elf import ElfFile

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None or shutil.which("cc") is None,
                                reason="needs binutils' readelf and a C compiler (scripts/bootstrap installs them)")

LIBSTDCXX = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("elf")
    source = work / "lib.c"
    source.write_text("#include <math.h>\n__attribute__((visibility(\"hidden\"))) int hidden(void) { return 1; }\n"
                      "int exported(double x) { return (int)cbrt(x) + hidden(); }\n"
                      "static int local(void) { return 2; }\n"
                      "int weak_one(void) __attribute__((weak));\nint weak_one(void) { return local(); }\n")
    library = work / "libdemo.so.1"
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libdemo.so.1", "-Wl,-rpath,$ORIGIN/../deps",
                    "-Wl,--enable-new-dtags", "-o", library, source, "-lm"], check=True)
    program = work / "prog"
    (work / "prog.c").write_text("int exported(double);\nint main(void) { return exported(8.0); }\n")
    subprocess.run(["cc", "-o", program, work / "prog.c", f"-L{work}", "-l:libdemo.so.1"], check=True)
    found = {"demo": library, "program": program}
    if LIBSTDCXX.exists():
        found["libstdc++"] = LIBSTDCXX.resolve()
    return found


def readelf(path: Path, *options: str) -> str:
    return subprocess.run(["readelf", "-W", *options, path], capture_output=True, text=True, check=True).stdout


def test_dynamic_section_agrees_with_readelf(files: dict[str, Path]):
    for path in files.values():
        dynamic = readelf(path, "-d")
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic)
        soname = re.search(r"\(SONAME\)\s+Library soname: \[(.+)\]", dynamic)
        runpath = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.+)\]", dynamic)
        expected = (needed, soname and soname.group(1), runpath and runpath.group(1))
        data = path.read_bytes()
        assert dynamic_info(data) == expected, path
        elf = ElfFile(data)
        assert (elf.needed, elf.soname, elf.runpath) == expected, path
    assert dynamic_info(files["demo"].read_bytes())[1:] == ("libdemo.so.1", "$ORIGIN/../deps")


def test_symbol_versions_and_exports_agree_with_readelf(files: dict[str, Path]):
    for path in files.values():
        elf = ElfFile(path.read_bytes())
        versions = set(re.findall(r"Name: (\S+)\s+Flags", readelf(path, "-V")))
        assert set(elf.symbol_versions) == versions, path
        exported = set()
        for line in readelf(path, "--dyn-syms").splitlines():
            fields = line.split()
            if len(fields) >= 8 and fields[0].endswith(":") and fields[6] != "UND" \
                    and fields[4] in ("GLOBAL", "WEAK") and fields[5] in ("DEFAULT", "PROTECTED"):
                exported.add(fields[7].split("@")[0])
        assert set(elf.exported_symbols) == exported, path
    demo = ElfFile(files["demo"].read_bytes())
    assert {"exported", "weak_one"} <= set(demo.exported_symbols)
    assert not {"hidden", "local"} & set(demo.exported_symbols)
    major, minor = demo.glibc_needed
    assert demo.glibc_versions[-1].startswith(f"GLIBC_{major}.{minor}")


def test_programs_and_libraries_are_told_apart(files: dict[str, Path]):
    assert ElfFile(files["program"].read_bytes()).is_program
    assert not ElfFile(files["demo"].read_bytes()).is_program


@pytest.mark.parametrize("data", [b"", b"\x7fELF" + b"\0" * 10, b"\x7fELF\x01\x01" + b"\0" * 60, b"MZ" * 40])
def test_both_readers_refuse_what_is_not_a_64_bit_elf(data: bytes):
    with pytest.raises(ELFError):
        dynamic_info(data)
    with pytest.raises(ELFError):
        _ = ElfFile(data).needed
