"""Building the test fixtures (tests/fixtures/<name>) with `amber build`, as a user would."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from helpers.proc import run

FIXTURES = Path(__file__).parent.parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]


def copy_fixture(name: str, where: Path) -> Path:
    """A fresh copy of fixture `name` at `where/name` (builds write dist/ into the project)."""
    target = where / name
    shutil.copytree(FIXTURES / name, target)
    return target


def build_fixture(name: str, where: Path, *flags: str, timeout: int = 900) -> Path:
    """`amber build` of a copy of fixture `name`: the binary's path (the build must succeed)."""
    project = copy_fixture(name, where)
    out = run([*AMBER, "build", project, *flags], timeout=timeout)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())
