"""Orchestration of a runtime build: sources -> libraries -> CPython -> archive -> validation.

Every library is built once per (source, build script, toolchain) and kept in
~/.cache/amber/libs/, so changing the CPython step does not rebuild OpenSSL.
A finished runtime is moved into the store atomically: a directory there is
either complete or absent.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amber import targets
from amber.errors import AmberError
from amber.paths import cache_root
from amber.progress import BuildLog
from amber.runtime import cpython, emulation, sources, stdlib, store, validate
from amber.runtime.hide_symbols import hide_archive
from amber.runtime.libraries import BUILDERS, LibContext
from amber.runtime.recipe import PythonRecipe, Recipe, Source, library_hash, load_recipe, recipe_hash
from amber.runtime.sources import unpack
from amber.runtime.toolchain import Toolchain, make_toolchain, zig_binary
from amber.targets import Target

# Libraries whose headers and archives another library's build needs.
LIBRARY_DEPS: dict[str, tuple[str, ...]] = {"libedit": ("ncurses",)}
COMPLETE_MARKER = ".amber-complete"


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def library_dir(source: Source, target: Target = targets.DEFAULT) -> Path:
    deps = tuple(library_hash(s, (), target) for s in _dep_sources(source))
    return cache_root() / "libs" / f"{source.key}-{source.version}-{library_hash(source, deps, target)}"


def _dep_sources(source: Source) -> list[Source]:
    recipe = load_recipe()
    return [recipe.sources[name] for name in LIBRARY_DEPS.get(source.key, ())]


def merge_prefixes(prefixes: list[Path], into: Path) -> Path:
    """Merge several install prefixes into one directory (for -I, -L and pkg-config)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for prefix in prefixes:
        shutil.copytree(prefix, into, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(COMPLETE_MARKER))
        # pkg-config files name the library's own cache directory; point them here.
        for pc in (into / "lib" / "pkgconfig").glob("*.pc"):
            pc.write_text(pc.read_text().replace(str(prefix), str(into)))
    return into


def build_library(source: Source, tools: Toolchain, log: BuildLog, jobs: int, workroot: Path) -> Path:
    """Build one library into its cache directory, unless it is already there."""
    prefix = library_dir(source, tools.target)
    if (prefix / COMPLETE_MARKER).is_file():
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(prefix.with_name(prefix.name + ".lock"), f"library {source.key}"):
        if (prefix / COMPLETE_MARKER).is_file():
            return prefix
        _build_library_locked(source, prefix, tools, log, jobs, workroot)
    return prefix


def _build_library_locked(source: Source, prefix: Path, tools: Toolchain, log: BuildLog, jobs: int,
                          workroot: Path) -> None:
    with log.stage(f"library {source.key} {source.version}"):
        if prefix.exists():
            shutil.rmtree(prefix)
        prefix.mkdir(parents=True)
        work = workroot / f"lib-{source.key}"
        src = unpack(sources.fetch(source, log), work)
        deps = merge_prefixes([library_dir(s, tools.target) for s in _dep_sources(source)], work / "deps") \
            if _dep_sources(source) else prefix
        ctx = LibContext(name=source.key, version=source.version, src=src, deps=deps,
                         prefix=prefix, tools=tools, log=log, jobs=jobs)
        BUILDERS[source.key](ctx)
        (prefix / COMPLETE_MARKER).write_text(f"{source.key} {source.version}\n")
        shutil.rmtree(work, ignore_errors=True)


def build_runtime(python: str | None = None, jobs: int | None = None, quiet: bool = False,
                  force: bool = False, target: Target | None = None) -> Path:
    """Build (or find in the cache) the runtime for `python` on `target` (by default this machine's); return
    the runtime file.

    For another CPU than this machine's, the build machine's own runtime of the same Python is built
    (or found) first: it runs CPython's build-time generators and compiles the standard library."""
    target = target or targets.default()
    recipe = load_recipe()
    rec: PythonRecipe = recipe.python(python)
    existing = store.find(rec, target)
    if existing is not None and not force:
        return existing.executable
    build_python = None
    host = targets.host()
    if target != host:
        if host is None:
            raise AmberError("cross builds need a build machine amber has a runtime for (x86_64 or aarch64 Linux)")
        build_python = build_runtime(python, jobs, quiet, target=host)
    jobs = jobs or default_jobs()
    key = f"{rec.version}-{recipe_hash(rec.minor, target)}"
    workroot = cache_root() / "build" / key
    workroot.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(workroot.with_name(workroot.name + ".lock"), f"runtime {key}"):
        # Another process may have finished the same runtime while we waited.
        existing = store.find(rec, target)
        if existing is not None and not force:
            return existing.executable
        return _build_locked(recipe, rec, key, workroot, jobs, quiet, target, build_python)


@contextmanager
def _exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """One build of a thing at a time: concurrent `amber runtime build`s wait here."""
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"amber: waiting for another process building {what}", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_locked(recipe: Recipe, rec: PythonRecipe, key: str, workroot: Path, jobs: int, quiet: bool,
                  target: Target, build_python: Path | None) -> Path:
    zig_binary()  # the runtime-build extra: fail now, not after minutes of work
    if workroot.exists():
        shutil.rmtree(workroot)
    workroot.mkdir(parents=True)
    log_path = cache_root() / "logs" / f"runtime-{key}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    log = BuildLog(log_path, quiet=quiet)
    started = time.monotonic()
    try:
        tools = make_toolchain(cache_root() / "toolchain", target, prefix_map=cache_root())
        prefixes = [build_library(src, tools, log, jobs, workroot) for src in rec.libraries]
        deps = merge_prefixes(prefixes, workroot / "deps")
        for archive in sorted((deps / "lib").glob("*.a")):
            if not archive.is_symlink():
                hide_archive(archive)
        staged = cpython.build(rec, tools, deps, workroot, log, jobs, build_python)
        with log.stage("standard library archive"):
            runtime_file = stdlib.assemble(staged, workroot, deps, tools.bindir, cache_root(), log,
                                           compiler=build_python)
        with log.stage("validation"):
            # Laid out as in the store, so that the runtime finds its lib-dynload.
            staged_exe = store.lay_out(workroot / "validate", rec.minor, runtime_file)
            report = validate.validate(staged_exe, rec, forbidden=[cache_root(), *sources.source_dirs()],
                                       target=target, runner=emulation.runner(target))
        metadata = {
            "python_version": rec.version,
            "python_minor": rec.minor,
            "recipe_hash": recipe_hash(rec.minor, target),
            "target": target.name,
            "zig": recipe.zig,
            "libraries": {s.key: s.version for s in rec.libraries},
            "size": runtime_file.stat().st_size,
            "build_seconds": round(time.monotonic() - started, 1),
            "jobs": jobs,
            **report,
        }
        log.write(f"runtime metadata: {metadata}\n")
        log.close()
        runtime = store.install(rec, runtime_file, staged.include, metadata, log_path, target)
    finally:
        log.close()
    shutil.rmtree(workroot, ignore_errors=True)
    return runtime.executable
