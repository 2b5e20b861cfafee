"""The modules no import of the app reaches carry their source only (builder/bytecode.py).

An app binary holds the whole standard library and all of its dependencies, so that an import by a
computed name, or a script run by the binary's interpreter, finds any module. Bytecode is compiled in only
for the modules the app's imports can reach; the others are their `.py`, which zipimport compiles if
something imports them all the same, once per machine (the binary keeps the code in its cache). What
every start runs is never among them.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

AMBER = [sys.executable, "-m", "amber"]
APP = '''\
import json
import sys


def main():
    if sys.argv[1:] == ["fail"]:
        raise ValueError("failed on purpose")
    if sys.argv[1:] == ["late"]:
        import csv  # reached by the app's imports, though not at start
        print(csv.__file__)
        return
    inside = sys.executable + "/"
    print(json.dumps(sorted(m.__file__[len(inside):] for m in list(sys.modules.values())
                            if (getattr(m, "__file__", None) or "").startswith(inside))))
'''


def build(project: Path, output: Path, *extra: str) -> Path:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 0, out.stderr
    return output


PLUGIN_ENTRY_POINTS = '\n[project.entry-points."srconly.plugins"]\nfirst = "srconly.plugin:run"\n'
BACKENDS = '''\
BACKEND = "srconly.backends"  # a framework imports f"{BACKEND}.{name}" when asked for one


def load(name):
    import importlib

    return importlib.import_module(f"{BACKEND}.{name}")
'''


@pytest.fixture(scope="module")
def builds(runtime: Path, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("source-only")
    project = tmp / "srconly"
    package = project / "src" / "srconly"
    (package / "backends").mkdir(parents=True)
    (package / "framework").mkdir()
    (package / "__init__.py").write_text(APP + "\nfrom srconly import framework  # noqa\n")
    (package / "framework" / "__init__.py").write_text(BACKENDS)
    (package / "backends" / "__init__.py").write_text("")
    (package / "backends" / "fast.py").write_text("NAME = 'fast'\n")
    (package / "plugin.py").write_text("def run():\n    return 'plugin'\n")
    (package / "unused.py").write_text("def never():\n    return 1 / 0\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "srconly"\nversion = "1.0"\n\n[project.scripts]\nsrconly = "srconly:main"\n'
        + PLUGIN_ENTRY_POINTS)
    return {"default": build(project, tmp / "default"), "all": build(project, tmp / "all", "--all-bytecode"),
            "plain": build(project, tmp / "plain", "--no-compress"), "trim": build(project, tmp / "trim", "--trim")}


def names(binary: Path) -> set[str]:
    with zipfile.ZipFile(binary) as zf:
        return {info.filename for info in zf.infolist() if not info.is_dir()}


def source_only(binary: Path) -> set[str]:
    """The modules of the binary that have a source and no bytecode."""
    members = names(binary)
    return {name for name in members if name.endswith(".py") and f"{name}c" not in members}


def test_unreached_stdlib_modules_carry_their_source_only(builds, clean_env):
    default = builds["default"]
    members = names(default)
    left = source_only(default)
    # Nothing the app imports, even csv, which only a function imports; the interactive debugger is left.
    assert {"xml/dom/minidom.py", "pdb.py", "tomllib/_parser.py"} <= left
    assert {"json/__init__.pyc", "json/decoder.pyc", "csv.pyc", "encodings/cp1252.pyc"} <= members
    # The app's own modules: what its script imports, a plugin named by an entry point, the modules of a
    # package named by a string keep their bytecode; a module nothing names carries its source only.
    assert {"srconly/__init__.pyc", "srconly/framework/__init__.pyc", "srconly/plugin.pyc",
            "srconly/backends/fast.pyc"} <= members
    assert [name for name in left if name.startswith("srconly/")] == ["srconly/unused.py"]
    # The interpreter's own modules (traceback for an uncaught exception, typing, runpy...), the codecs
    # and amber's boot code keep bytecode for what importing them imports; what only their functions
    # import carries its source, as does an import fallback that never runs (decimal's _pydecimal).
    assert {"traceback.pyc", "linecache.pyc", "tokenize.pyc", "typing.pyc", "shutil.pyc"} <= members
    assert "_pydecimal.py" in left
    # Every module a start runs (the boot code, the app and what they import) has its bytecode.
    started = json.loads(run([default], env=clean_env).stdout)
    assert "json/__init__.py" in started
    assert [name for name in started if name.endswith(".py") and f"{name}c" not in members] == []
    late = run([default, "late"], env=clean_env)
    assert late.returncode == 0, late.stderr
    assert late.stdout.strip() == f"{default}/csv.py"
    # --all-bytecode and --no-compress keep every .pyc: the same members, bytecode and all.
    assert source_only(builds["all"]) == source_only(builds["plain"]) == set()
    assert names(builds["all"]) - members == {f"{name}c" for name in left}
    assert default.stat().st_size < builds["all"].stat().st_size - 1_000_000


def test_with_trim_the_stdlib_left_is_compiled_and_the_apps_unreached_module_is_source(builds, clean_env):
    trimmed = names(builds["trim"])
    assert "xml/dom/minidom.py" not in trimmed  # --trim: gone
    assert source_only(builds["trim"]) == {"srconly/unused.py"}
    assert run([builds["trim"]], env=clean_env).returncode == 0


def test_a_source_only_module_imports_and_its_traceback_shows_its_lines(builds, clean_env):
    default = builds["default"]
    code = ("import xml.dom.minidom as m, pdb\n"
            "print(m.__file__, m.parseString('<a><b/></a>').documentElement.firstChild.tagName)\n"
            "m.parseString('<')\n")
    out = run([default, "-c", code], env={**clean_env, "AMBER_INTERPRETER": "1"})
    assert out.returncode == 1
    assert out.stdout.strip() == f"{default}/xml/dom/minidom.py b"
    # the frame in minidom.py, compiled from its source here, shows its line as any module's does
    assert f'File "{default}/xml/dom/minidom.py", line' in out.stderr
    assert "return expatbuilder.parseString(string)" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("xml.parsers.expat.ExpatError")


def test_inspect_says_which_modules_carry_their_source_only(builds):
    default = builds["default"]
    left = {name for name in source_only(default) if not name.startswith("srconly/")}
    info = json.loads(run([*AMBER, "inspect", "--json", default]).stdout)
    assert info["source_only"]["stdlib"] == len(left) > 100
    assert info["source_only"]["app"] == 1
    assert info["source_only"]["bytes"] > 1_000_000
    text = run([*AMBER, "inspect", default]).stdout
    assert f"  source only: {len(left)} stdlib and 1 app modules no import of the app reaches" in text
    assert json.loads(run([*AMBER, "inspect", "--json", builds["all"]]).stdout)["source_only"] is None
    assert "source only" not in run([*AMBER, "inspect", builds["all"]]).stdout


FIND_CACHED = """
import glob, marshal, sys
for path in sorted(glob.glob(sys.argv[1] + '/extract/bytecode/*/*.pyc')):
    with open(path, 'rb') as f:
        data = f.read()
    if marshal.loads(data[16:]).co_filename.endswith(sys.argv[2]):
        print(path)
