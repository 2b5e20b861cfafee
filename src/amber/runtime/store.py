"""The cache of finished runtimes: ~/.cache/amber/runtimes/<version>-<recipe hash>/.

Layout of one runtime directory:
    bin/pythonX.Y            the runtime file (interpreter + stdlib archive)
    bin/pythonX, bin/python  symlinks to it
    lib/pythonX.Y/lib-dynload/  the stdlib extension modules built as shared objects, written out
                             of the runtime file's archive (the bare runtime imports them from here;
                             an app binary loads them from its archive)
    include/pythonX.Y/       C headers, for compiling extensions against it
    runtime.json             what was built: versions, hash, size, glibc needs
    build.log                the full build log

A directory is moved into place with one rename once complete, so a runtime
directory is either whole or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amber import targets
from amber.paths import cache_root
from amber.runtime.recipe import PythonRecipe, recipe_hash
from amber.targets import Target

METADATA = "runtime.json"


@dataclass(frozen=True)
class Runtime:
    root: Path
    metadata: dict

    @property
    def minor(self) -> str:
        return self.metadata["python_minor"]

    @property
    def executable(self) -> Path:
        return self.root / "bin" / f"python{self.minor}"

    @property
    def include(self) -> Path:
        return self.root / "include" / f"python{self.minor}"


def runtimes_dir() -> Path:
    return cache_root() / "runtimes"


def runtime_dir(rec: PythonRecipe, target: Target = targets.DEFAULT) -> Path:
    """The store's directory of a runtime: `<version>-<hash>`, the hash covering the target too; another
    target than the default also has its name there (`3.13.15-aarch64-linux-gnu-<hash>`), for people."""
    label = "" if target == targets.DEFAULT else f"{target.name}-"
    return runtimes_dir() / f"{rec.version}-{label}{recipe_hash(rec.minor, target)}"


def load(root: Path) -> Runtime | None:
    try:
        metadata = json.loads((root / METADATA).read_text())
    except (OSError, ValueError):
        return None
    runtime = Runtime(root, metadata)
    # A runtime from before lib-dynload existed has none: rebuild rather than half work.
    complete = runtime.executable.is_file() and (root / "lib").is_dir()
    return runtime if complete else None


def find(rec: PythonRecipe, target: Target = targets.DEFAULT) -> Runtime | None:
    """The cached runtime for the current recipe and `target`, if built; in a self-built amber, the runtime
    it carries (when it is `target`'s), written into the cache on first use (runtime/embedded.py)."""
    found = load(runtime_dir(rec, target))
    if found is None:
        from amber.runtime.embedded import restore

        found = restore(rec, target)
    return found


def list_runtimes() -> list[Runtime]:
    base = runtimes_dir()
    if not base.is_dir():
        return []
    found = (load(p) for p in sorted(base.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return [r for r in found if r is not None]


def is_dynload_member(name: str) -> bool:
    """A stdlib extension module in a runtime's archive: a shared object at the top level."""
    return "/" not in name and name.endswith(".so")


def lay_out(root: Path, minor: str, runtime_file: Path) -> Path:
    """bin/pythonX.Y (+ aliases) and lib/pythonX.Y/lib-dynload/ under `root`; returns the executable."""
    from amber.archive.reader import open_binary

    bindir = root / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / f"python{minor}"
    shutil.copy2(runtime_file, exe)
    for alias in (f"python{minor.split('.')[0]}", "python"):
        (bindir / alias).symlink_to(exe.name)
    dynload = root / "lib" / f"python{minor}" / "lib-dynload"
    dynload.mkdir(parents=True)
    for member in open_binary(exe).members():
        if is_dynload_member(member.name):
            (dynload / member.name).write_bytes(member.data)
            (dynload / member.name).chmod(0o755)
    return exe


def install(rec: PythonRecipe, runtime_file: Path, include: Path | None, metadata: dict, log_path: Path,
            target: Target = targets.DEFAULT) -> Runtime:
    """Move a validated runtime into the store atomically and return it."""
    final = runtime_dir(rec, target)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        lay_out(stage, rec.minor, runtime_file)
        if include is not None:  # a runtime restored from a self-built amber has no headers
            shutil.copytree(include, stage / "include" / include.name, symlinks=True)
        (stage / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        shutil.copy2(log_path, stage / "build.log")
        stage.chmod(0o755)
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    runtime = load(final)
    assert runtime is not None
    return runtime
