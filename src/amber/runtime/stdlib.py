"""The trimmed standard library, byte-compiled by the new interpreter and appended to it.

The runtime file is the bare interpreter ELF followed by an amber archive of
the stdlib (.pyc plus .py sources for tracebacks) and of the stdlib extension
modules built as shared objects (at the top level, where an app binary's loader
finds them), Zstandard-compressed once here at a high level (archive/packing.py),
code and sources with dictionaries trained here on them (archive/dictionaries.py).
The same archive members, compressed bytes and all, are what `amber build` later
combines with an app.
"""

from __future__ import annotations

import re
from pathlib import Path

from amber.archive import dictionaries, packing
from amber.archive.compile import compile_members
from amber.archive.writer import Member, write_archive
from amber.errors import AmberError
from amber.progress import BuildLog
from amber.runtime.cpython import StagedPython

# Top-level stdlib entries that never go into the runtime, and why.
EXCLUDED = {
    "test": "CPython's own test suite (over 30 MB)",
    "idlelib": "the IDLE editor needs Tk",
    "tkinter": "no Tk in the runtime",
    "turtle.py": "needs tkinter",
    "turtledemo": "needs tkinter",
    "__phello__": "test package for frozen modules",
    "lib2to3": "removed tool (absent from 3.13 onwards)",
    "site-packages": "third-party packages live in venvs or apps",
    "__pycache__": "stale bytecode of the source tree",
}
# File kinds kept besides Python sources: package data the stdlib reads at run time
# (ensurepip's wheels, pydoc topics, email/zoneinfo data...).
SKIP_SUFFIXES = (".pyc", ".pyo", ".exe", ".dll", ".bat", ".ps1", ".vbs")


def stdlib_sources(lib: Path) -> list[Path]:
    """Every file of Lib/ that belongs in the runtime, sorted."""
    chosen = []
    for path in sorted(lib.rglob("*")):
        rel = path.relative_to(lib)
        if rel.parts[0] in EXCLUDED or "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.name.endswith(SKIP_SUFFIXES):
            continue
        chosen.append(path)
    return chosen


def scrub_sysconfig(text: str, build_root: Path, deps: Path, toolchain_bin: Path) -> str:
    """Make the build-time sysconfig data describe a normal installed Python.

    Extensions built later (pip in an `amber venv`) must use the machine's own
    `cc`, not our zig wrappers, and no path of this build machine may remain.
    """
    for tool, plain in (("zig-cc", "cc"), ("zig-ar", "ar"), ("zig-ranlib", "ranlib")):
        text = text.replace(str(toolchain_bin / tool), plain)
    token = r"[^\s'\"]*"  # a flag's value, stopping at the end of the Python string
    text = re.sub(rf"[ \t]*-ffile-prefix-map={token}", "", text)
    text = re.sub(rf"[ \t]*-[IL]{re.escape(str(deps))}{token}", "", text)
    text = re.sub(r"[ \t]*-fvisibility=hidden|[ \t]*-fno-semantic-interposition", "", text)
    text = text.replace(str(build_root), "/amber-build")
    return text


def assemble(python: StagedPython, workdir: Path, deps: Path, toolchain_bin: Path, build_root: Path,
             log: BuildLog, compiler: Path | None = None) -> Path:
    """Write the runtime file: interpreter ELF + stdlib archive. Returns its path. The .pyc files are
    compiled by `compiler` (the build machine's runtime of the same Python, for another CPU's runtime),
    else by the interpreter just built."""
    lib = python.stdlib
    files = [(p, p.relative_to(lib).as_posix()) for p in stdlib_sources(lib)]
    sysconfig_src = workdir / python.sysconfigdata.name
    sysconfig_src.write_text(
        scrub_sysconfig(python.sysconfigdata.read_text(), build_root, deps, toolchain_bin)
    )
    files.append((sysconfig_src, python.sysconfigdata.name))
    members, failures = compile_members(compiler or python.build_dir / "python", files, workdir, cwd=python.build_dir)
    if failures:
        raise AmberError("stdlib files do not compile: " + "; ".join(f"{n}: {e}" for n, e in failures))
    members += [Member(path.name, path.read_bytes(), executable=True) for path in python.extensions]
    members += dictionaries.train(members)  # every app made from this runtime compresses with them too
    runtime = workdir / "runtime"
    with runtime.open("wb") as out:
        out.write(python.executable.read_bytes())
        write_archive(out, packing.runtime_members(members))
    runtime.chmod(0o755)
    return runtime
