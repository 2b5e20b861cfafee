"""builder/startup.py: the code every start runs, found statically (its .pyc files are LZ4), and the shared objects
it loads (written ahead into the extraction cache on a first run)."""

from __future__ import annotations

from amber.archive import packing
from amber.archive.writer import Member
from amber.builder.startup import module_level_imports, startup_members

SOURCE = b'''
import os, a.b as ab
from . import sibling
from .sub import thing
from ..up import other
try:
    import fast
except ImportError:
    import slow
if os.name == "posix":
    from posixonly import *
with open(__file__):
    import inwith
class Table:
    import inclass
    def method(self):
        import inmethod
def helper():
    import infunction
lazy = lambda: __import__("inlambda")
'''


def test_module_level_imports_follow_statements_not_functions():
    found = module_level_imports(SOURCE, "pkg.mod", is_package=False)
    assert found == {"os", "a.b", "pkg", "pkg.sibling", "pkg.sub", "pkg.sub.thing", "fast", "slow", "posixonly",
                     "inwith", "inclass"}
    assert "up" not in str(found)  # `..up` from a top-level package's module goes nowhere
    # A package's relative imports are relative to itself.
    assert module_level_imports(b"from . import x\n", "pkg", is_package=True) == {"pkg", "pkg.x"}


def test_source_the_build_python_cannot_parse_is_read_by_line():
    source = b"import json, re\nfrom .core import (a, b)\ntype Alias = int\ndef f():\n    import hidden\n"
    assert module_level_imports(source, "pkg.mod", is_package=False) == {"json", "re", "pkg.core", "pkg.core.a",
                                                                         "pkg.core.b"}


def members(files: dict[str, bytes]) -> list[Member]:
    return [Member(name, data) for name, data in files.items()]


def test_startup_members_reach_through_packages_and_stop_at_functions():
    archive = members({
        "app/__init__.py": b"", "app/__init__.pyc": b"c",
        "app/cli.py": b"import json\nfrom app import util\ndef main():\n    import email\n", "app/cli.pyc": b"c",
        "app/util.py": b"from ._speed import go\n", "app/util.pyc": b"c",
        "app/_speed.cpython-313-x86_64-linux-gnu.so": b"\x7fELF",
        "json/__init__.py": b"from .decoder import JSONDecoder\n", "json/__init__.pyc": b"c",
        "json/decoder.py": b"import re\n", "json/decoder.pyc": b"c",
        "json/tool.py": b"import argparse\n", "json/tool.pyc": b"c",
        "email/__init__.py": b"", "email/__init__.pyc": b"c",
        "app-1.0.dist-info/METADATA": b"Name: app\n", ".amber/build.json": b"{}",
    })
    hot = startup_members(archive, ["app.cli", "encodings"])
    assert hot == {"app/__init__.pyc", "app/cli.pyc", "app/util.pyc", "app/_speed.cpython-313-x86_64-linux-gnu.so",
                   "json/__init__.pyc", "json/decoder.pyc"}
    # The default packing makes the .pyc of those LZ4 (an extension module is cached decompressed instead).
    packed_members = {m.name: m for m in packing.app_members(archive, None, hot)}
    assert packed_members["app/cli.pyc"].lz4 and packed_members["json/decoder.pyc"].lz4
    assert not packed_members["json/tool.pyc"].lz4
    packed = {name: m.zstd for name, m in packed_members.items()}
    assert packed["app/cli.pyc"] is None and packed["json/decoder.pyc"] is None
    assert packed["json/tool.pyc"] == packed["email/__init__.pyc"] == packing.APP_LEVEL
    assert packed["app/_speed.cpython-313-x86_64-linux-gnu.so"] == packing.APP_LEVEL
    assert packed["app/cli.py"] == packing.APP_LEVEL  # sources are read for tracebacks only


