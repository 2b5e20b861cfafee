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

# `python -m venv`, except for one step: venv copies its activate scripts by walking the directory
# beside venv/__init__.py, which for the runtime is a path inside its archive; os.walk sees nothing
# there, and the venv would get no bin/activate. The driver copies that tree out of the archive
# into a temporary directory and hands venv that instead.
VENV_DRIVER = """
import os, sys, tempfile, venv, zipimport

class Builder(venv.EnvBuilder):
    def install_scripts(self, context, path):
        archive = venv.__loader__.archive
        prefix = os.path.relpath(path, archive) + "/"
        with tempfile.TemporaryDirectory() as tmp:
            for name in zipimport._zip_directory_cache[archive]:
                if name.startswith(prefix) and not name.endswith("/"):
                    out = os.path.join(tmp, name[len(prefix):])
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    with open(out, "wb") as f:
                        f.write(venv.__loader__.get_data(os.path.join(archive, name)))
            super().install_scripts(context, tmp)

Builder(symlinks=True, with_pip=True, clear="--clear" in sys.argv[2:]).create(sys.argv[1])
"""


def create_venv(target: Path, python: str | None = None, clear: bool = False) -> Path:
    """Create the venv at `target` (building the runtime if needed); return its python."""
    if target.exists() and not target.is_dir():
        raise AmberError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not clear:
        raise AmberError(f"{target} is not empty: pick another directory or pass --clear")
    runtime = build_runtime(python)
    args = [str(runtime), "-c", VENV_DRIVER, str(target), *(["--clear"] if clear else [])]
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        raise AmberError(f"creating the virtual environment failed: {lines[-1]}")
    python_path = target / "bin" / "python"
    if not python_path.exists():
        raise AmberError(f"creating the virtual environment left no {python_path}")
    return python_path
