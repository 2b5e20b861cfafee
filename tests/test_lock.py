"""Locked inputs end to end: uv.lock and pylock.toml pins win over the resolver, --locked refuses a stale lock,
--requirements adds pins, and the binary records what it holds.

The lock pins six 1.16.0 while the resolver alone would take the newest six, so
a binary holding 1.16.0 proves the lock was used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from amber.builder.resolve import uv_binary
from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
LOCKED_SIX = "1.16.0"


def locked_project(root: Path, runtime: Path, dependencies: str = '"six"', extra: str = "") -> Path:
    """The hello fixture depending on six, with a fresh uv.lock that pins six to LOCKED_SIX."""
    shutil.copytree(FIXTURES / "hello", root)
    set_dependencies(root, dependencies)
    with (root / "pyproject.toml").open("a") as f:
        f.write(extra)
    out = run([uv_binary(), "lock", "--quiet", "--python", runtime, "--upgrade-package", f"six=={LOCKED_SIX}"],
              cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    return root


def set_dependencies(root: Path, dependencies: str) -> None:
    """The fixture's pyproject.toml with `dependencies = [...]`."""
    text = (FIXTURES / "hello" / "pyproject.toml").read_text()
    line = 'requires-python = ">=3.11"\n'
    (root / "pyproject.toml").write_text(text.replace(line, f"{line}dependencies = [{dependencies}]\n"))


def inspect(binary: Path) -> dict:
    out = run([*AMBER, "inspect", "--json", binary])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def versions(info: dict) -> dict[str, str]:
    return {d["name"].lower(): d["version"] for d in info["distributions"]}


def build(project: Path, output: Path, *extra) -> str:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stderr


def build_error(project: Path, output: Path, *extra) -> str:
    out = run([*AMBER, "build", project, "-o", output, *extra], timeout=600)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amber: "), out.stderr
    assert not output.exists() and not list(output.parent.glob(f".{output.name}.*"))
    return lines[0]


def test_uv_lock_pins_win_and_are_recorded(runtime: Path, tmp_path: Path, clean_env):
    # A development group is in the lock, never in the binary.
    project = locked_project(tmp_path / "app", runtime, extra='\n[dependency-groups]\ndev = ["idna"]\n')
    assert 'name = "idna"' in (project / "uv.lock").read_text()
    binary = tmp_path / "locked"
    build(project, binary, "--locked")
    info = inspect(binary)
    assert versions(info) == {"hello": "1.0", "six": LOCKED_SIX}
    lock_sha = hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    assert info["inputs"] == {"lock": "uv.lock", "lock_sha256": lock_sha, "locked": True, "stale": False,
                              "requirement": None, "requirements": None, "requirements_sha256": None,
                              "resolved": "lock"}
    assert info["pins"] == [f"six=={LOCKED_SIX}"]
    assert "inputs:   uv.lock (sha256 " in run([*AMBER, "inspect", binary]).stdout
    assert run([binary, "ok"], env=clean_env).returncode == 0

    # The recorded pins bring the same versions back without the lock.
    pins = tmp_path / "pins.txt"
    pins.write_bytes(zipfile.ZipFile(binary).read(".amber/requirements.lock"))
    (project / "uv.lock").unlink()
    free = tmp_path / "free"
    build(project, free)
    assert versions(inspect(free))["six"] != LOCKED_SIX  # the resolver alone takes the newest
    assert inspect(free)["inputs"]["resolved"] == "resolver"
    repinned = tmp_path / "repinned"
    build(project, repinned, "--requirements", pins)
    info = inspect(repinned)
    assert versions(info)["six"] == LOCKED_SIX
    assert (info["inputs"]["requirements"], info["inputs"]["requirements_sha256"]) == (
        "pins.txt", hashlib.sha256(pins.read_bytes()).hexdigest())


def test_stale_uv_lock_is_an_error_with_locked_and_a_warning_without(runtime: Path, tmp_path: Path):
    project = locked_project(tmp_path / "app", runtime)
    set_dependencies(project, '"six", "idna"')  # pyproject.toml moved on, the lock did not
    message = build_error(project, tmp_path / "out" / "app", "--locked")
    assert message == (f"amber: {project / 'uv.lock'} is out of date with pyproject.toml: run `uv lock`, "
                       "or build without --locked")
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text + "\n[tool.amber]\nlocked = true\n")
    assert build_error(project, tmp_path / "out" / "app") == message  # the same from [tool.amber]
    (project / "pyproject.toml").write_text(text)
    stderr = build(project, tmp_path / "app.bin")
    assert "amber: warning: uv.lock is out of date with pyproject.toml" in stderr
    info = inspect(tmp_path / "app.bin")
    assert versions(info)["six"] == LOCKED_SIX and "idna" in versions(info)  # the lock's pins, plus what it lacks
    assert info["inputs"]["stale"] is True


def test_pylock_toml(runtime: Path, tmp_path: Path):
    project = locked_project(tmp_path / "app", runtime)
    out = run([uv_binary(), "export", "--quiet", "--frozen", "--no-emit-project", "--format", "pylock.toml",
               "--output-file", "pylock.toml"], cwd=project)
    assert out.returncode == 0, out.stderr
    (project / "uv.lock").unlink()
    build(project, tmp_path / "app.bin", "--locked")
    info = inspect(tmp_path / "app.bin")
    assert versions(info)["six"] == LOCKED_SIX
    assert (info["inputs"]["lock"], info["pins"]) == ("pylock.toml", [f"six=={LOCKED_SIX}"])
    set_dependencies(project, '"six", "idna"')
    message = build_error(project, tmp_path / "out" / "app", "--locked")
    assert message.startswith("amber: pylock.toml does not satisfy the project's requirements; the resolver added "
                              "idna ")
    assert message.endswith(": regenerate the lock, or build without --locked")


def test_locked_without_a_lock_and_missing_requirements(runtime: Path, tmp_path: Path):
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    assert build_error(project, tmp_path / "o" / "a", "--locked") == (
        f"amber: --locked needs a uv.lock or pylock.toml in {project}")
    assert build_error(project, tmp_path / "o" / "a", "--requirements", tmp_path / "nope.txt") == (
        f"amber: --requirements {tmp_path / 'nope.txt'}: no such file")


def test_uv_lock_with_a_path_dependency_from_another_directory(runtime: Path, tmp_path: Path):
    """uv.lock names a path dependency relative to the project; amber runs from elsewhere."""
    dep = tmp_path / "dep"
    (dep / "src" / "dep").mkdir(parents=True)
    (dep / "src" / "dep" / "__init__.py").write_text("VALUE = 3\n")
    (dep / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=68"]\n'
                                        'build-backend = "setuptools.build_meta"\n'
                                        '[project]\nname = "dep"\nversion = "0.3"\n')
    project = locked_project(tmp_path / "app", runtime, '"dep"', '\n[tool.uv.sources]\ndep = { path = "../dep" }\n')
    elsewhere = tmp_path / "a" / "b"  # where ../dep is not the dependency
    elsewhere.mkdir(parents=True)
    out = run([*AMBER, "build", project, "-o", tmp_path / "app.bin", "--locked"], cwd=elsewhere, timeout=600)
    assert out.returncode == 0, out.stderr
    assert versions(inspect(tmp_path / "app.bin")) == {"hello": "1.0", "dep": "0.3"}