"""
REPLACE_BODY = """
import marshal, sys
with open(sys.argv[1], 'rb') as f:
    header = f.read(16)
with open(sys.argv[1], 'wb') as f:
    f.write(header + marshal.dumps(compile("SENTINEL = 'from the cache'", 'x.py', 'exec')))
"""


def test_a_source_only_module_is_compiled_once_per_machine(builds, tmp_path: Path, clean_env):
    default = builds["default"]
    cache = tmp_path / "cache"
    env = {**clean_env, "AMBER_INTERPRETER": "1", "AMBER_CACHE": str(cache)}
    first = run([default, "-c", "import xml.dom.minidom as m; print(m.parseString('<a/>').documentElement.tagName)"],
                env=env)
    assert first.returncode == 0 and first.stdout == "a\n", first.stderr
    found = run([default, "-c", FIND_CACHED, cache, "xml/dom/minidom.py"], env=env).stdout.split()
    assert len(found) == 1, found
    cached = Path(found[0])
    assert cached.parent.parent == cache / "extract" / "bytecode"
    assert oct(cached.parent.stat().st_mode & 0o777) == "0o700"
    assert not [p for p in (cache / "extract").iterdir() if p.name.startswith(".tmp-")]
    # The next import runs what the cache holds (it is trusted as the extraction cache is: the user's own
    # private directory): here a body swapped under the same header.
    assert run([default, "-c", REPLACE_BODY, cached], env=env).returncode == 0
    out = run([default, "-c", "import xml.dom.minidom as m; print(m.SENTINEL)"], env=env)
    assert out.stdout == "from the cache\n", out.stderr
    # A file that does not load (cut short) is compiled and written again.
    cached.write_bytes(cached.read_bytes()[:20])
    out = run([default, "-c", "import xml.dom.minidom as m; print(m.parseString('<b/>').documentElement.tagName)"],
              env=env)
    assert out.stdout == "b\n", out.stderr
    assert cached.stat().st_size > 20_000
    # The app's own source-only module is cached the same way, and AMBER_NATIVE=memory writes nothing.
    out = run([default, "-c", "import srconly.unused"], env=env)
    assert out.returncode == 0, out.stderr
    assert run([default, "-c", FIND_CACHED, cache, "srconly/unused.py"], env=env).stdout.strip()
    memory = tmp_path / "memory-cache"
    out = run([default, "-c", "import xml.dom.minidom"], env={**env, "AMBER_CACHE": str(memory),
                                                              "AMBER_NATIVE": "memory"})
    assert out.returncode == 0 and not memory.exists(), out.stderr


def test_an_uncaught_exception_compiles_nothing(builds, tmp_path: Path, clean_env):
    """The traceback of a first run's uncaught exception finds every module it imports compiled."""
    cache = tmp_path / "cache"
    out = run([builds["default"], "fail"], env={**clean_env, "AMBER_CACHE": str(cache)})
    assert out.returncode == 1 and "ValueError: failed on purpose" in out.stderr, out.stderr
    assert 'raise ValueError("failed on purpose")' in out.stderr  # its source line, read from the archive
    assert not (cache / "extract" / "bytecode").exists()


def test_a_cache_that_cannot_be_written_still_imports(builds, tmp_path: Path, clean_env):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)  # writable by others: refused, so the module is compiled and not kept
    env = {**clean_env, "AMBER_INTERPRETER": "1", "AMBER_CACHE": str(cache)}
    out = run([builds["default"], "-c", "import xml.dom.minidom as m; print(m.__name__)"], env=env)
    assert out.returncode == 0 and out.stdout == "xml.dom.minidom\n", out.stderr
    assert not (cache / "extract" / "bytecode").exists()
