"""Output size: amber's default against its layout before compression, its flags, and PyInstaller.

    sudo .venv/bin/python bench/size.py [--runs 20]     # rewrites its section of docs/benchmarks.md

Builds the seven sample apps of bench/peers.py and the Flask example (examples/flask-hello) with
amber's default, and with the layout amber wrote by default before (`--no-compress --keep
ensurepip`: .pyc and shared objects stored, sources deflated, pip's wheel in every binary), and
with PyInstaller (`--onefile`, in the peers' pinned environment) where it builds the app. Then:
  size            each output, and for hello and the Flask example the breakdown by kind of member
                  (as stored: the interpreter ELF, .pyc, .py, shared objects, ensurepip, the rest)
  flags           hello with --compress 19, --trim, --trim --compress
  start-up        hello, flask, numpy and django, the default against the layout before: the medians
                  of --runs warm runs, interleaved, and of first runs (a new empty AMBER_CACHE each run)
  build time      of the default hello, warm (uv's cache and the runtime there)
  self-build      `amber build` of this repository (dist/amber), its size
and checks the targets of issue #18 (the table says which are met). Run as root: PyInstaller's
environment needs Debian's python3-venv and python3-dev (apt-get, as bench/peers.py does).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, publish, time_command
from peers import (
    APPS,
    APT_PACKAGES,
    Context,
    PyInstaller,
    StepError,
    build_spawnrss,
    ensure_apt,
    ensure_env,
    find_runtime,
    make_project,
)

from amber.archive.reader import open_binary

AMBER = [sys.executable, "-m", "amber"]
BEFORE = ["--no-compress", "--keep", "ensurepip"]  # what `amber build` wrote by default before compression
FLAG_VARIANTS = {"--compress 19": ["--compress", "19"], "--trim": ["--trim"],
                 "--trim --compress": ["--trim", "--compress"]}
STARTUP_APPS = ("hello", "flask", "numpy", "django")
FLASK_EXAMPLE = "flask-example"
MB = 1e6


@dataclass
class Targets:
    """Issue #18's targets: (what, measured, limit, unit) rows, and whether each is met."""

    rows: list[tuple[str, float, float, str]] = field(default_factory=list)

    def add(self, what: str, measured: float, limit: float, unit: str) -> None:
        self.rows.append((what, measured, limit, unit))

    def lines(self) -> list[str]:
        out = ["| target | measured | limit | met |", "|---|---:|---:|---|"]
        for what, measured, limit, unit in self.rows:
            met = "yes" if measured <= limit else "**no**"
            out.append(f"| {what} | {measured:.2f} {unit} | ≤ {limit:g} {unit} | {met} |")
        return out


def amber_build(project: Path, output: Path, flags: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*AMBER, "build", project, "-o", output, *flags], check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def breakdown(binary: Path) -> dict[str, int]:
    """Bytes of the file by kind of member, as stored (compressed or not), plus the interpreter ELF."""
    kinds = {"ELF": open_binary(binary).trailer.archive_offset}
    with zipfile.ZipFile(binary) as zf:
        for info in zf.infolist():
            name = info.filename
            kind = ("ensurepip" if name.startswith("ensurepip/") else ".pyc" if name.endswith(".pyc") else
                    ".py" if name.endswith(".py") else "shared objects" if ".so" in Path(name).suffixes else "rest")
            kinds[kind] = kinds.get(kind, 0) + info.compress_size + 30 + len(name)  # with its local header
    kinds["rest"] = kinds.get("rest", 0) + binary.stat().st_size - sum(kinds.values())  # directory, index
    return kinds


