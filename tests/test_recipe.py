"""The declarative recipe: pins, module table, Setup.local, recipe hash."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile

import pytest

from amber import targets
from amber.errors import AmberError
from amber.runtime import cpython, libraries, sources
from amber.runtime.recipe import library_hash, load_recipe, recipe_hash

REQUIRED_LIBRARIES = {"zlib", "bzip2", "xz", "libffi", "zstd", "lz4", "openssl", "sqlite", "ncurses", "libedit",
                      "libuuid"}


def test_default_python_and_libraries_are_pinned():
    recipe = load_recipe()
    rec = recipe.python(None)
    assert rec.minor == "3.13" and rec.version == "3.13.15"
    assert {s.key for s in rec.libraries} == REQUIRED_LIBRARIES
    for src in (rec.source, *rec.libraries):
        assert re.fullmatch(r"[0-9a-f]{64}", src.sha256), src.key
        assert src.url.startswith("https://"), src.key
        assert "=" in src.debian and src.suites, src.key
    # the target is part of a runtime's identity: one recipe, a runtime per target
    assert recipe_hash("3.13", targets.AARCH64_GNU) != recipe_hash("3.13") == recipe_hash("3.13", targets.DEFAULT)


def test_python_selection():
    recipe = load_recipe()
    assert recipe.python("3.13.15").minor == "3.13"
    with pytest.raises(AmberError, match="no runtime recipe for Python '3.9'"):
        recipe.python("3.9")


def test_recipe_hash_is_stable_and_short():
    """Computed afresh (the function caches its result), in another process, from the same files."""
    here = recipe_hash("3.13")
    recipe_hash.cache_clear()
    assert recipe_hash("3.13") == here
    code = "from amber.runtime.recipe import recipe_hash; print(recipe_hash('3.13'))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert fresh == here
    assert re.fullmatch(r"[0-9a-f]{16}", here)
    assert recipe_hash("3.12") != here


@pytest.mark.parametrize(("library", "name", "value"), [
    ("libffi", "_FFICONFIG", "#define EH_FRAME_FLAGS \"aw\"\n"),
    ("libffi", "_FFI_SOURCES", ["src/prep_cif.c"]),
    ("ncurses", "TERMINFO_DIRS", "/usr/share/terminfo"),
    ("ncurses", "TERMINFO_FALLBACKS", "xterm"),
])
def test_library_hash_covers_the_data_its_step_reads(monkeypatch, library: str, name: str, value):
    """Editing a value a library's build step reads must give that library a new cache key (and not
    the libraries that do not read it)."""
    recipe = load_recipe()
    by_key = {s.key: s for s in recipe.python(None).libraries}
    before = {key: library_hash(source, ()) for key, source in by_key.items()}
    monkeypatch.setattr(libraries, name, value)
    after = {key: library_hash(source, ()) for key, source in by_key.items()}
    assert before[library] != after[library]
    assert {key for key in by_key if before[key] != after[key]} == {library}


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
    assert set(table) - {"_amber_fs"} == _setup_stdlib_modules()  # amber's own
    for m in table.values():
        assert m.status in ("static", "shared", "stub", "disabled")
        if m.status == "disabled":
            assert m.reason, f"{m.name} is left out without a reason"
        elif m.status == "stub":
            assert table[m.provider].status == "shared", m.name
        else:
            assert m.sources, m.name
    # What the importer and the boot code need before any loader of ours runs stays in the ELF.
    for needed in ("zlib", "_amber_fs", "_struct", "mmap", "fcntl", "_posixsubprocess", "select",
                   "_socket", "_ctypes", "_bz2", "_lzma", "_sha2"):
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
    assert any(line.startswith("_amber_fs _amber_fs/archive.c ") and "-llz4" in line for line in lines[:shared_at])
    ssl = next(line for line in lines[shared_at:disabled_at] if line.startswith("_ssl "))
    assert "_hashopenssl.c" in ssl and ssl.endswith("-Wl,-soname,_ssl.cpython-313-x86_64-linux-gnu.so")
    assert {"_tkinter", "_hashlib", "_curses_panel"} <= set(lines[disabled_at:])
    assert all(not line.startswith("_tkinter") for line in lines[:disabled_at])
