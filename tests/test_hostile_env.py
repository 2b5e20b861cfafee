"""An app binary in hostile places (issue #8, items 1 and 4): foreign Python variables, an empty
environment, no /proc, a read-only root, a tight address-space limit, a megabyte of arguments,
and every way of naming the file."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]


@pytest.fixture(scope="module")
def hello(hello_binary: Path) -> Path:
    return hello_binary  # shared with the other test files (conftest.py); copied before any change


def argv_of(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["argv"]


def test_python_variables_and_local_files_change_nothing(hello: Path, tmp_path: Path):
    evil = tmp_path / "evil"
    evil.mkdir()
    for name in ("json.py", "sitecustomize.py", "hello.py"):
        (evil / name).write_text(f"open({str(tmp_path / 'pwned')!r}, 'w').write('{name}')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(evil), "PYTHONHOME": str(evil),
           "PYTHONSTARTUP": str(evil / "json.py"), "PYTHONINSPECT": "1", "PYTHONSAFEPATH": "0",
           "PYTHONUSERBASE": str(evil), "PYTHONEXECUTABLE": "/bin/false"}
    result = subprocess.run([hello, "ok"], env=env, cwd=evil, capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert argv_of(result) == ["ok"]
    assert not (tmp_path / "pwned").exists()


def test_empty_environment(hello: Path):
    assert argv_of(subprocess.run([hello, "x"], env={}, capture_output=True, text=True, timeout=30)) == ["x"]


def test_read_only_root_without_proc(hello: Path, chroot):
    chroot.add(hello, "/app/hello", 0o755)
    root = str(chroot.root)
    subprocess.run(["mount", "--bind", root, root], check=True)
    chroot.mounts.append(chroot.root)
    subprocess.run(["mount", "-o", "remount,bind,ro", root], check=True)
    assert not os.access(chroot.root / "tmp", os.W_OK) or os.geteuid() == 0
    with pytest.raises(OSError):
        (chroot.root / "tmp" / "probe").write_text("")  # even root cannot write here
    result = chroot.run(["/app/hello", "read-only"], env={})
    assert argv_of(result) == ["read-only"]


def test_tight_address_space_limit(hello: Path):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (64 << 20, 64 << 20))

    result = subprocess.run([hello, "small"], capture_output=True, text=True, timeout=30, preexec_fn=limit)
    assert argv_of(result) == ["small"]


def test_a_megabyte_of_arguments(hello: Path):
    args = [f"{i:04d}" + "x" * 996 for i in range(1000)]
    assert argv_of(subprocess.run([hello, *args], capture_output=True, text=True, timeout=60)) == args


def test_every_way_of_naming_the_file(hello: Path, tmp_path: Path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    renamed = bindir / "renamed-app"
    shutil.copy2(hello, renamed)
    (bindir / "via-symlink").symlink_to(renamed)
    os.link(renamed, bindir / "via-hardlink")
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    for argv, cwd in (([str(renamed)], None), (["./renamed-app"], bindir), (["renamed-app"], None),
                      (["via-symlink"], None), (["./via-hardlink"], bindir), (["../bin/renamed-app"], bindir)):
        result = subprocess.run([*argv, "named"], env=env, cwd=cwd, capture_output=True, text=True, timeout=30)
        assert argv_of(result) == ["named"], argv
        # sys.executable names the file as invoked (a symlink stays a symlink, as in CPython)
        assert os.path.isabs(json.loads(result.stdout)["executable"])
        assert os.path.samefile(json.loads(result.stdout)["executable"], renamed)
