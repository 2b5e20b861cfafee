"""The `--trim` import graph on small, hand-made standard libraries (no runtime needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from amber.archive.writer import Member
from amber.builder import trim
from amber.builder.import_scan import names_in_source
from amber.builder.trim import References, StdlibGraph, module_of, names_in_native, site_references, trim_stdlib
from amber.errors import AmberError


def graph_of(files: dict[str, str], builtins=()) -> StdlibGraph:
    """The graph of a hand-made stdlib, its sources scanned here (a build has the runtime scan them)."""
    members = stdlib(files)
    sources = {}
    for member in members:
        found = module_of(member.name)
        if found and member.name.endswith(".py"):
            name, is_package = found
            sources[name] = References(*names_in_source(member.data, name if is_package else name.rpartition(".")[0]))
    return StdlibGraph(members, builtins, sources)


def stdlib(files: dict[str, str]) -> list[Member]:
    """Members as a runtime's archive holds them: each source beside its .pyc."""
    members = []
    for name, text in files.items():
        members.append(Member(name, text.encode()))
        if name.endswith(".py"):
            members.append(Member(name + "c", b"pyc of " + name.encode()))
    return members


def kept_modules(members: list[Member]) -> set[str]:
    return {found[0] for m in members if (found := module_of(m.name))}


def test_member_names_map_to_modules():
    assert module_of("json/__init__.pyc") == ("json", True)
    assert module_of("json/decoder.py") == ("json.decoder", False)
    assert module_of("os.pyc") == ("os", False)
    assert module_of("_ssl.cpython-313-x86_64-linux-gnu.so") == ("_ssl", False)
    assert module_of("_sysconfigdata__linux_x86_64-linux-gnu.pyc") == ("_sysconfigdata__linux_x86_64-linux-gnu",
                                                                       False)
    assert module_of("ensurepip/_bundled/pip-24.whl") is None
    assert module_of("pkg/native.cpython-313-x86_64-linux-gnu.so") is None  # not where the stdlib keeps them


def test_every_kind_of_import_in_a_source_is_seen():
    source = b"""
import os, xml.dom
from json import decoder
from . import sibling
from .. import uncle
from .sub import thing
from email.mime import *
import importlib
def later():
    import csv
    importlib.import_module("xml.sax.expatreader")
    __import__("dbm.dumb")
try:
    import _ssl
except ImportError:
    pass
PARSERS = ["xml.sax.drivers2.x", "not a module", "plain"]
"""
    found = References(*names_in_source(source, "pkg.inner"))
    assert {"os", "xml.dom", "json", "json.decoder", "pkg.inner", "pkg.inner.sibling", "pkg", "pkg.uncle",
            "pkg.inner.sub", "pkg.inner.sub.thing", "email.mime", "csv", "xml.sax.expatreader", "dbm.dumb",
            "_ssl"} <= found.imports
    assert "xml.sax.drivers2.x" in found.strings
    assert not {"plain", "not a module"} & (found.strings | found.imports)
    assert names_in_source(b"def broken(:\n") == (set(), set())


def test_a_source_nested_deeper_than_the_visitor_recurses_still_has_its_imports_seen():
    """sympy's resolvent_lookup.py holds sums of thousands of terms: `--trim` of an app with sympy failed with a
    RecursionError. Past the recursion limit every import is walked without recursion."""
    deep_sum = " + ".join(f"a{i}" for i in range(2000))
    source = f"import json\nx = {deep_sum}\ndef later():\n    from xml.dom import minidom\n".encode()
    imports, _strings = names_in_source(source)
    assert {"json", "xml.dom", "xml.dom.minidom"} <= imports


def test_script_only_code_and_dead_fallbacks_are_no_edges():
    source = b"""
try:
    from _sha2 import sha512
except ImportError:
    from hashlib import sha512
try:
    import _missing
except ModuleNotFoundError:
    import fallback
def public():
    return helper()
def helper():
    import needed
def _parse_args():
    import argparse
def main():
    import pprint
    return _parse_args()
def _test():
    import doctest
if __name__ == "__main__":
    _test()
    main()
    helper()
"""
    found = names_in_source(source, exists=lambda name: name == "_sha2")[0]
    assert {"_sha2", "_missing", "fallback", "needed"} <= found
    assert not found & {"hashlib", "argparse", "pprint", "doctest"}
    assert "hashlib" in names_in_source(source)[0]  # without knowing what exists, every fallback counts


def test_closure_follows_packages_relative_imports_and_c_modules():
    graph = graph_of({
        "a/__init__.py": "from .b import helper\n",
        "a/b.py": "import c\ndef helper(): pass\n",
        "c.py": "from d import function_not_module\n",
        "d.py": "",
        "datetime.py": "from _datetime import *\n",
        "_strptime.py": "",
        "unused.py": "import a\n",
    }, builtins={"_datetime", "time", "sys"})
    # from .b import helper: a.b, not a module a.b.helper; a.b's parent a; d by its function
    assert graph.closure(References({"a.b"})) == {"a", "a.b", "c", "d"}
    # _datetime is built in, and its C code imports _strptime (time is built in too)
    assert graph.closure(References({"datetime"})) == {"datetime", "_datetime", "time", "_strptime"}
    assert graph.closure(References({"no.such.module", "sys"})) == {"sys"}
    # strings name a module exactly or by a prefix of two parts: "a.b.helper" is a.b, "c.exe" is nothing
    assert graph.closure(References(strings={"a.b.helper", "c.exe", "d"})) == {"a", "a.b", "c", "d"}


