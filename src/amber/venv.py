"""`amber venv`: a virtual environment on the very interpreter that amber binaries ship.

It is CPython's own `-m venv` run by the amber runtime, so pip, activate
scripts and site-packages behave as in any venv; `sys.base_prefix` is the
runtime's cache directory, whose `include/` holds the headers that C extension
sdists compile against. What passes its tests in here runs the same way once
`amber build` puts it into one file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from amber.errors import AmberError
from amber.runtime.build import build_runtime


def create_venv(target: Path, python: str | None = None, clear: bool = False) -> Path:
    """Create the venv at `target` (building the runtime if needed); return its python."""
    if target.exists() and not target.is_dir():
        raise AmberError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not clear:
        raise AmberError(f"{target} is not empty: pick another directory or pass --clear")
    runtime = build_runtime(python)
    args = [str(runtime), "-m", "venv", *(["--clear"] if clear else []), str(target)]
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        raise AmberError(f"creating the virtual environment failed: {lines[-1]}")
    python_path = target / "bin" / "python"
    if not python_path.exists():
        raise AmberError(f"creating the virtual environment left no {python_path}")
    return python_path