def test_warm_objects_are_the_start_up_shared_objects_with_what_they_need_largest_first():
    from pathlib import Path

    from amber.builder.startup import WARM_MINIMUM, startup_objects, warm_objects

    libdir = Path("/usr/lib/x86_64-linux-gnu")
    ssl, crypto = (libdir / "libssl.so.3").read_bytes(), (libdir / "libcrypto.so.3").read_bytes()
    small = next(p.read_bytes() for p in sorted(libdir.glob("lib*.so.*"))  # a real ELF under the minimum
                 if p.is_file() and not p.is_symlink() and 4096 < p.stat().st_size < WARM_MINIMUM
                 and p.read_bytes()[:4] == b"\x7fELF")
    members = [Member("pkg/_ext.so", ssl),  # needs libcrypto.so.3: found in the vendored directory
               Member("pkg.libs/libcrypto.so.3", crypto),
               Member("pkg/_tiny.so", small), Member("lazy/_ext.so", ssl), Member("pkg/__init__.pyc", b"code")]
    startup = {"pkg/_ext.so", "pkg/_tiny.so", "pkg/__init__.pyc", "missing.so"}
    objects = startup_objects(members, startup)
    assert objects == {"pkg/_ext.so", "pkg.libs/libcrypto.so.3", "pkg/_tiny.so"}  # what every start loads
    # libcrypto (4.6 MB) before libssl; what no start loads and what is too small to be kept in the cache
    # are not listed
    assert warm_objects(members, objects) == ["pkg.libs/libcrypto.so.3", "pkg/_ext.so"]
    # Packed: what a start loads zstd (at the app's level), what no import reaches xz (archive/xz.py)
    stored = {m.name: m for m in packing.app_members(members, None, startup | objects, {"lazy/_ext.so"})}
    assert [name for name, m in stored.items() if m.xz] == ["lazy/_ext.so"]
    assert stored["pkg.libs/libcrypto.so.3"].zstd == packing.APP_LEVEL and stored["pkg/__init__.pyc"].lz4


GUARDED = b'''
import os
import sys
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import typing_only
else:
    import runtime_only
if __name__ == "__main__":
    import argparse
if sys.platform == "win32":
    import winreg
elif sys.platform.startswith("linux"):
    import linux_only
if sys.platform.startswith("win") and os.environ.get("X"):
    import msvcrt
if os.name == "nt":
    import nt_only
if sys.platform != "win32":
    import not_windows
try:
    import _decimal
except ImportError:
    import _pydecimal
try:
    from _speedups import speedup
except (ImportError, ModuleNotFoundError):
    from _slow import speedup
try:
    import _missing
except ImportError:
    import _fallback
try:
    import _json
except Exception:
    import broad_fallback
'''


def test_what_never_runs_on_import_on_linux_is_not_followed():
    present = {"os", "sys", "typing", "_decimal", "_speedups", "_json"}
    found = module_level_imports(GUARDED, "pkg.mod", is_package=False, exists=present.__contains__)
    assert found == {"os", "sys", "typing", "typing.TYPE_CHECKING", "typing_only", "runtime_only", "linux_only",
                     "not_windows",
                     "_decimal", "_speedups", "_speedups.speedup", "_missing", "_fallback", "_json",
                     "broad_fallback"}
    # Without knowing what exists, every fallback is followed.
    assert {"_pydecimal", "_slow.speedup"} <= module_level_imports(GUARDED, "pkg.mod", is_package=False)


def test_the_entry_functions_imports_run_at_every_start():
    archive = members({
        "app/__init__.py": b"", "app/__init__.pyc": b"c",
        "app/cli.py": b"import json\ndef main():\n    import email\n    def later():\n        import csv\n"
                      b"    if __name__ == '__main__':\n        import argparse\n"
                      b"def other():\n    import tomllib\n", "app/cli.pyc": b"c",
        "json/__init__.py": b"", "json/__init__.pyc": b"c",
        "email/__init__.py": b"from email import parser\n", "email/__init__.pyc": b"c",
        "email/parser.py": b"", "email/parser.pyc": b"c",
        **{f"{name}/__init__.py": b"" for name in ("csv", "argparse", "tomllib")},
        **{f"{name}/__init__.pyc": b"c" for name in ("csv", "argparse", "tomllib")},
    })
    assert startup_members(archive, ["encodings"], ["app.cli:main"]) == {
        "app/__init__.pyc", "app/cli.pyc", "json/__init__.pyc", "email/__init__.pyc", "email/parser.pyc"}
    # An entry point naming an object's method: the module-level function of that name, if any.
    assert "email/__init__.pyc" in startup_members(archive, [], ["app.cli:main.run"])
    assert "email/__init__.pyc" not in startup_members(archive, ["app.cli"])


