"""The `amber` command line: a thin layer of argument parsing over the library core.

Every AmberError becomes one `amber: ...` line on stderr and exit code 1; an
interrupted command exits with 130 like any other program stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from amber import __version__, targets
from amber.builder.project import DEFAULT_ZSTD_LEVEL, BuildFlags
from amber.errors import AmberError, RuntimeMissing


def _runtime_build(args: argparse.Namespace) -> int:
    from amber.runtime.build import build_runtime

    path = build_runtime(args.python, jobs=args.jobs, quiet=args.quiet, force=args.force,
                         target=targets.get(args.target))
    print(path)
    return 0


def _runtime_path(args: argparse.Namespace) -> int:
    from amber.runtime.build import build_runtime

    print(build_runtime(args.python, jobs=args.jobs, quiet=args.quiet, target=targets.get(args.target)))
    return 0


def _runtime_list(args: argparse.Namespace) -> int:
    from amber.runtime.store import list_runtimes

    runtimes = list_runtimes()
    if not runtimes:
        print("no runtime is cached yet; build one with: amber runtime build", file=sys.stderr)
        return 0
    for rt in runtimes:
        meta = rt.metadata
        size = meta.get("size", 0) / 1e6
        target = targets.TARGETS.get(meta.get("target", targets.DEFAULT.name), targets.DEFAULT)
        # musl versions no symbols: its floor is the target's
        libc = f"glibc>={meta.get('glibc_max', '?')}" if target.libc == "gnu" else \
            f"musl>={targets.version_text(target.libc_floor)}"
        print(f"{meta['python_version']:<10} {target.name:<18} {meta['recipe_hash']}  "
              f"{size:6.1f} MB  {libc}  {rt.executable}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from amber.builder.app import build

    flags = BuildFlags(entry=args.entry, output=args.output, python=args.python, platform=args.platform,
                       sources=False if args.no_sources else None, extract=args.extract, no_extract=args.no_extract,
                       locked=True if args.locked else None, requirements=args.requirements,
                       exclude=args.exclude or [], compress=args.compress, trim=True if args.trim else None,
                       keep=args.keep or [], native=args.native, target=args.target,
                       all_bytecode=args.all_bytecode)
    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        result = build(args.project, flags, log=log)
    except RuntimeMissing as missing:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        answer = input(f"amber: {missing}\namber: build it now? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise
        from amber.runtime.build import build_runtime

        build_runtime(missing.python, target=missing.target or targets.default())
        result = build(args.project, flags, log=log)
    dists = ", ".join(f"{d.name} {d.version}" for d in result.dists)
    others = sorted(set(result.scripts) - {result.entry})
    print(f"amber: built {result.output} ({result.size / 1e6:.1f} MB) in {result.seconds:.1f}s", file=sys.stderr)
    print(f"amber: entry point {result.entry}" + (f"; also {', '.join(others)} via links named so" if others else ""),
          file=sys.stderr)
    print(f"amber: packages: {dists or 'none'}", file=sys.stderr)
    print(f"amber: runs on {result.target.label} with {result.target.libc_name} {targets.version_text(result.libc)} "
          "or newer",
          file=sys.stderr)
    print(result.output)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    from amber.binary_info import cyclonedx, inspect_binary, render

    info = inspect_binary(Path(args.binary))
    if args.sbom:
        Path(args.sbom).write_text(json.dumps(cyclonedx(info), indent=2) + "\n")
    print(json.dumps(info.as_json(), indent=2) if args.json else render(info))
    return 0


def _venv(args: argparse.Namespace) -> int:
    from amber.venv import create_venv

    python = create_venv(Path(args.dir), args.python, clear=args.clear)
    print(f"amber: virtual environment on the amber runtime at {args.dir}; activate with: . {args.dir}/bin/activate",
          file=sys.stderr)
    print(python)
    return 0


def _cache_info(args: argparse.Namespace) -> int:
    import time

    from amber.cache_admin import AREAS, info

    for area in info():
        age = f", oldest use {(time.time() - area.oldest_use) / 86400:.0f} days ago" if area.oldest_use else ""
        print(f"{area.name:<9} {area.entries:>5} entries  {area.size / 1e6:9.1f} MB  {area.path}  "
              f"({AREAS[area.name]}{age})")
    return 0


def _cache_clean(args: argparse.Namespace) -> int:
    from amber.cache_admin import clean, parse_age

    removed, freed = clean(parse_age(args.older_than) if args.older_than else None, everything=args.all)
    print(f"amber: removed {removed} cache entries, {freed / 1e6:.1f} MB", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amber", description="Turn a Python project into one portable Linux executable."
    )
    parser.add_argument("--version", action="version", version=f"amber {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build = commands.add_parser("build", help="build a project (or a requirement from PyPI) into one executable file")
    build.add_argument("project", nargs="?", default=".", metavar="PROJECT",
                       help="project directory with pyproject.toml (default: .), or a requirement such as "
                            "'httpie==3.2.4' (a local project needs a path: ./name)")
    build.add_argument("-o", "--output", help="output file (default: dist/<script name>)")
    build.add_argument("--entry", help="script name from [project.scripts] (for a requirement: a console script of "
                                       "an installed distribution), or module:function")
    build.add_argument("--python", metavar="X", help="runtime Python version (default: the recipe's default)")
    build.add_argument("--platform", metavar="TAG",
                       help="wheel platform: the oldest glibc the binary must run on, e.g. manylinux_2_17 "
                            "(default manylinux_2_28; musllinux_1_2 for musl targets)")
    build.add_argument("--no-sources", action="store_true", help="ship .pyc only, without .py sources")
    build.add_argument("--extract", action="append", default=[], metavar="DIST",
                       help="materialize this distribution in the extraction cache at run time (repeatable)")
    build.add_argument("--no-extract", action="append", default=[], metavar="DIST",
                       help="never materialize this distribution, even if the rule picks it (repeatable)")
    build.add_argument("--locked", action="store_true",
                       help="fail unless the project's uv.lock or pylock.toml matches pyproject.toml")
    build.add_argument("--requirements", metavar="FILE", help="extra pinned requirements to install with the project")
    build.add_argument("--exclude", metavar="NAME", action="append",
                       help="leave a distribution, package or stdlib module out of the binary (repeatable)")
    build.add_argument("--compress", nargs="?", const=True, type=int, metavar="LEVEL",
                       help="every member, the code every start runs too, Zstandard-compressed at one level "
                            f"(LEVEL 1-22, default {DEFAULT_ZSTD_LEVEL}); by default all but that code is")
    build.add_argument("--no-compress", dest="compress", action="store_const", const=False,
                       help="store code and native objects uncompressed, deflate sources and data (the layout "
                            "before compression became the default)")
    build.add_argument("--native", metavar="POLICY",
                       help="how the binary serves native code and C-read files when AMBER_NATIVE is not set: "
                            "auto (large objects from the cache, the rest from memory; the default), memory, "
                            "or disk (never memory files, for hosts that flag memfd_create)")
    build.add_argument("--target", metavar="TARGET",
                       help=f"the machine the binary runs on: {', '.join(targets.TARGETS)} (default: this machine's, "
                            f"{targets.default().name}); another CPU's binary is built here from its wheels")
    build.add_argument("--trim", action="store_true",
                       help="leave out the standard library modules no import in the app, its dependencies or "
                            "the interpreter reaches")
    build.add_argument("--all-bytecode", action="store_true", default=None,
                       help="compile every standard library module into the binary; by default those no import "
                            "of the app reaches carry their source only, compiled when imported")
    build.add_argument("--keep", metavar="MODULE", action="append",
                       help="with --trim: keep this stdlib module (and its submodules) although no import "
                            "statement reaches it (repeatable)")
    build.set_defaults(func=_build)

    inspect = commands.add_parser("inspect", help="show what is inside an amber binary, without running it")
    inspect.add_argument("binary", help="an amber app or runtime file")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--sbom", metavar="FILE", help="also write a CycloneDX 1.5 JSON SBOM to FILE")
    inspect.set_defaults(func=_inspect)

    venv = commands.add_parser("venv", help="create a virtual environment whose interpreter is the amber runtime")
    venv.add_argument("dir", help="directory to create")
    venv.add_argument("--python", metavar="X", help="runtime Python version (default: the recipe's default)")
    venv.add_argument("--clear", action="store_true", help="delete the directory's contents first")
    venv.set_defaults(func=_venv)

    cache = commands.add_parser("cache", help="show or clean what amber and amber binaries keep on disk")
    cache_cmds = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cache_info = cache_cmds.add_parser("info", help="entries and sizes of each cache area")
    cache_info.set_defaults(func=_cache_info)
    cache_clean = cache_cmds.add_parser(
        "clean", help="remove what binaries extracted at run time (and, with --all, amber's build caches)")
    cache_clean.add_argument("--older-than", metavar="AGE",
                             help="only entries not used for AGE, e.g. 30d, 12h (default: all)")
    cache_clean.add_argument("--all", action="store_true",
                             help="also runtimes, built libraries, fetched sources and logs")
    cache_clean.set_defaults(func=_cache_clean)

    runtime = commands.add_parser("runtime", help="build, locate and list amber's CPython runtimes")
    runtime_cmds = runtime.add_subparsers(dest="runtime_command", metavar="ACTION", required=True)

    def runtime_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--python", metavar="X", help="CPython version: 3.13 or 3.13.15 (default: the recipe's default)")
        p.add_argument("--jobs", "-j", type=int, metavar="N", help="parallel compile jobs (default: all cores)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
        p.add_argument("--target", metavar="TARGET", default=targets.default().name,
                       help=f"the machine it runs on: {', '.join(targets.TARGETS)} (default: this machine's, "
                            f"{targets.default().name}); another CPU's runtime is cross-built here and validated "
                            "under qemu")

    p = runtime_cmds.add_parser("build", help="build the runtime (nothing to do if it is cached)")
    runtime_options(p)
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.set_defaults(func=_runtime_build)
    p = runtime_cmds.add_parser("path", help="print the runtime file's path, building it if needed")
    runtime_options(p)
    p.set_defaults(func=_runtime_path)
    p = runtime_cmds.add_parser("list", help="list the cached runtimes")
    p.set_defaults(func=_runtime_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AmberError as exc:
        print(f"amber: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("amber: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`amber inspect | head`): stop as tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141  # 128 + SIGPIPE, a shell's status for a program a closed pipe stopped


if __name__ == "__main__":
    sys.exit(main())
