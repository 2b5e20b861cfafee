"""Byte-compiling files for an archive with the target interpreter (see compile_worker.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from amber.archive.writer import Member
from amber.errors import AmberError

COMPILE_WORKER = Path(__file__).parent / "compile_worker.py"
# Data files smaller than this are stored: deflating them saves little and costs a call.
DEFLATE_MIN = 512


def compile_members(python: Path, files: list[tuple[Path, str]], workdir: Path, *, keep_sources: bool = True,
                    cwd: Path | None = None) -> tuple[list[Member], list[tuple[str, str]]]:
    """Archive members for `files` (path on disk, name in archive).

    Each .py becomes a .pyc made by `python` itself (right magic number) plus,
    when `keep_sources`, the deflated source for tracebacks and inspect. Other
    files are copied. Returns the members and the (name, error) of .py files
    that do not compile, which are then shipped as source only.
    """
    outdir = workdir / "pyc"
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    sources = [(str(p), name) for p, name in files if name.endswith(".py")]
    proc = subprocess.run(
        # The worker's source goes by -c: inside a self-built amber its file is in the archive,
        # where the target interpreter (another process) cannot open it.
        [str(python), "-I", "-S", "-c", COMPILE_WORKER.read_text(), str(outdir)],
        input=json.dumps(sources), capture_output=True, text=True, cwd=cwd or workdir,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise AmberError(f"byte-compiling with {python} failed: {tail[0]}")
    failures = [tuple(f) for f in json.loads(proc.stdout)]
    failed = {name for name, _ in failures}
    members = []
    for path, name in files:
        data = path.read_bytes()
        if name.endswith(".py"):
            if name not in failed:
                members.append(Member(name + "c", (outdir / (name + "c")).read_bytes()))
            if keep_sources or name in failed:
                members.append(Member(name, data, compress=True))
        else:
            members.append(Member(name, data, compress=len(data) >= DEFLATE_MIN,
                                  executable=bool(path.stat().st_mode & 0o111)))
    return members, failures
