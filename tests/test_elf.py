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


def test_needed_names_are_rewritten_in_place(files: dict[str, Path], tmp_path: Path):
    """Under musl the native loader points a DT_NEEDED name at a loaded library's /proc/self/fd/N path, written
    over the name in the object's copy: readelf reads the new name, and the other entries are untouched."""
    from amber.boot.elf import needed_offsets

    data = bytearray(files["demo"].read_bytes())
    before = dynamic_info(bytes(data))[0]
    offsets = needed_offsets(bytes(data))
    offset, room = offsets["libm.so.6"]
    assert room == len("libm.so.6")
    data[offset:offset + 7] = b"/x/abc\0"
    copy = tmp_path / "libdemo-renamed.so"
    copy.write_bytes(bytes(data))
    after = ["/x/abc" if name == "libm.so.6" else name for name in before]
    assert re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", readelf(copy, "-d")) == after
    assert dynamic_info(bytes(data))[1:] == ("libdemo.so.1", "$ORIGIN/../deps")


def test_packed_relative_relocations_need_musl_1_2_4(tmp_path: Path):
    """DT_RELR (what lld and newer ld write with -z pack-relative-relocs, as Alpine 3.18+ builds do) is what a
    musl older than 1.2.4 cannot load: the builder's musl baseline reads it."""
    source = tmp_path / "pointers.c"
    source.write_text("int a, b;\nint *table[] = {&a, &b, &a, &b};\n")
    packed, plain = tmp_path / "packed.so", tmp_path / "plain.so"
    for output, flags in ((packed, ["-Wl,-z,pack-relative-relocs"]), (plain, [])):
        subprocess.run(["cc", "-shared", "-fPIC", *flags, "-o", output, source], check=True)
    assert "(RELR)" in readelf(packed, "-d") and "(RELR)" not in readelf(plain, "-d")
    assert (ElfFile(packed.read_bytes()).musl_needed, ElfFile(plain.read_bytes()).musl_needed) == ((1, 2, 4), None)
