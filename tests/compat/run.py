"""The compatibility suite: build every fixture app, run it in an empty chroot, write docs/compat.md.

    sudo .venv/bin/python tests/compat/run.py             # all groups, rewrites docs/compat.md
    sudo .venv/bin/python tests/compat/run.py web data    # some groups, prints the table only
    sudo .venv/bin/python tests/compat/run.py --flags '--trim --compress'   # every group built so
    sudo .venv/bin/python tests/compat/run.py --target aarch64-linux-gnu    # built for aarch64, run under qemu

Each group under tests/compat/<group>/ is a small project whose script runs one check per package
and prints `<dist>==<version>: <what it did> OK` (or `FAIL <reason>`), then a summary line ending in
OK. Here each app is built with `amber build` (one at a time: the machine has two cores), its
reported glibc baseline is compared with what the ELF members inside it require, and it runs in a
root file system holding nothing but glibc's files, /proc and a noexec tmpfs on /tmp: no Python,
no shell libraries, no CA bundle, no time zone database, no fonts. Start-up is the median wall time
of `<app> import <dist>` (the check's modules imported, nothing run), warm: after the full run
filled the extraction cache. Needs root (chroot, mounts). tests/test_compat.py runs the same code.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(HERE.parent) not in sys.path:  # run as a script: make tests/helpers importable
    sys.path.insert(0, str(HERE.parent))

from amber import debian_packages, targets  # noqa: E402
from amber.archive.reader import open_binary  # noqa: E402
from amber.boot.elf import ELFError  # noqa: E402
from amber.boot.vfs import SYSTEM_LIBRARY_DIR  # noqa: E402
from amber.builder.native_scan import glibc_needed  # noqa: E402
from amber.elf import ElfFile  # noqa: E402
from amber.runtime.emulation import CURRENT_MUSL_SUITE, kernel_runs  # noqa: E402
from helpers.apps import musl_zlib, static_shell  # noqa: E402
from helpers.chroot import Chroot  # noqa: E402

# group -> the distributions its app checks, in the order it checks them.
GROUPS: dict[str, tuple[str, ...]] = {
    "web": ("gunicorn", "flask", "jinja2", "django", "fastapi", "uvicorn", "starlette", "aiohttp"),
    "data": ("numpy", "pandas", "scipy", "matplotlib", "pillow", "pyarrow"),
    "network": ("certifi", "requests", "httpx", "urllib3", "botocore", "boto3"),
    "serialization": ("pyyaml", "orjson", "msgpack", "protobuf", "lxml"),
    "databases": ("sqlalchemy", "psycopg2-binary"),
    "security": ("cryptography", "bcrypt", "pyjwt"),
    "cli": ("click", "rich", "typer"),
    "text": ("pydantic", "jsonschema", "babel", "python-dateutil", "pytz", "tzdata", "regex", "charset-normalizer"),
    "concurrency": ("gevent", "greenlet"),
}
# The representative third the normal test run builds (tests/test_compat.py); AMBER_COMPAT=all runs all.
CI_GROUPS = ("web", "data", "network")
# What building and running the suite turned up, printed under the tables (edit when a finding changes).
FINDINGS = (
    "**Fixed in amber:** Pillow's FreeType module (`PIL._imagingft`, used by `ImageFont` and text drawing) "
    "needs `libfreetype` and `libharfbuzz` from `pillow.libs/`, and those two need each other. The memory "
    "loader loaded vendored libraries one at a time, dependencies first, and failed on the cycle. "
    "`src/amber/boot/native.py` now loads the libraries of a dependency cycle together from one "
    "extraction-cache entry (their `RPATH $ORIGIN` lets one `dlopen()` resolve it); everything else stays in "
    "memory (`tests/test_native_cycle.py`).",
    "**Nothing extracted:** certifi's and botocore's CA bundles and matplotlib's fonts, which C code opens by "
    "path, are read from the binary by the runtime's C file layer (issue #17); before it, an extraction rule "
    "materialized those distributions on the first run (botocore with its service models: about 3,000 "
    "files, 23 MB).",
    "**Fallback libraries need the build machine's glibc:** the `.amber/lib/` copies of libstdc++ and "
    "libgcc_s come from the build machine and require its glibc (see the group table), newer than the "
    "app's baseline. A target older than that which also lacks its own libstdc++/libgcc_s cannot load "
    "them; every glibc-based distribution ships both, so this concerns only stripped-down images.",
)
LINE_RE = re.compile(r"^(?P<dist>[A-Za-z0-9._-]+)==(?P<version>\S+): (?P<rest>.*)$")
CHROOT_ENV = {"PATH": "/bin", "HOME": "/home", "TMPDIR": "/tmp"}
STARTUP_RUNS = 5


@dataclass
class PackageResult:
    dist: str
    version: str
    ok: bool
    detail: str
    startup: float | None = None  # seconds, median of warm runs


@dataclass
class GroupResult:
    group: str
    binary: Path | None  # None: the build failed
    build_seconds: float
    size: int
    libc_reported: str
    libc_measured: str  # the newest C library any ELF file needs (GLIBC_x.y; musl: 1.2.4 for DT_RELR) but .amber/lib/
    system_libraries: dict[str, str]  # bundled fallbacks (.amber/lib/): soname -> the glibc it needs
    extracted: list[str]
    returncode: int = -1
    run_seconds: float = 0.0  # the full check run in the chroot, first run (extraction included)
    bare_startup: float | None = None  # `<app> import`: the app's start-up alone
    packages: list[PackageResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    build_failure: str | None = None  # `amber build`'s last line when it refused the group (no wheel for the target)

    @property
    def ok(self) -> bool:
        return (self.returncode == 0 and [p.dist for p in self.packages] == list(GROUPS[self.group])
                and all(p.ok for p in self.packages) and self.libc_reported == self.libc_measured)


def pinned_versions(group: str) -> dict[str, str]:
    """name -> version of the exact pins in the fixture's pyproject.toml."""
    data = tomllib.loads((HERE / group / "pyproject.toml").read_text())
    pins = {}
    for requirement in data["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


class BuildFailed(Exception):
    """`amber build` of a group refused or failed: its last line is why (one `amber: ...` line for a refusal)."""

    def __init__(self, group: str, stderr: str):
        lines = [line for line in stderr.splitlines() if line.strip()]
        self.why = lines[-1] if lines else "no output"
        super().__init__(f"amber build {group} failed:\n{stderr}")


def build(group: str, workdir: Path, flags: tuple[str, ...] = ()) -> tuple[Path, float]:
    """`amber build` of a copy of the fixture (the build writes dist/ into the project), with `flags` added."""
    project = workdir / group
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(HERE / group, project, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    shutil.copy(HERE / "harness.py", project / "src" / f"compat_{group}" / "_harness.py")  # the one check harness
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "amber", "build", str(project), *flags], capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        raise BuildFailed(group, out.stderr)
    return project / "dist" / f"compat-{group}", time.monotonic() - started


def inspect(binary: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "amber", "inspect", "--json", str(binary)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def measured_libc(binary: Path, target: targets.Target) -> tuple[str, dict[str, str]]:
    """The newest version of the target's C library the binary really needs: for glibc, its interpreter's
    GLIBC_x.y (as the runtime's validator measured it, recorded in .amber/build.json) and that of every ELF
    member of its archive; for musl, which versions no symbols, the target's floor, or 1.2.4 where an ELF member
    carries packed relative relocations. The bundled system-library fallbacks under .amber/lib/ are loaded
    only where the target lacks the library, so they are reported apart (soname -> need) and not counted."""
    fallbacks = {}
    members = open_binary(binary).members()  # amber's reader: `--compress` members are zstd, unknown to zipfile
    if target.libc == "musl":
        best = target.libc_floor
    else:
        manifest = next(m.data for m in members if m.name == ".amber/build.json")
        runtime_glibc = json.loads(manifest)["runtime"]["glibc_max"]
        best = tuple(int(x) for x in runtime_glibc.removeprefix("GLIBC_").split(".")[:2])
    for member in members:
        if member.data[:4] != b"\x7fELF":
            continue
        try:
            need = glibc_needed(member.data) if target.libc == "gnu" else ElfFile(member.data).musl_needed
        except ELFError:
            continue  # not a loadable object for this machine
        if member.name.startswith(SYSTEM_LIBRARY_DIR + "/"):
            fallbacks[member.name.rsplit("/", 1)[1]] = targets.version_text(need) if need else "-"
        elif need and need > best:
            best = need
    return targets.version_text(best), dict(sorted(fallbacks.items()))


@contextmanager
def app_chroot(binary: Path, root: Path, target: targets.Target | None = None):
    """An empty root with only glibc's files, /proc, a noexec tmpfs /tmp, /bin/sh (for programs
    that shell out) and the app at /app/<name>; unmounted and removed afterwards. For another target:
    its C library and shell from Debian (for musl, as Alpine's base image: Debian 13's musl, zlib compiled
    here, a busybox-static shell), the caller running another CPU's programs through qemu."""
    musl = target is not None and target.libc == "musl"
    chroot = Chroot(root, target, CURRENT_MUSL_SUITE if musl else None)
    try:
        chroot.add(binary, f"/app/{binary.name}", 0o755)
        if musl:  # Alpine's base image: musl, zlib (pillow's wheels link its libz.so.1) and busybox
            shell = static_shell(target)
            chroot.add(musl_zlib(target), f"/usr/lib/{target.multiarch}/libz.so.1", 0o755)
        elif target is not None and target != targets.host():
            shell = debian_packages.unpacked(target, f"{target.name}-dash", ("dash",), "bin/dash") / "bin" / "dash"
        else:
            shell = Path("/bin/dash") if Path("/bin/dash").exists() else Path("/bin/sh")
        chroot.add(shell, "/bin/sh", 0o755)
        (root / "home").mkdir()
        chroot.mount_tmpfs("/tmp")
        chroot.mount_proc()
        yield chroot
    finally:
        chroot.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def parse_report(group: str, stdout: str) -> list[PackageResult]:
    results = []
    for line in stdout.splitlines():
        match = LINE_RE.match(line)
        if match and match.group("dist") in GROUPS[group]:
            rest = match.group("rest")
            ok = rest.endswith(" OK") and not rest.startswith("FAIL")
            detail = rest.removesuffix(" OK") if ok else rest.removeprefix("FAIL ")
            results.append(PackageResult(match.group("dist"), match.group("version"), ok, detail))
    return results


def timed(chroot: Chroot, argv: list[str], timeout: int = 600) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = chroot.run(argv, env=dict(CHROOT_ENV), timeout=timeout)
    return result, time.perf_counter() - started


def run_group(group: str, workdir: Path, startup: bool = True, log=print, flags: tuple[str, ...] = (),
              target: targets.Target | None = None) -> GroupResult:
    """Build one group (with `amber build` flags `flags`, for `target`) and run it in a fresh chroot; with
    `startup`, also time each package's import."""
    if target is not None:
        flags = (*flags, "--target", target.name)
    try:
        binary, build_seconds = build(group, workdir, flags)
    except BuildFailed as failed:
        log(f"{group}: the build failed: {failed.why}")
        return GroupResult(group, None, 0.0, 0, "-", "-", {}, [], stderr=str(failed), build_failure=failed.why)
    info = inspect(binary)
    measured, fallbacks = measured_libc(binary, target or targets.host())
    libc = info["libc"].split()  # "glibc 2.28", "musl 1.2.4"
    result = GroupResult(group, binary, build_seconds, binary.stat().st_size, libc[1], measured, fallbacks,
                         sorted(e["distribution"] for e in info["extract"]))
    log(f"{group}: built in {build_seconds:.0f} s, {result.size / 1e6:.1f} MB, {info['libc']}")
    with app_chroot(binary, workdir / f"{group}-root", target) as chroot:
        app = f"/app/{binary.name}"
        run, result.run_seconds = timed(chroot, [app])
        result.returncode, result.stdout, result.stderr = run.returncode, run.stdout, run.stderr
        result.packages = parse_report(group, run.stdout)
        (workdir / f"{group}.log").write_text(f"exit {run.returncode}\n{run.stdout}\n--- stderr\n{run.stderr}")
        if startup and run.returncode == 0:
            result.bare_startup = _median(chroot, [app, "import"])
            for package in result.packages:
                package.startup = _median(chroot, [app, "import", package.dist])
    log(f"{group}: {'OK' if result.ok else 'FAILED'} ({result.run_seconds:.1f} s in the chroot)")
    return result


def _median(chroot: Chroot, argv: list[str]) -> float:
    timed(chroot, argv)  # warm the page cache for this path
    times = []
    for _ in range(STARTUP_RUNS):
        run, seconds = timed(chroot, argv)
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {run.stderr[-2000:]}")
        times.append(seconds)
    return statistics.median(times)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds is not None else "-"


def markdown(results: list[GroupResult], total_seconds: float) -> str:
    """docs/compat.md: one row per package, then one per group."""
    passed = sum(p.ok for r in results for p in r.packages)
    expected = sum(len(GROUPS[r.group]) for r in results)
    lines = [
        "# Compatibility suite",
        "",
        "Generated by `tests/compat/run.py` (do not edit by hand; rerun it: "
        "`sudo .venv/bin/python tests/compat/run.py`).",
        "",
        f"**{passed}/{expected} packages pass** in {len(results)} apps, each built with `amber build` and run in an "
        "empty chroot holding only glibc's files, `/proc` and a `noexec` `/tmp` (no Python, no CA bundle, no "
        "time zone database, no fonts, no libstdc++). Every check uses its package for real; the *notes* say "
        f"what it did. Suite time: {total_seconds / 60:.1f} min on this machine (2 cores), builds included.",
        "",
        "Every test run (`scripts/test`) builds and checks the web, data and network groups; "
        "`sudo AMBER_COMPAT=all .venv/bin/python -m pytest tests/test_compat.py` checks all nine.",
        "",
        "*Build size* is the size of the group's binary (the runtime, the standard library and every "
        "package of the group); *start-up* is the median wall time of the binary importing the package's "
        "modules and nothing else (warm: page cache and extraction cache filled, "
        f"{STARTUP_RUNS} runs), the binary's own start-up included (see the group table).",
        "",
        "| group | package | version | result | build size | start-up | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for p in r.packages:
            lines.append(f"| {r.group} | {p.dist} | {p.version} | {'pass' if p.ok else '**FAIL**'} | "
                         f"{r.size / 1e6:.1f} MB | {_ms(p.startup)} | {p.detail.replace('|', '/')} |")
        for missing in [d for d in GROUPS[r.group] if d not in {p.dist for p in r.packages}]:
            lines.append(f"| {r.group} | {missing} | - | **not run** | {r.size / 1e6:.1f} MB | - | "
                         f"the app stopped (exit {r.returncode}) |")
    lines += [
        "",
        "## Per group",
        "",
        "*glibc*: the baseline `amber inspect` reports, which the suite checks equals the newest `GLIBC_x.y` "
        "required by the interpreter or any ELF member of the archive. *Fallback libraries* are the system "
        "libraries a wheel links without vendoring (`.amber/lib/`, used only where the target has none; the "
        "glibc each needs in parentheses); they are not part of the baseline. *Extracted*: distributions "
        "materialized in the extraction cache on first use (only those a project names in `extract`).",
        "",
        "| group | build | size | glibc | fallback libraries | extracted | app start-up | full run (first) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        fallbacks = ", ".join(f"{name} ({need})" for name, need in r.system_libraries.items()) or "-"
        glibc = r.libc_reported if r.libc_reported == r.libc_measured else (
            f"**{r.libc_reported} reported, {r.libc_measured} measured**")
        lines.append(f"| {r.group} | {r.build_seconds:.0f} s | {r.size / 1e6:.1f} MB | {glibc} | {fallbacks} | "
                     f"{', '.join(r.extracted) or '-'} | {_ms(r.bare_startup)} | {r.run_seconds:.1f} s |")
    lines += ["", "## What the suite found", ""]
    lines += [f"- {finding}" for finding in FINDINGS]
    quirks = (REPO / "src" / "amber" / "builder" / "quirks.toml")
    lines += ["", "## Quirks", ""]
    lines.append("Packages that needed special treatment are listed, with the reason, in "
                 "[`src/amber/builder/quirks.toml`](../src/amber/builder/quirks.toml)." if quirks.is_file()
                 else "No package needed special treatment: everything above ran through amber's general mechanism.")
    return "\n".join(lines) + "\n"


def cross_markers(target: targets.Target) -> tuple[str, str]:
    """The markers of docs/compat.md's section for `target` (rewritten by `run.py --target <name>` alone)."""
    key = "cross_" + target.name.replace("-", "_")
    return f"<!-- {key}: begin (tests/compat/run.py --target {target.name}) -->", f"<!-- {key}: end -->"


def cross_section(results: list[GroupResult], target: targets.Target, total_seconds: float) -> str:
    """docs/compat.md's section for another target: the suite built with --target and run in a root holding that
    target's C library alone (another CPU's under emulation); what failed, and why, is listed under the table."""
    passed = sum(p.ok for r in results for p in r.packages)
    expected = sum(len(GROUPS[r.group]) for r in results)
    if target.libc == "musl":
        root = (f"Debian 13's `musl` {'' if target.arch == targets.host().arch else target.debian_arch + ' '}"
                "package (musl 1.2.5), `libz.so.1` (the recipe's zlib compiled by zig) and a static busybox as "
                "`/bin/sh`, as Alpine's base image has them")
        wheels = f"{target.arch} musllinux wheels"
    else:
        root = f"Debian's {target.debian_arch} C library (`libc6`, `libgcc-s1`) and `/bin/sh`"
        wheels = f"{target.arch} wheels"
    how = "natively" if target.arch == targets.host().arch else f"under `qemu-{target.arch}-static`"
    begin, end = cross_markers(target)
    lines = [begin, f"## The suite on {target.name}", "",
             f"**{passed}/{expected} packages pass** built on this x86_64 machine with `--target {target.name}` "
             f"({wheels}) and run {how} in a root holding {root}, `/proc` and a `noexec` `/tmp`, nothing else: the "
             f"same checks as above. Suite time: {total_seconds / 60:.1f} min, builds included "
             f"(`sudo .venv/bin/python tests/compat/run.py --target {target.name} --no-startup`).", "",
             f"| group | packages | build | size | {target.libc_name} | fallback libraries | full run (first) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        fallbacks = ", ".join(f"{soname} ({need})" for soname, need in r.system_libraries.items()) or "-"
        ok = sum(p.ok for p in r.packages)
        size = f"{r.size / 1e6:.1f} MB" if r.binary else "-"
        lines.append(f"| {r.group} | {ok}/{len(GROUPS[r.group])} | {r.build_seconds:.0f} s | {size} | "
                     f"{r.libc_reported} | {fallbacks} | {r.run_seconds:.1f} s |")
    failures = [f"- {r.group}: the build refused it: `{r.build_failure}`" for r in results if r.build_failure]
    failures += [f"- {r.group}, {p.dist} {p.version}: {p.detail}" for r in results for p in r.packages if not p.ok]
    failures += [f"- {r.group}: exit {r.returncode}, checked {len(r.packages)} of {len(GROUPS[r.group])}"
                 for r in results if r.binary and (r.returncode != 0 or len(r.packages) != len(GROUPS[r.group]))]
    if failures:
        lines += ["", "What did not pass:", "", *failures]
    return "\n".join([*lines, end]) + "\n"


def write_cross_section(doc: Path, section: str, target: targets.Target) -> None:
    begin, end = cross_markers(target)
    text = doc.read_text()
    start, stop = text.find(begin), text.find(end)
    if start >= 0 and stop > start:
        text = text[:start] + section + text[stop + len(end) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)


OWNED_SECTION_RE = re.compile(r"\n<!-- (\w+): begin .*?-->\n.*?<!-- \1: end -->\n", re.DOTALL)


def owned_sections(doc: Path) -> str:
    """The sections of `doc` another runner writes between its markers (tests/realapps/run.py's real tools),
    kept when this runner rewrites the document."""
    return "".join(m.group(0) for m in OWNED_SECTION_RE.finditer(doc.read_text())) if doc.is_file() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--output", type=Path, help="markdown file to write (default: docs/compat.md when "
                                                    "every group runs, else none)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timings")
    parser.add_argument("--keep", type=Path, help="build in this directory and keep the binaries")
    parser.add_argument("--flags", default="", help="amber build flags for every group, e.g. '--trim --compress' "
                                                   "(the table is printed, docs/compat.md left alone)")
    parser.add_argument("--target", type=targets.get, help="build for this target and run under emulation when it "
                        "is another CPU's (the table is printed, docs/compat.md left alone)")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; groups: {', '.join(GROUPS)}")
    groups = args.groups or list(GROUPS)
    flags = tuple(shlex.split(args.flags))
    output = args.output or (REPO / "docs" / "compat.md" if not args.groups and not flags and not args.target
                             else None)
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="amber-compat-") as tmp, kernel_runs(args.target or targets.default()):
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for group in groups:
            result = run_group(group, workdir, startup=not args.no_startup, log=lambda m: print(m, flush=True),
                               flags=flags, target=args.target)
            if not result.ok:
                print(result.stdout, result.stderr[-6000:], sep="\n", file=sys.stderr)
            results.append(result)
    total = time.monotonic() - started
    text = markdown(results, total)
    if args.target and args.target != targets.host() and not args.groups and not flags:
        section = cross_section(results, args.target, total)
        write_cross_section(REPO / "docs" / "compat.md", section, args.target)
        print(section)
        print(f"suite: {len(groups)} groups in {total / 60:.1f} min; wrote its section of docs/compat.md")
        return 0 if all(r.ok for r in results) else 1
    if output:
        output.write_text(text + owned_sections(output))
        print(f"wrote {output}")
    else:
        print(text)
    print(f"suite: {len(groups)} groups in {total / 60:.1f} min")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
