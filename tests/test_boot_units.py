"""The boot code's pieces on the host, against a small real archive: fast cases for what otherwise only
end-to-end builds reach (the archive file system's answers, the hook registry, the extension finder's
decisions, the native loader's library search, which children may run the binary as a python).

`import amber.boot` makes the in-binary names (`__amber_vfs__`...) resolve to the package's modules, so
the boot modules import here as they do inside a binary.
"""

from __future__ import annotations

import sys
import zipimport
from pathlib import Path

import pytest

from amber.archive.writer import Member, write_archive
from amber.boot import children, extensions, hooks, native, vfs

SUFFIX = extensions.EXTENSION_SUFFIXES[0]  # this host's, e.g. .cpython-311-x86_64-linux-gnu.so


@pytest.fixture
def fs(tmp_path: Path) -> vfs.ArchiveFS:
    """The file system of an archive holding packages of every shape the finders tell apart."""
    archive = tmp_path / "app"
    members = [
        Member("pure/__init__.py", b""), Member("pure/__init__.pyc", b"c"), Member("pure/data.txt", b"hello\n"),
        Member(f"compiled/__init__{SUFFIX}", b"\x7fELF"), Member("compiled/__init__.py", b"FALLBACK = 1\n"),
        Member("compiled/helper.py", b""),
        Member(f"onlyext/__init__{SUFFIX}", b"\x7fELF"),
        Member(f"fast{SUFFIX}", b"\x7fELF"), Member("mixed/__init__.py", b""), Member(f"mixed{SUFFIX}", b"\x7fELF"),
        Member("pkg.libs/libdep-0a1b2c3d.so.1", b"\x7fELF"), Member("pkg/_ext.so", b"\x7fELF"),
        Member("pkg/lib/libsib.so", b"\x7fELF"), Member(".amber/lib/libstdc++.so.6", b"\x7fELF"),
        Member("bin/tool", b"#!/bin/sh\n", executable=True),
    ]
    with archive.open("wb") as f:
        f.write(b"\x7fELF" + b"\0" * 60)
        write_archive(f, members, timestamp=1700000000)
    return vfs.ArchiveFS(str(archive), zipimport._read_directory(str(archive)), zipimport._get_data)


# -- the archive file system --------------------------------------------------------------------------

def test_paths_under_the_binary_are_archive_names(fs: vfs.ArchiveFS):
    assert fs.relative(fs.prefix + "pure/data.txt") == "pure/data.txt"
    assert fs.relative((fs.prefix + "pure/../fast" + SUFFIX).encode()) == f"fast{SUFFIX}"
    assert fs.relative(fs.prefix + "../elsewhere") is None  # normalised out of the archive
    assert fs.relative(fs.prefix + "pure/..") == "" and fs.relative(fs.prefix) == ""
    assert fs.relative(fs.archive) is None and fs.listable(fs.archive) == ""  # the binary itself stays a file
    assert fs.relative("/etc/passwd") is None and fs.relative(3) is None


def test_index_fields_are_read_by_name(fs: vfs.ArchiveFS):
    assert fs.member_size("pure/data.txt") == 6
    size, crc, date, time = fs.fingerprint("pure/data.txt").split("-")
    assert (size, crc) == ("6", "363a3020")
    assert (int(date), int(time)) == ((2023 - 1980) << 9 | 11 << 5 | 14, 22 << 11 | 13 << 5 | 20 // 2)


# -- the hook registry --------------------------------------------------------------------------------

def test_actions_run_after_the_first_import_in_registration_order(tmp_path: Path, monkeypatch):
    (tmp_path / "amber_hooked_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ran = []
    hooks.after_import("amber_hooked_module", lambda: ran.append(("first", sys.modules["amber_hooked_module"].VALUE)))
    hooks.after_import("amber_hooked_module", lambda: ran.append(("second", 1)))
    assert sys.meta_path[0] is hooks._after_imports and ran == []
    try:
        import amber_hooked_module  # noqa: F401
    finally:
        sys.modules.pop("amber_hooked_module", None)
    assert ran == [("first", 1), ("second", 1)]
    assert hooks._after_imports not in sys.meta_path  # nothing waits: the finder left
    hooks.after_import("sys", lambda: ran.append("at once"))  # already imported
    assert ran[-1] == "at once" and hooks._after_imports not in sys.meta_path


# -- the extension finder -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "parent", "found", "package"), [
    ("compiled", None, f"compiled/__init__{SUFFIX}", True),  # the extension __init__ wins over the .py
    ("onlyext", None, f"onlyext/__init__{SUFFIX}", True),  # a package that is only a shared object
    ("pure", None, None, None),  # a package of Python code: the path finder's
    ("mixed", None, None, None),  # a package directory wins over a module of the same name
    ("fast", None, f"fast{SUFFIX}", False),
    ("pkg._ext", "pkg", None, None),  # no ABI suffix: .so alone is for the path finder's suffix list
    ("nothing", None, None, None),
])
def test_extension_finder_decides_as_file_finder_does(fs, monkeypatch, name, parent, found, package):
    monkeypatch.setattr(sys, "path", [fs.archive, *sys.path])
    finder = extensions.ExtensionFinder(native.NativeCode(fs))
    spec = finder.find_spec(name, None if parent is None else [fs.prefix + parent])
    if found is None:
        assert spec is None or not spec.origin.endswith(SUFFIX)
        return
    assert spec.origin == fs.prefix + found
    assert spec.loader.is_package(name) is package
    assert spec.submodule_search_locations == ([fs.prefix + name] if package else None)