def test_submodules_the_entry_function_uses_as_attributes_run_at_every_start():
    """numpy imports numpy.random when `np.random` is first looked up (a module __getattr__): the entry
    function's attribute chains on the modules it has (`np.random.default_rng(7)`) name such submodules."""
    archive = members({
        "app.py": b"import numpy as np\nfrom numpy import linalg as la\n"
                  b"def main():\n    import json\n    np.random.default_rng(7)\n    la.solve\n    json.tool\n"
                  b"def other():\n    np.polynomial\n", "app.pyc": b"c",
        "numpy/__init__.py": b"def __getattr__(name):\n    import importlib\n"
                             b"    return importlib.import_module(f'numpy.{name}')\n", "numpy/__init__.pyc": b"c",
        **{f"{name}.py": b"" for name in ("numpy/random/__init__", "numpy/random/_generator", "numpy/linalg",
                                          "numpy/polynomial", "json/__init__", "json/tool")},
        **{f"{name}.pyc": b"c" for name in ("numpy/random/__init__", "numpy/random/_generator", "numpy/linalg",
                                            "numpy/polynomial", "json/__init__", "json/tool")},
    })
    assert startup_members(archive, [], ["app:main"]) == {
        "app.pyc", "numpy/__init__.pyc", "numpy/random/__init__.pyc", "numpy/linalg.pyc", "json/__init__.pyc",
        "json/tool.pyc"}


def test_strings_of_the_entry_configure_what_starts():
    """Django's way: the entry names its settings module, which names apps and backends by strings; the
    framework imports those, and much of itself, by names computed at run time."""
    archive = members({
        "app/__init__.py": b"", "app/__init__.pyc": b"c",
        "app/cli.py": b"import os\n\"\"\"A docstring naming lib.unused.\"\"\"\n"
                      b"def main():\n    os.environ.setdefault('SETTINGS', 'app.settings')\n    import fw\n"
                      b"def other():\n    return 'lib.unused'\n", "app/cli.pyc": b"c",
        "app/settings.py": b"APPS = ['fw.contrib.auth', 'app.models']\nBACKEND = 'fw.backends.sql.Engine'\n",
        "app/settings.pyc": b"c",
        "app/models.py": b"", "app/models.pyc": b"c",
        "fw/__init__.py": b"", "fw/__init__.pyc": b"c",
        "fw/contrib/__init__.py": b"", "fw/contrib/__init__.pyc": b"c",
        "fw/contrib/auth.py": b"import json\n", "fw/contrib/auth.pyc": b"c",
        "fw/backends/__init__.py": b"", "fw/backends/__init__.pyc": b"c",
        "fw/backends/sql.py": b"", "fw/backends/sql.pyc": b"c",
        "fw/backends/base.py": b"", "fw/backends/base.pyc": b"c",  # imported as f"{engine}.base": unseen
        "fw/_speed.cpython-313-x86_64-linux-gnu.so": b"\x7fELF",  # native code: not start-up code by this
        "fw/tests/test_fw.py": b"",  # source only: nothing reaches it
        "lib/__init__.py": b"", "lib/__init__.pyc": b"c", "lib/unused.py": b"", "lib/unused.pyc": b"c",
        "os.py": b"", "os.pyc": b"c", "json/__init__.py": b"", "json/__init__.pyc": b"c",
        "json/tool.py": b"", "json/tool.pyc": b"c",
    })
    started = {"app/__init__.pyc", "app/cli.pyc", "os.pyc", "fw/__init__.pyc", "app/settings.pyc", "app/models.pyc",
               "fw/contrib/__init__.pyc", "fw/contrib/auth.pyc", "json/__init__.pyc", "fw/backends/__init__.pyc",
               "fw/backends/sql.pyc"}
    assert startup_members(archive, [], ["app.cli:main"]) == started
    # The app's own packages named so count as one: all of fw's code and app's; not the stdlib's json.
    assert startup_members(archive, [], ["app.cli:main"], whole=["app", "fw", "lib"]) == {
        *started, "fw/backends/base.pyc"}
    # A module that is not an entry configures nothing.
    assert "app/settings.pyc" not in startup_members(archive, ["app.cli"], whole=["app", "fw"])


def test_an_entry_point_with_extras_names_its_function():
    archive = members({"app/__init__.py": b"", "app/__init__.pyc": b"c",
                       "app/cli.py": b"def main():\n    import json\n", "app/cli.pyc": b"c",
                       "json/__init__.py": b"", "json/__init__.pyc": b"c"})
    assert "json/__init__.pyc" in startup_members(archive, [], ["app.cli:main [color]"])
