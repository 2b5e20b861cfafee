"""Vendored libraries that need each other (issue #6: pillow's libfreetype <-> libharfbuzz).

Loaded one at a time from memory, whichever goes first fails: the dynamic linker can find the other
only by soname in a directory. The native loader materializes such a cycle in one extraction-cache
entry and loads it from there, so one dlopen() resolves it; everything else stays in memory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"


def _link(package: Path, name: str, other: str | None) -> None:
    command = ["cc", "-shared", "-fPIC", f"-Wl,-soname,lib{name}.so", "-Wl,-rpath,$ORIGIN", "-o",
               package / f"lib{name}.so", package / f"{name}.c"]
    if other:
        command += [f"-L{package}", f"-l{other}"]
    subprocess.run(command, check=True)


def test_libraries_that_need_each_other_load_from_one_cache_entry(runtime: Path, tmp_path: Path):
    project = tmp_path / "cyclic"
    shutil.copytree(FIXTURES / "cyclic", project)
    package = project / "src" / "cyclic"
    _link(package, "pong", None)  # first without its need of ping, to link ping against it
    _link(package, "ping", "pong")
    _link(package, "pong", "ping")
    out = run([sys.executable, "-m", "amber", "build", project])
    assert out.returncode == 0, out.stderr
    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(cache)}
    result = run([project / "dist" / "cyclic"], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "OK"
    report = json.loads(result.stdout.splitlines()[-2])
    assert report["ping"] == 22  # ping -> pong -> ping ...: each library calls into the other
    entries = list((cache / "extract").iterdir())
    assert len(entries) == 1
    entry = entries[0]
    assert report["mapped"] == [str(entry / "cyclic" / "libping.so"), str(entry / "cyclic" / "libpong.so")]
    # A second run reuses the entry.
    assert run([project / "dist" / "cyclic"], env=env).returncode == 0
    assert list((cache / "extract").iterdir()) == entries