def test_libraries_are_found_where_the_dynamic_linker_would(fs):
    loader = native.NativeCode(fs)
    assert loader._locate("libsib.so", "pkg/lib", "") == "pkg/lib/libsib.so"  # beside the object
    assert loader._locate("libsib.so", "pkg", "$ORIGIN/lib") == "pkg/lib/libsib.so"  # RUNPATH $ORIGIN
    assert loader._locate("libdep-0a1b2c3d.so.1", "pkg", "") == "pkg.libs/libdep-0a1b2c3d.so.1"  # auditwheel
    assert loader._locate("libc.so.6", "pkg", "$ORIGIN/lib") is None  # the system's
    assert loader.find_bundled("dep") == fs.prefix + "pkg.libs/libdep-0a1b2c3d.so.1"
    assert loader.find_bundled("stdc++") == fs.prefix + ".amber/lib/libstdc++.so.6"


# -- which children may run the binary as a python ------------------------------------------------------

def test_children_that_may_run_the_binary_are_marked():
    exe = sys.executable
    assert children._may_run_self(exe, [exe, "-c", "pass"])
    assert children._may_run_self("/bin/sh", ["/bin/sh", "-c", f"'{exe}' task.py && true"])
    assert children._may_run_self("/usr/bin/env", [b"/usr/bin/env", exe.encode(), b"-m", b"x"])
    assert not children._may_run_self("/bin/sh", ["/bin/sh", "-c", "env"])
    assert not children._may_run_self(exe, ["python3", "-c", "pass"])  # another argv[0]: the app by name
    assert not children._may_run_self("/bin/true", [exe, "-c", "pass"])  # another program
    assert children._marked_mapping({"A": "1", "AMBER_INTERPRETER": "stale"}) == {"A": "1", "AMBER_INTERPRETER": exe}
    assert children._marked_list([b"A=1", b"AMBER_INTERPRETER=1"]) == [b"A=1", b"AMBER_INTERPRETER=" + exe.encode()]


# -- the generated table every app carries ---------------------------------------------------------------

def test_the_app_table_has_one_schema_for_its_writer_and_readers():
    """Every name the boot code imports from __amber_app__ is in APP_TABLE, and the writer writes exactly
    APP_TABLE's names, as constants a compiled module holds."""
    import ast

    from amber.boot import BOOT_DIR
    from amber.boot.entry import APP_TABLE, app_table_source

    read = set()
    for source in BOOT_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "__amber_app__":
                read |= {alias.name for alias in node.names}
    assert read and read <= set(APP_TABLE)
    values = dict(SCRIPTS={"b": "m:b", "a": "m:a"}, DEFAULT="a", NATIVE=True, EXTRACT={}, EXECUTABLES={"z", "y"},
                  TRIMMED={}, ZSTD=False, NATIVE_POLICY="disk", SOURCE_ONLY=True)
    namespace = {}
    exec(app_table_source(**values), namespace)  # noqa: S102 - the generated module, as the binary runs it
    assert {name: namespace[name] for name in APP_TABLE} == {**values, "EXECUTABLES": frozenset({"y", "z"})}
    assert list(namespace["SCRIPTS"]) == ["a", "b"]  # sorted: the same build gives the same bytes
    with pytest.raises(ValueError, match="takes exactly"):
        app_table_source(**{**values, "EXTRA": 1})


@pytest.mark.skipif(not Path("/lib/ld-musl-x86_64.so.1").exists(), reason="needs Debian's musl (scripts/bootstrap)")
def test_musls_version_is_read_from_its_loader(tmp_path: Path):
    """What platform.libc_ver() answers for a musl binary: the version string musl's loader carries."""
    import subprocess

    from amber.boot import libc

    printed = subprocess.run(["/lib/ld-musl-x86_64.so.1"], capture_output=True, text=True).stderr  # musl's ldd
    assert f"Version {libc.musl_version('/lib/ld-musl-x86_64.so.1')}\n" in printed
    assert libc.musl_version(str(tmp_path / "missing")) == ""
