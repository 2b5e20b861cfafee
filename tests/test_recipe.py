"""The declarative recipe: pins, module table, Setup.local, recipe hash."""

from __future__ import annotations

import re
import tarfile

import pytest

from amber.errors import AmberError
from amber.runtime import cpython, sources
from amber.runtime.recipe import load_recipe, recipe_hash

REQUIRED_LIBRARIES = {"zlib", "bzip2", "xz", "libffi", "zstd", "openssl", "sqlite", "ncurses", "libedit", "libuuid"}


def test_default_python_and_libraries_are_pinned():
    recipe = load_recipe()
    rec = recipe.python(None)
    assert rec.minor == "3.13" and rec.version == "3.13.15"
    assert {s.key for s in rec.libraries} == REQUIRED_LIBRARIES
    for src in (rec.source, *rec.libraries):
        assert re.fullmatch(r"[0-9a-f]{64}", src.sha256), src.key
        assert src.url.startswith("https://"), src.key
        assert "=" in src.debian and src.suites, src.key
    assert recipe.target == "x86_64-linux-gnu.2.17"


def test_python_selection():
    recipe = load_recipe()
    assert recipe.python("3.13.15").minor == "3.13"
    with pytest.raises(AmberError, match="no runtime recipe for Python '3.9'"):
        recipe.python("3.9")


def test_recipe_hash_is_stable_and_short():
    assert recipe_hash("3.13") == recipe_hash("3.13")
    assert re.fullmatch(r"[0-9a-f]{16}", recipe_hash("3.13"))


def _setup_stdlib_modules() -> set[str]:
    rec = load_recipe().python(None)
    tarball = None
    for directory in sources.source_dirs() + [sources.download_dir()]:
        if (directory / rec.source.file).is_file():
            tarball = directory / rec.source.file
    if tarball is None:
        pytest.skip("CPython source tarball not in any source cache")
    with tarfile.open(tarball) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("Modules/Setup.stdlib.in"))
        text = tar.extractfile(member).read().decode()
    return set(re.findall(r"^@MODULE_\w+_TRUE@(\w+)", text, re.MULTILINE))


def test_module_table_covers_every_stdlib_extension():
    rec = load_recipe().python(None)
    table = {m.name: m for m in rec.extensions}
    assert set(table) - {"_amber_zstd"} == _setup_stdlib_modules()
    for m in table.values():
        assert m.status in ("static", "shared", "stub", "disabled")
        if m.status == "disabled":
            assert m.reason, f"{m.name} is left out without a reason"
        elif m.status == "stub":
            assert table[m.provider].status == "shared", m.name
        else:
            assert m.sources, m.name
    # What the importer and the boot code need before any loader of ours runs stays in the ELF.
    for needed in ("zlib", "_amber_zstd", "_struct", "mmap", "fcntl", "_posixsubprocess", "select", "_socket",
                   "_ctypes", "_bz2", "_lzma", "_sha2"):
        assert table[needed].status == "static", needed
    # The heavy libraries are shared objects, loaded only by the apps that import them.
    for heavy in ("_ssl", "_sqlite3", "_decimal", "_uuid", "readline", "_curses",
                  "pyexpat", "unicodedata"):
        assert table[heavy].status == "shared", heavy
    assert table["_hashlib"].provider == "_ssl" and table["_curses_panel"].provider == "_curses"


def test_setup_local_lists_static_shared_then_disabled():
    rec = load_recipe().python(None)
    text = cpython.setup_local(rec.extensions, rec.minor)
    lines = text.splitlines()
    assert lines[1] == "*static*"
    shared_at = lines.index("*shared*")
    disabled_at = lines.index("*disabled*")
    assert "_amber_zstd _amber_zstd.c -lzstd" in lines[:shared_at]
    ssl = next(line for line in lines[shared_at:disabled_at] if line.startswith("_ssl "))
    assert "_hashopenssl.c" in ssl and ssl.endswith("-Wl,-soname,_ssl.cpython-313-x86_64-linux-gnu.so")
    assert {"_tkinter", "_hashlib", "_curses_panel"} <= set(lines[disabled_at:])
    assert all(not line.startswith("_tkinter") for line in lines[:disabled_at])
