"""The validator flags what makes a runtime unportable (on synthetic facts and real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amber import targets
from amber.runtime import validate

GOOD = {
    "needed": ["libc.so.6", "libm.so.6"],
    "glibc_versions": ["GLIBC_2.2.5", "GLIBC_2.17"],
    "exported": ["PyModule_Create2", "PyArg_ParseTuple", "_Py_NoneStruct", "PyExc_ValueError", "_PyObject_New"],
}


def test_clean_facts_pass():
    assert validate.check_elf(GOOD, "2.17") == []


def test_foreign_library_is_flagged():
    facts = dict(GOOD, needed=["libc.so.6", "libssl.so.3"])
    assert validate.check_elf(facts, "2.17") == ["links libraries outside glibc: libssl.so.3"]
    # musl is one library: glibc's sonames are foreign there.
    musl = dict(GOOD, needed=["libc.so", "libc.so.6"], glibc_versions=[])
    assert validate.check_elf(musl, "1.2", targets.X86_64_MUSL) == ["links libraries outside musl: libc.so.6"]


def test_new_glibc_symbol_is_flagged():
    facts = dict(GOOD, glibc_versions=["GLIBC_2.17", "GLIBC_2.25", "GLIBC_2.34"])
    (problem,) = validate.check_elf(facts, "2.17")
    assert "GLIBC_2.25, GLIBC_2.34" in problem


def test_non_api_export_is_flagged():
    facts = dict(GOOD, exported=GOOD["exported"] + ["SSL_CTX_new", "ffi_call"])
    (problem,) = validate.check_elf(facts, "2.17")
    assert problem.startswith("exports 2 symbols outside the Python C API: SSL_CTX_new, ffi_call")


def test_missing_c_api_is_flagged():
    facts = dict(GOOD, exported=["PyArg_ParseTuple"])
    problems = validate.check_elf(facts, "2.17")
    assert any("PyModule_Create2" in p for p in problems)


def test_a_gcc_built_python_fails_the_checks():
    """A stock shared-libpython build links libpython: exactly what the runtime must avoid."""
    python = Path("/root/.pyenv/versions/3.13.0/bin/python3.13")
    if not python.is_file():
        pytest.skip("pyenv 3.13.0 not present")
    problems = validate.check_elf(validate.elf_facts(python.resolve()), "2.17")
    assert any("libpython3.13.so" in p for p in problems)


def test_build_paths_are_found(tmp_path: Path):
    f = tmp_path / "bin"
    f.write_bytes(b"\x7fELF...CC=/home/builder/.cache/amber/toolchain/bin/zig-cc...")
    assert validate.check_build_paths(f, [Path("/home/builder/.cache/amber")]) == [
        "contains the build-machine path /home/builder/.cache/amber"
    ]
    assert validate.check_build_paths(f, [Path("/elsewhere")]) == []


def test_build_paths_are_found_inside_compressed_members(tmp_path: Path):
    from amber.archive.writer import Member, write_archive

    f = tmp_path / "runtime"
    with f.open("wb") as out:
        out.write(b"\x7fELF" + b"\0" * 100)
        write_archive(out, [Member("_sysconfigdata.py", b"CC = '/home/builder/.cache/amber/zig-cc'\n" * 20, zstd=19)])
    assert validate.file_contents(f)[1:] == [b"CC = '/home/builder/.cache/amber/zig-cc'\n" * 20]  # decompressed
    assert validate.check_build_paths(f, [Path("/home/builder/.cache/amber")]) == [
        "contains the build-machine path /home/builder/.cache/amber"
    ]


def test_probe_problems():
    result = {"failed": {"_ssl": "ImportError: x"}, "ca_files": ["/etc/ssl/cert.pem"],
              "terminfo_fallback": "error: no terminal", "sysconfig_cc": "/opt/zig-cc",
              "memfd_create": "AttributeError: module 'os' has no attribute 'memfd_create'"}
    problems = validate.check_probe(result)
    assert problems[0] == "module _ssl does not import: ImportError: x"
    assert any("/etc/pki/tls/certs/ca-bundle.crt" in p for p in problems)
    assert any("terminfo" in p for p in problems)
    assert any("CC=/opt/zig-cc" in p for p in problems)
    assert "os.memfd_create does not work: AttributeError: module 'os' has no attribute 'memfd_create'" in problems
