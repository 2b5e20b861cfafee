"""`--trim` end to end: a smaller binary that still runs, and a clear line for a module it missed."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from amber.builder.trim import scan_sources
from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
PLUGIN_APP = '''
import importlib
import sys


def main():
    """Imports a stdlib module by a name no import statement spells: a plugin-style import."""
    name = ".".join(["xml", "dom", "minidom"])
    if sys.argv[1:] == ["guarded"]:
        try:
            importlib.import_module(name)
        except ImportError:
            print("fallback")
            return 0
    module = importlib.import_module(name)
    print(module.parseString("<a>ok</a>").documentElement.firstChild.data)
    return 0
'''


def build(project: Path, output: Path, *extra: str) -> str:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stderr


def members(binary: Path) -> set[str]:
    return set(zipfile.ZipFile(binary).namelist())


def test_trimmed_hello_is_smaller_runs_and_says_what_it_left_out(runtime: Path, tmp_path: Path, clean_env):
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    full, trimmed = tmp_path / "full", tmp_path / "trimmed"
    build(project, full)
    stderr = build(project, trimmed, "--trim")
    assert "--trim left out" in stderr
    assert trimmed.stat().st_size < full.stat().st_size * 0.8
    names = members(trimmed)
    # what hello imports and what the interpreter needs stay; what nothing imports goes
    assert {"json/__init__.pyc", "json/decoder.pyc", "encodings/idna.pyc", "traceback.pyc", "warnings.pyc"} <= names
    assert not any(n.startswith(("tomllib/", "xml/", "ensurepip/", "unittest/", "sqlite3/")) for n in names)
    assert not any(n.startswith(("_sqlite3.", "_curses.")) for n in names)
    for argv in (["a", "b"], ["--version"]):
        out = run([trimmed, *argv], env=clean_env)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["argv"] == argv
    # a traceback still shows its source line (traceback, linecache, tokenize are kept)
    (tmp_path / "hello-fail").symlink_to(trimmed)
    out = run([tmp_path / "hello-fail"], env={**clean_env, "HELLO_EXIT": "-1"})
    assert out.returncode == 1
    assert 'raise RuntimeError("boom from hello")' in out.stderr and "RuntimeError: boom from hello" in out.stderr
    info = json.loads(run([*AMBER, "inspect", "--json", trimmed]).stdout)
    assert info["trim"]["dropped_modules"] > 100 and "xml" in info["trim"]["dropped"]
    assert info["trim"]["dropped_bytes"] > 5e6
    assert "trimmed:" in run([*AMBER, "inspect", trimmed]).stdout


def test_a_missed_module_fails_with_one_line_naming_keep(runtime: Path, tmp_path: Path, clean_env):
    project = tmp_path / "plugin"
    (project / "plugin").mkdir(parents=True)
    (project / "plugin" / "__init__.py").write_text(PLUGIN_APP)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "plugin"\nversion = "1.0"\n[project.scripts]\nplugin = "plugin:main"\n'
        '[tool.amber]\ntrim = true\n')
    binary = tmp_path / "plugin-bin"
    build(project, binary)
    out = run([binary], env=clean_env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: No module named 'xml.dom.minidom': amber build --trim left this standard library "
        "module out of the binary; rebuild with --keep xml.dom.minidom")
    guarded = run([binary, "guarded"], env=clean_env)  # try/except ImportError code sees no module
    assert guarded.returncode == 0 and guarded.stdout == "fallback\n", guarded.stderr
    kept = tmp_path / "plugin-kept"
    build(project, kept, "--keep", "xml.dom.minidom")
    out = run([kept], env=clean_env)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
    assert "xml/dom/minidom.pyc" in members(kept) and "xml/etree/ElementTree.pyc" not in members(kept)


def test_sources_are_scanned_by_the_runtime_that_knows_their_syntax(runtime: Path, tmp_path: Path):
    """3.12 f-strings (PEP 701), which the Python running amber may not parse (the stdlib's traceback.py
    has them): a module's imports are found all the same."""
    source = tmp_path / "new.py"
    source.write_text("import _colorize\nname = 'x'\nprint(f'{name + f'{name!r}'}')\n")
    found = scan_sources(runtime, {"new": (source, "")}, exists=["_colorize"])
    assert found["new"].imports == {"_colorize"}


def test_keep_mistakes_are_one_line_errors(runtime: Path, tmp_path: Path):
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    for extra, message in ((["--keep", "json"], "--keep names modules for --trim to keep"),
                           (["--trim", "--keep", "nosuchmodule"], "--keep nosuchmodule: no standard library module")):
        out = run([*AMBER, "build", project, *extra], timeout=600)
        assert out.returncode == 1
        assert out.stderr.strip().splitlines() == [out.stderr.strip()] and message in out.stderr, out.stderr
        assert not (project / "dist").exists()