def first_runs(commands: dict[str, list[str]], runs: int, env: dict[str, str], scratch: Path) -> dict[str, float]:
    """Median wall time of runs that each start with an empty extraction cache, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            cache = scratch / "first-run-cache"
            shutil.rmtree(cache, ignore_errors=True)
            samples[name].append(time_command(argv, env={**env, "AMBER_CACHE": str(cache)}))
    return {name: statistics.median(values) for name, values in samples.items()}


def warm_runs(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(runs + 2):
        for name, argv in commands.items():
            took = time_command(argv, env=env)
            if round_number >= 2:
                samples[name].append(took)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed start-up runs per binary (default 20)")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "amber-bench" / "size")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.workdir.resolve()
    shutil.rmtree(work / "out", ignore_errors=True)
    for sub in ("apps", "out", "logs", "home", "tmp"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    ensure_apt(APT_PACKAGES)
    runtime, _ = find_runtime()
    ctx = Context(work, runtime, runtime.parents[3], 900, 60, build_spawnrss(work))
    ensure_env(ctx, "pyinstaller")
    pyinstaller = PyInstaller(ctx)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work / "home"), "LANG": "C.UTF-8", "TMPDIR": str(work / "tmp")}
    build_env = ctx.build_env(UV_CACHE_DIR=str(Path.home() / ".cache" / "uv"), AMBER_CACHE=str(ctx.amber_cache))

    projects = {}
    for app in APPS:
        shutil.rmtree(work / "apps" / app.script, ignore_errors=True)
        projects[app.name] = make_project(work / "apps", app)
    shutil.rmtree(work / "apps" / FLASK_EXAMPLE, ignore_errors=True)
    projects[FLASK_EXAMPLE] = shutil.copytree(ROOT / "examples" / "flask-hello", work / "apps" / FLASK_EXAMPLE,
                                              ignore=shutil.ignore_patterns("dist", "build"))
    sizes: dict[str, dict[str, int | None]] = {}
    binaries: dict[str, dict[str, Path]] = {}
    hello_build = 0.0
    for name, project in projects.items():
        out = work / "out" / name
        binaries[name] = {}
        for variant, flags in (("default", []), ("before", BEFORE)):
            binaries[name][variant] = out / variant / "app"
            amber_build(project, binaries[name][variant], flags, build_env)  # fills uv's cache
        if name == "hello":
            hello_build = amber_build(project, binaries[name]["default"], [], build_env)
            for variant, flags in FLAG_VARIANTS.items():
                binaries[name][variant] = out / variant.replace(" ", "_") / "app"
                amber_build(project, binaries[name][variant], flags, build_env)
        sizes[name] = {variant: path.stat().st_size for variant, path in binaries[name].items()}
        app = next((a for a in APPS if a.name == name), None)
        if app is not None and pyinstaller.takes(app):
            peer_out = out / "pyinstaller"
            peer_out.mkdir(parents=True)
            pyinstaller.prepare(app, project, peer_out)
            try:
                sizes[name]["pyinstaller"] = pyinstaller.build(app, project, peer_out, work / "logs" /
                                                               f"{name}.log").stat().st_size
            except StepError as exc:
                sizes[name]["pyinstaller"] = None
                print(f"PyInstaller, {name}: {exc}", flush=True)

    startup = {}
    for name in STARTUP_APPS:
        app = next(a for a in APPS if a.name == name)
        commands = {variant: [str(binaries[name][variant])] for variant in ("default", "before")}
        warm = warm_runs(commands, args.runs, {**env, "AMBER_CACHE": str(work / "warm-cache" / app.name)})
        first = first_runs(commands, max(5, args.runs // 2), env, work)
        startup[name] = (warm, first)

    with tempfile.TemporaryDirectory(prefix="amber-bench-self-") as tmp:
        self_binary = Path(tmp) / "amber"
        amber_build(ROOT, self_binary, [], build_env)
        self_size = self_binary.stat().st_size

    targets = Targets()
    targets.add("hello, default", sizes["hello"]["default"] / MB, 12, "MB")
    targets.add("the Flask example, default", sizes[FLASK_EXAMPLE]["default"] / MB, 16, "MB")
    for name in ("numpy", "big"):
        targets.add(f"{name}, default", sizes[name]["default"] / MB, 40, "MB")
    for name, measured in sizes.items():
        if measured.get("pyinstaller"):
            targets.add(f"{name}: default / PyInstaller", measured["default"] / measured["pyinstaller"], 1.6, "×")
    for name, (warm, first) in startup.items():
        targets.add(f"{name}: warm start-up, default / before", warm["default"] / warm["before"], 1.02, "×")
        targets.add(f"{name}: first run, default / before", first["default"] / first["before"], 1.05, "×")
    targets.add("hello, --trim --compress", sizes["hello"]["--trim --compress"] / MB, 6, "MB")
    elf = open_binary(binaries["hello"]["default"]).trailer.archive_offset
    targets.add("interpreter ELF", elf / MB, 6, "MB")
    targets.add("self-built dist/amber", self_size / MB, 50, "MB")
    targets.add("hello build, warm", hello_build, 3, "s")

    minutes = (time.perf_counter() - started) / 60
    lines = ["## Size (`bench/size.py`)", "",
             f"Generated by `bench/size.py` on {time.strftime('%Y-%m-%d')} in {minutes:.1f} minutes — "
             f"{platform.machine()}, {os.cpu_count()} cores. *default* is `amber build`; *before* is "
             f"`amber build {' '.join(BEFORE)}`, the layout amber wrote by default before compression became the "
             "default (.pyc and shared objects stored, sources deflated, pip's wheel in every binary). Apps: "
             "bench/peers.py's seven and the Flask example (examples/flask-hello); PyInstaller 6.22.3 `--onefile` on "
             "Debian's Python 3.11, as in the peers section (its flask and django outputs build, and fail at run time "
             "without hints: see there). Start-up: medians of "
             f"{args.runs} warm runs and of {max(5, args.runs // 2)} first runs (a new empty extraction cache each "
             "run), default and before interleaved.", "", "### Targets (issue #18)", "", *targets.lines(), "",
             "### Output size (MB)", "", "| app | default | before | default / before | PyInstaller | "
             "default / PyInstaller |", "|---|---:|---:|---:|---:|---:|"]
    for name, measured in sizes.items():
        peer = measured.get("pyinstaller")
        peer_text = f"{peer / MB:.1f} | {measured['default'] / peer:.2f}×" if peer else "— | —"
        lines.append(f"| {name} | {measured['default'] / MB:.1f} | {measured['before'] / MB:.1f} | "
                     f"{measured['default'] / measured['before']:.2f}× | {peer_text} |")
    lines += ["", "### What the bytes are (MB, as stored)", "",
              "| app | build | ELF | .pyc | .py | shared objects | ensurepip | rest | total |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("hello", FLASK_EXAMPLE):
        for variant in ("before", "default"):
            kinds = breakdown(binaries[name][variant])
            cells = " | ".join(f"{kinds.get(k, 0) / MB:.2f}" for k in ("ELF", ".pyc", ".py", "shared objects",
                                                                       "ensurepip", "rest"))
            lines.append(f"| {name} | {variant} | {cells} | {sum(kinds.values()) / MB:.2f} |")
    lines += ["", "### hello by flags", "", "| flags | size (MB) |", "|---|---:|"]
    for variant in ("default", "before", *FLAG_VARIANTS):
        flags = "`" + (" ".join(BEFORE) if variant == "before" else "" if variant == "default" else variant) + "`"
        lines.append(f"| {flags if flags != '``' else '(none)'} | {sizes['hello'][variant] / MB:.1f} |")
    lines += ["", "### Start-up (ms)", "", "| app | warm, default | warm, before | ratio | first run, default | "
              "first run, before | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, (warm, first) in startup.items():
        lines.append(f"| {name} | {warm['default'] * 1000:.1f} | {warm['before'] * 1000:.1f} | "
                     f"{warm['default'] / warm['before']:.3f}× | {first['default'] * 1000:.1f} | "
                     f"{first['before'] * 1000:.1f} | {first['default'] / first['before']:.3f}× |")
    publish("size", lines, sys.argv)


if __name__ == "__main__":
    main()
