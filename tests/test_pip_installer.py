"""ensurepip in app binaries: left out by default (pip's 1.8 MB wheel), kept when the app can use it."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from amber.builder import pip_installer
from helpers.proc import run

AMBER = [sys.executable, "-m", "amber"]
FIXTURES = Path(__file__).parent / "fixtures"
MESSAGE = ("ModuleNotFoundError: No module named 'ensurepip': amber build leaves pip's installer out of app binaries "
           "unless the app's code uses venv or ensurepip; rebuild with --keep ensurepip")


@pytest.mark.parametrize(("source", "uses"), [
    ("import venv\nvenv.create(path, with_pip=True)\n", True),
    ("subprocess.run([sys.executable, '-m', 'venv', target])\n", True),
    ("subprocess.run(f'{sys.executable} -m  venv {target}', shell=True)\n", True),
    ("import ensurepip\n", True),
    ("import venv\nvenv.create(path)  # no pip\nos.environ.get('VIRTUAL_ENV')\n", False),
    ("print('hello')\n", False),
])
def test_which_code_keeps_it(tmp_path: Path, source: str, uses: bool):
    path = tmp_path / "mod.py"
    path.write_text(source)
    assert pip_installer.needed([(path, "pkg/mod.py")], keep=[]) is uses
    assert pip_installer.needed([(path, "pkg/mod.txt")], keep=[]) is False  # only Python files count
    assert pip_installer.needed([], keep=["ensurepip"]) is True


def names(binary: Path) -> set[str]:
    with zipfile.ZipFile(binary) as zf:
        return set(zf.namelist())


def test_app_binaries_leave_it_out_and_say_so(hello_binary: Path, clean_env):
    assert not any(name.startswith("ensurepip/") for name in names(hello_binary))
    out = run([hello_binary, "-c", "import ensurepip"], env={**clean_env, "AMBER_INTERPRETER": "1"})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == MESSAGE
    # Code that handles the ImportError sees an ordinary one.
    code = "try:\n import ensurepip\nexcept ImportError as e:\n print(type(e).__name__, e.name)"
    out = run([hello_binary, "-c", code], env={**clean_env, "AMBER_INTERPRETER": "1"})
    assert out.stdout == "ModuleNotFoundError ensurepip\n", out.stderr


def test_keep_brings_it_back_without_trim(runtime: Path, tmp_path: Path, clean_env):
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    binary = tmp_path / "hello-kept"
    out = run([*AMBER, "build", project, "-o", binary, "--keep", "ensurepip"], timeout=600)
    assert out.returncode == 0, out.stderr
    assert any(name.startswith("ensurepip/_bundled/pip-") for name in names(binary))
    out = run([binary, "-c", "import ensurepip; print(ensurepip.version())"],
              env={**clean_env, "AMBER_INTERPRETER": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()[0].isdigit()
