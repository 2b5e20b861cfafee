"""ensurepip in app binaries: left out unless the app can use it.

The runtime's `ensurepip` package carries pip's wheel (1.8 MB, a fifth of a small app's file). Only
code that makes virtual environments with pip ever runs it: `python -m venv`, `venv.create(...,
with_pip=True)`, `python -m ensurepip`. `amber venv` and the bare runtime keep it; an app binary
leaves it out unless one of its Python files mentions one of those, or the build keeps it by name
(`--keep ensurepip`, `keep = ["ensurepip"]`). An app that imports it all the same gets a
ModuleNotFoundError saying so and naming the flag (boot/entry.py's _TrimmedModules).
"""

from __future__ import annotations

import re
from pathlib import Path

from amber.archive.writer import Member

PACKAGE = "ensurepip"
WHY = "amber build leaves pip's installer out of app binaries unless the app's code uses venv or ensurepip"
# What code that can run ensurepip contains: the module's name, venv's with_pip, or `-m venv` / "venv"
# as the module a subprocess runs (venv's command line installs pip by default).
USES_PIP_INSTALLER = re.compile(rb"ensurepip|with_pip|-m\s+venv\b|['\"]venv['\"]")


def needed(app_files: list[tuple[Path, str]], keep: list[str]) -> bool:
    """Whether the app keeps ensurepip: kept by name, or mentioned by one of its Python files."""
    if PACKAGE in keep:
        return True
    return any(name.endswith(".py") and USES_PIP_INSTALLER.search(path.read_bytes()) for path, name in app_files)


def without(members: list[Member]) -> list[Member]:
    """`members` without the ensurepip package."""
    return [m for m in members if not m.name.startswith(PACKAGE + "/")]
