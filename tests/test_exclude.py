"""`--exclude` end to end: stdlib packages and dependencies left out, the app still runs, mistakes are caught."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
STDLIB_TRIM = ["ensurepip", "pydoc_data", "unittest"]


def hello(tmp_path: Path, dependencies: str = "", tool: str = "") -> Path:
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    text = (project / "pyproject.toml").read_text()
    if dependencies:
        line = 'requires-python = ">=3.11"\n'
        text = text.replace(line, f"{line}dependencies = [{dependencies}]\n")
    (project / "pyproject.toml").write_text(text + tool)
    return project


def build(project: Path, output: Path, *extra) -> str:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stderr


def tops(binary: Path) -> set[str]:
    return {name.split("/")[0].removesuffix(".pyc").removesuffix(".py") for name in zipfile.ZipFile(binary).namelist()}


def test_excluded_stdlib_packages_and_distributions_are_gone(runtime: Path, tmp_path: Path, clean_env):
    tool = f"\n[tool.amber]\nexclude = {json.dumps(STDLIB_TRIM[:2])}\n"
    project = hello(tmp_path, '"six"', tool)
    trimmed = tmp_path / "trimmed"
    stderr = build(project, trimmed, "--exclude", STDLIB_TRIM[2], "--exclude", "six")
    assert "warning" not in stderr
    names = tops(trimmed)
    assert not names & {*STDLIB_TRIM, "six"}
    assert {"json", "email", "hello", "encodings"} <= names
    assert not any(n.startswith("six-") for n in names)  # its .dist-info too
    out = run([trimmed, "still", "works"], env=clean_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["argv"] == ["still", "works"]
    info = json.loads(run([*AMBER, "inspect", "--json", trimmed]).stdout)
    assert info["excluded"] == sorted([*STDLIB_TRIM, "six"])
    assert [d["name"] for d in info["distributions"]] == ["hello"]
    assert info["pins"] == [info["pins"][0]] and info["pins"][0].startswith("six==")  # resolved, then left out

    plain = tmp_path / "plain"
    build(hello(tmp_path / "p", '"six"'), plain, "--keep", "ensurepip")  # app binaries leave it out otherwise
    assert "six" in tops(plain) and {*STDLIB_TRIM} <= tops(plain)
    saved = plain.stat().st_size - trimmed.stat().st_size
    assert saved > 2_000_000, saved  # ensurepip's bundled pip wheel alone is 1.8 MB (the rest is compressed)


def test_excluding_what_the_app_imports_warns_and_fails_only_there(runtime: Path, tmp_path: Path, clean_env):
    project = hello(tmp_path)
    binary = tmp_path / "nojson"
    stderr = build(project, binary, "--exclude", "json")
    assert "amber: warning: --exclude json: imported by hello/cli.py; that import will fail at run time" in stderr
    out = run([binary], env=clean_env)
    assert out.returncode == 1 and "ModuleNotFoundError: No module named 'json'" in out.stderr


@pytest.mark.parametrize("name, message", [
    ("encodings", "cannot exclude encodings: the binary's start-up code needs encodings"),
    ("zipimport", "cannot exclude zipimport: the binary's start-up code needs zipimport"),
    ("tkinter", "--exclude tkinter: no installed distribution, package or module of that name is in the binary"),
    ("hello", "cannot exclude hello: it is the project being built"),
    ("../x", "--exclude '../x' is not a distribution, package or module name"),
])
def test_bad_exclusions_are_one_line_errors(runtime: Path, tmp_path: Path, name: str, message: str):
    project = hello(tmp_path)
    output = tmp_path / "out" / "app"
    out = run([*AMBER, "build", project, "-o", output, "--exclude", name], timeout=600)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"amber: {message}"), out.stderr
    assert not output.parent.exists() or not list(output.parent.iterdir())