def test_trim_keeps_what_is_reached_kept_or_needed_by_the_interpreter():
    graph = graph_of({
        "encodings/__init__.py": "import codecs\n",
        "encodings/idna.py": "import stringprep\n",
        "stringprep.py": "",
        "codecs.py": "",
        "json/__init__.py": "from .decoder import JSONDecoder\n",
        "json/decoder.py": "import re\n",
        "re/__init__.py": "",
        "xml/__init__.py": "",
        "xml/dom/__init__.py": "",
        "xml/dom/minidom.py": "import xml.dom\n",
        "xml/sax/__init__.py": "",
        "email/__init__.py": "",
        "email/architecture.rst": "data",
        "email/mime/__init__.py": "",
        "sysconfig.py": "",
        "_sysconfigdata__linux_x86_64-linux-gnu.py": "",
        "LICENSE.txt": "top-level data",
    })
    members = graph.members
    result = trim_stdlib(graph, roots=References({"json", "sysconfig"}), startup=set(), keep=["xml.dom"])
    kept = kept_modules(result.members)
    # encodings (all of it: codecs are looked up by computed names) and the interpreter's codecs
    assert {"encodings", "encodings.idna", "stringprep", "codecs"} <= kept
    assert {"json", "json.decoder", "re", "sysconfig", "_sysconfigdata__linux_x86_64-linux-gnu"} <= kept
    assert {"xml", "xml.dom", "xml.dom.minidom"} <= kept  # --keep takes the subtree
    assert not kept & {"xml.sax", "email", "email.mime"}
    names = {m.name for m in result.members}
    assert "email/architecture.rst" not in names  # a dropped package's data goes with it
    assert "LICENSE.txt" in names  # data outside any package stays
    assert result.dropped == ["email", "xml.sax"]  # the top-most names only
    assert result.dropped_modules == 3
    assert result.dropped_bytes == sum(len(m.data) for m in members) - sum(len(m.data) for m in result.members)
    # Without the interpreter's part (builder/stdlib_choice.py's bytecode reach): the roots and --keep only.
    app_only = trim_stdlib(graph, References({"json"}), {"codecs"}, ["xml.dom"], interpreter=False)
    assert kept_modules(app_only.members) == {"json", "json.decoder", "re", "xml", "xml.dom", "xml.dom.minidom"}


def test_keep_of_an_unknown_module_is_an_error():
    with pytest.raises(AmberError, match="--keep nosuch: no standard library module"):
        trim_stdlib(graph_of({"os.py": ""}), References(), set(), ["nosuch"])


def test_strings_of_native_code_and_app_sources_are_roots(tmp_path):
    elf = tmp_path / "ext.cpython-313-x86_64-linux-gnu.so"
    elf.write_bytes(b"\x7fELF" + b"\x00PyInit_ext\x00decimal\x00uuidDecimal\x00xml.etree.ElementTree\x00")
    source = tmp_path / "app.py"
    source.write_text("import tomllib\n")
    data = tmp_path / "data.so.txt"
    data.write_text("json")
    # the scanner runs as a process of the given Python (here the one running the tests)
    roots = site_references(Path(sys.executable), [(elf, "pkg/ext.cpython-313-x86_64-linux-gnu.so"),
                                                   (source, "pkg/app.py"), (data, "pkg/data.txt")],
                            exists=["tomllib"]).roots()
    assert roots.imports == {"tomllib"}
    assert {"decimal", "uuid", "xml.etree.ElementTree"} <= roots.strings
    assert "json" not in roots.strings
    assert "decimal" in names_in_native(b"\x01\x02decimal\xff")


def test_app_sources_are_scanned_once_and_remembered_by_their_bytes(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "mod.py"
    source.write_text("import json\nNAME = 'pkg.backends'\n")
    first = trim.scan_remembered(Path(sys.executable), {"pkg/mod.py": (source, "pkg")}, exists=["json"])
    assert first["pkg/mod.py"] == References({"json"}, {"pkg.backends"})
    assert list((tmp_path / "cache" / "trim").glob("sources-*.json"))

    def scan(python, sources, exists):
        assert not sources, "scanned again"
        return {}

    monkeypatch.setattr(trim, "scan_sources", scan)
    again = trim.scan_remembered(Path(sys.executable), {"other/name.py": (source, "pkg")}, exists=["json"])
    assert again["other/name.py"] == first["pkg/mod.py"]  # the same bytes and package: not parsed again
    source.write_text("import csv\n")
    with pytest.raises(AssertionError, match="scanned again"):
        trim.scan_remembered(Path(sys.executable), {"pkg/mod.py": (source, "pkg")}, exists=["json"])
