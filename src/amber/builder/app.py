"""`amber build`: a project (or a requirement) -> one executable file.

    project wheel (uv build) -> wheel + dependencies installed for the runtime (uv pip install --target)
    -> scripts chosen, native code decided -> stdlib members from the runtime (--exclude, --trim)
    -> .pyc compiled by the runtime -> runtime ELF + one archive (stdlib + site-packages + boot code)
    -> written to a temporary name next to the output, then renamed.

build() runs these stages in order; each is a function of this module with typed inputs and results.
A runtime plays two roles in a build (BuildRuntimes): its ELF and standard library are what the binary
ships, and it runs the build's own Python (uv's interpreter, the compiler, the scans). For another CPU
(--target) the two part: the target's runtime is shipped, this machine's runtime of the same Python runs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name

from amber import __version__, targets
from amber.archive import dictionaries, packing
from amber.archive.compile import compile_members
from amber.archive.format import FLAG_APP
from amber.archive.reader import open_binary
from amber.archive.writer import Member, write_archive
from amber.binary_info import MANIFEST_NAME
from amber.boot import BOOT_MODULES
from amber.boot.entry import app_table_source
from amber.boot.vfs import SYSTEM_LIBRARY_DIR, WARM_LIST
from amber.builder import (
    app_dictionaries,
    bytecode,
    exclude,
    extract_rule,
    lock,
    native_scan,
    resolve,
    site,
    startup,
    stdlib_choice,
    trim,
)
from amber.builder.entry_check import check_entry_points
from amber.builder.native_scan import NativeParts
from amber.builder.project import BuildFlags, BuildOptions, Project, choose_entry, load_target, merge_options
from amber.errors import AmberError, RuntimeMissing
from amber.paths import cache_root
from amber.runtime import embedded, store
from amber.runtime.recipe import PythonRecipe, load_recipe
from amber.targets import Target


@dataclass
class BuildResult:
    output: Path
    size: int
    seconds: float
    entry: str
    scripts: dict[str, str]
    dists: list[resolve.InstalledDist]
    libc: tuple[int, ...]  # the oldest version of the target's C library the binary runs on
    native: NativeParts
    target: Target


@dataclass(frozen=True)
class BuildRuntimes:
    """The runtimes a build uses: one for both roles, unless the target is another CPU than this machine's."""

    shipped: store.Runtime  # its ELF and standard library members are the binary's
    python: Path  # the interpreter that runs the build's Python: uv's --python, compiling, scanning


def find_runtimes(rec: PythonRecipe, target: Target) -> BuildRuntimes:
    """The target's runtime and, for another CPU, this machine's own runtime of the same Python (the .pyc
    files are the same on every CPU, and the target's cannot run here)."""
    shipped = store.find(rec, target)
    if shipped is None:
        raise RuntimeMissing(rec.minor, rec.version, target)
    host = targets.host()
    if target == host:
        return BuildRuntimes(shipped, shipped.executable)
    if host is None:
        raise AmberError(f"building for {target.name} runs Python on this machine, and amber has no runtime for "
                         f"{os.uname().machine} (known: {', '.join(targets.TARGETS)})")
    runner = store.find(rec, host)
    if runner is None:
        raise RuntimeMissing(rec.minor, rec.version, host)
    return BuildRuntimes(shipped, runner.executable)


def app_table(scripts: dict[str, str], default: str, native: bool, parts: NativeParts,
              left_out: dict[str, str] | None = None, zstd: bool = False, native_policy: str = "auto",
              source_only: bool = False) -> bytes:
    """Source of the generated __amber_app__ module: the table the boot code reads at every start."""
    extract = {}
    for extraction in parts.extractions:
        for top in extraction.top_level:
            extract[top] = (extraction.key, parts.system_sonames_for(extraction))
    return app_table_source(SCRIPTS=scripts, DEFAULT=default, NATIVE=native, EXTRACT=extract,
                            EXECUTABLES=frozenset(parts.programs), TRIMMED=left_out or {}, ZSTD=zstd,
                            NATIVE_POLICY=native_policy, SOURCE_ONLY=source_only)


def build(target: str | Path, flags: BuildFlags | None = None, log=print) -> BuildResult:
    """Build `target` (a project directory, or a requirement such as 'httpie==3.2.4') into one file.

    The stages, each a function below: install what the binary carries; choose its scripts; decide
    about its native code; take the standard library from the runtime (excluded, trimmed); compile
    everything with the runtime; write runtime ELF + archive under a temporary name, then rename.
    """
    started = time.monotonic()
    project = load_target(str(target), Path.cwd())
    options = merge_options(project, flags or BuildFlags())
    rec = load_recipe().python(options.python)
    runtimes = find_runtimes(rec, options.target)
    runtime = runtimes.shipped
    with tempfile.TemporaryDirectory(prefix="amber-build-") as tmp_name, \
            resolve.uv_scratch(Path(tmp_name) / "uv-tmp"):
        tmp = Path(tmp_name)
        installed = install(project, options, runtimes.python, rec.version, tmp, log)
        chosen = choose_scripts(project, options, installed)
        output = options.output or project.root / "dist" / chosen.default
        output = output if output.is_absolute() else Path.cwd() / output
        app_files = site.site_files(installed.site) + site.script_programs(installed.site, installed.wrappers)
        parts = native_decisions(installed, options, runtime, rec.minor, app_files, chosen, log)
        image = open_binary(runtime.executable)
        runtime_members = image.members()
        boot_copies = copy_boot_sources(tmp)
        chosen_stdlib = stdlib_choice.stdlib_members(runtimes, runtime_members, installed, options, app_files,
                                                     boot_copies, parts, tmp, log)
        stdlib, trimmed = chosen_stdlib.members, chosen_stdlib.trimmed
        members = compile_app(runtimes.python, rec.minor, options, app_files, stdlib, boot_copies, chosen, parts,
                              chosen_stdlib.left_out, installed, tmp, log)
        app_left_out: list[Member] = []
        if chosen_stdlib.site_refs and options.bytecode_for_reached_only:  # the app's unreached modules: source only
            keep = app_modules_with_bytecode(installed, chosen, [name for _, name in app_files],
                                             chosen_stdlib.site_refs)
            boot = {f"{name}.pyc" for name in [*BOOT_MODULES, "__amber_app__"]}
            members, app_left_out = bytecode.source_only(members, keep | boot)
        runtime_dictionaries = dictionaries.by_kind(stdlib)
        members, own_dictionaries = app_dictionaries.with_own_dictionaries(members, options.compress,
                                                                           runtime_dictionaries)
        libc = libc_floor(runtime, options.target, parts, installed.dists)
        manifest = build_manifest(runtime.metadata, options.platform, options.target, libc, chosen.scripts,
                                  chosen.default,
                                  chosen.entry, installed.dists, parts,
                                  {"inputs": installed.inputs.as_json(), "excluded": sorted(installed.exclusion.names),
                                   "trim": trimmed.as_json(options.keep) if trimmed else None,
                                   "source_only": bytecode.record(chosen_stdlib.bytecode_left_out, app_left_out),
                                   "compression": packing.manifest_record(options.compress, runtime_dictionaries)
                                   | app_dictionaries.manifest_record(own_dictionaries)})
        # Which members are the runtime's: a self-built amber writes its runtime back from them.
        runtime_manifest = embedded.manifest_member(runtime, runtime_members)
        everything = [*stdlib, *members, manifest, installed.pins, runtime_manifest]
        if options.compress is False:  # nothing is compressed with the runtime's dictionaries
            everything = [m for m in everything if not dictionaries.is_dictionary(m.name)]
        hot = startup_code(runtimes.python, everything, chosen, members) if options.compress is None else set()
        objects = startup.startup_objects(everything, hot)
        hot |= objects
        warm = startup.warm_objects(everything, objects)
        if warm:  # the shared objects every start loads: a first run writes them ahead (boot/cache.py)
            everything.append(Member(WARM_LIST, "".join(f"{name}\n" for name in warm).encode()))
        unreached = chosen_stdlib.unreached_native() - hot  # xz: decompressed once per machine, if ever
        write_binary(output, image.interpreter(), packing.app_members(everything, options.compress, hot, unreached),
                     zstd_level=packing.every_member_level(options.compress))
    return BuildResult(output=output, size=output.stat().st_size, seconds=time.monotonic() - started,
                       entry=chosen.entry, scripts=chosen.scripts, dists=installed.dists, libc=libc, native=parts,
                       target=options.target)


@dataclass
class Installed:
    """What the install stage left in `<tmp>/site`, and what was decided on the way."""

    site: Path
    dists: list[resolve.InstalledDist]
    own: resolve.InstalledDist | None  # the project's (or the requirement's) distribution
    inputs: lock.Inputs
    pins: Member  # .amber/requirements.lock
    exclusion: exclude.Exclusion
    wrappers: set[str]  # the installer's console and gui script wrappers (bin/), which the binary replaces


def install(project: Project, options: BuildOptions, python: Path, python_version: str, tmp: Path,
            log) -> Installed:
    """The project's wheel (none for a requirement) and its dependencies, installed for the target (by uv
    asking `python`, the build's interpreter), checked against the lock, with --exclude applied and the
    RECORDs normalized."""
    wheel = None if project.requirement else resolve.build_wheel(project.root, python, tmp / "wheel")
    installed_site = tmp / "site"
    inputs = lock.install_app(project, options, wheel, python, installed_site, tmp, log)
    resolved = resolve.installed_dists(installed_site)
    lock.check_installed(inputs, project, resolved, log)
    pins = lock.requirements_member(inputs, project, resolved, python_version, options)
    exclusion = exclude.prune_site(installed_site, options.exclude, project.name, python)
    site.normalize_site(installed_site)
    dists = resolve.installed_dists(installed_site)
    resolve.check_portable(dists, options.target)
    own = next((d for d in dists if canonicalize_name(d.name) == canonicalize_name(project.name)), None)
    wrappers = {name for d in dists for group in ("gui_scripts", "console_scripts")
                for name in site.console_scripts(installed_site, d.dist_info, group)}
    return Installed(installed_site, dists, own, inputs, pins, exclusion, wrappers)


@dataclass
class Scripts:
    entry: str  # what the user asked for (a script name or module:function), or the default choice
    default: str  # the script the binary runs under its own name
    scripts: dict[str, str]  # script name -> module:function


def choose_scripts(project: Project, options: BuildOptions, installed: Installed) -> Scripts:
    """The binary's scripts: its distribution's console scripts, plus the entry when it is another
    distribution's script (a requirement build) or an explicit module:function."""
    scripts = site.console_scripts(installed.site, installed.own.dist_info) if installed.own else {}
    # A requirement build may take its entry from any installed distribution's scripts.
    available = {name: target for d in installed.dists
                 for name, target in site.console_scripts(installed.site, d.dist_info).items()
                 } if project.requirement else {}
    entry = choose_entry(project, scripts, options.entry, available)
    if entry in scripts:
        return Scripts(entry, entry, scripts)
    if entry in available:
        return Scripts(entry, entry, {**scripts, entry: available[entry]})
    default = project.normalized_name  # an explicit module:function
    return Scripts(entry, default, {**scripts, default: entry})


def native_decisions(installed: Installed, options: BuildOptions, runtime: store.Runtime, minor: str,
                     app_files: list[tuple[Path, str]], chosen: Scripts, log) -> native_scan.NativeParts:
    """What the app's native code needs at run time: the distributions to extract, the system libraries
    to bundle, its programs, the glibc it needs (the entry points are checked on the way)."""
    by_name = {name: path for path, name in app_files}
    check_entry_points(chosen.scripts, by_name)
    extractions = extract_rule.choose(
        site.dist_files(installed.site, installed.dists), by_name, keep_sources=options.sources,
        cache_tag=f"cpython-{minor.replace('.', '')}", salt=runtime.metadata["recipe_hash"],
        extract=options.extract, no_extract=options.no_extract)
    parts = native_scan.scan_native(by_name, extractions, options.target)
    where = "this machine does not have either" if options.target == targets.host() else (
        f"amber found no {options.target.arch} copy of" + (f" ({parts.missing_why})" if parts.missing_why else ""))
    for soname in parts.missing:
        log(f"amber: warning: bundled native code needs {soname}, which {where}; the target system must provide it")
    return parts


def startup_code(python: Path, members: list[Member], chosen: Scripts, app: list[Member]) -> set[str]:
    """The members of the code every start of the binary runs (builder/startup.py): what the runtime loads
    while starting (asked of it), what amber's boot modules and the scripts' modules import at module level,
    and what the scripts' entry functions import; all of an `app` package any of that is in. (What the boot
    code imports inside its functions, for native code or programs, is not: 1.2 MB of .pyc a print-only app
    never reads.)"""
    roots = {*exclude.interpreter_modules(python, []).bare, *BOOT_MODULES}
    return startup.startup_members(members, roots, chosen.scripts.values(), {m.name.partition("/")[0] for m in app})


def copy_boot_sources(tmp: Path) -> dict[str, Path]:
    """Copies of the boot sources for the runtime (it compiles them, and --trim scans them): in a
    self-built amber the originals are inside this binary's archive, where another process cannot
    open them."""
    copies = {}
    for name, path in BOOT_MODULES.items():
        copies[name] = tmp / "boot" / f"{name}.py"
        copies[name].parent.mkdir(exist_ok=True)
        copies[name].write_bytes(path.read_bytes())
    return copies


def app_modules_with_bytecode(installed: Installed, chosen: Scripts, names: list[str],
                              site_refs: trim.SiteReferences) -> set[str]:
    """The .pyc members of the app's modules that its imports reach (builder/bytecode.py): from its scripts,
    every installed distribution's entry points, and what its shared objects name."""
    modules = bytecode.AppModules.of(names)
    roots = {target.partition(":")[0] for target in chosen.scripts.values()} | site_refs.native
    for dist in installed.dists:
        roots |= site.entry_point_modules(installed.site, dist.dist_info)
    return {f"{modules.sources[name]}c" for name in bytecode.reached(modules, site_refs.sources, roots)}


def compile_app(python: Path, minor: str, options: BuildOptions, app_files: list[tuple[Path, str]],
                stdlib: list[Member], boot_copies: dict[str, Path], chosen: Scripts, parts: native_scan.NativeParts,
                left_out: dict[str, str], installed: Installed, tmp: Path, log) -> list[Member]:
    """The app's members: its files and amber's boot code with the generated __amber_app__, compiled by
    the runtime in one run; shared objects stored; extraction listings and bundled system libraries."""
    app_src = tmp / "__amber_app__.py"
    # The runtime's heavy stdlib modules are shared objects in the archive too (_ssl, _sqlite3...).
    native = native_scan.carries_shared_objects(app_files) or any(store.is_dynload_member(m.name) for m in stdlib)
    app_src.write_bytes(app_table(chosen.scripts, chosen.default, native, parts, left_out,
                                  zstd=options.compress is not False, native_policy=options.native,
                                  source_only=options.bytecode_for_reached_only))
    boot_files = [(app_src, "__amber_app__.py"), *((copy, f"{name}.py") for name, copy in boot_copies.items())]
    members, failures = compile_members(python, [*app_files, *boot_files], tmp, keep_sources=options.sources)
    boot_names = {name for _, name in boot_files}
    if any(name in boot_names for name, _ in failures):
        raise AmberError(f"amber's boot code does not compile: {failures}")
    for name, error in failures:
        log(f"amber: warning: {name} does not compile for Python {minor} ({error}); shipped as source")
    exclude.warn_own_imports(installed.site, installed.own.dist_info if installed.own else None,
                             installed.exclusion, log)
    taken = {m.name for m in stdlib}
    clashes = sorted(m.name for m in members if m.name in taken)
    if clashes:
        raise AmberError(f"installed packages would replace standard library files: {', '.join(clashes[:5])}")
    # Shared objects and programs are never deflated (archive/packing.py makes them zstd, or stores them
    # for --no-compress, where the loader copies them into memory files with sendfile()).
    members = [replace(m, compress=False) if m.compress and native_scan.is_elf(m.data) else m for m in members]
    present = {m.name for m in members}
    members += [e.listing(present) for e in parts.extractions]
    members += [Member(f"{SYSTEM_LIBRARY_DIR}/{lib.soname}", lib.data, compress=True, executable=True)
                for lib in parts.system_libraries]
    return members


def libc_floor(runtime: store.Runtime, target: Target, parts: NativeParts,
               dists: list[resolve.InstalledDist]) -> tuple[int, ...]:
    """The oldest version of the target's C library the binary runs on, measured: the newest the runtime (as
    its validator found) or any ELF file inside requires. For glibc that is the newest GLIBC_x.y; musl versions
    no symbols, so for musl it is the target's floor, raised by what an older musl cannot load (DT_RELR:
    1.2.4) and by any wheel tagged for a newer musllinux (the runtime's own floor, 1.2.3, is the musl it was
    tested with: musl 1.2 keeps its ABI, and the runtime leaves out what 1.2.5 added)."""
    needs = [parts.libc] if parts.libc else []
    if target.libc == "musl":
        return max([target.libc_floor, *needs, *filter(None, (d.libc_floor("musllinux") for d in dists))])
    major, minor = runtime.metadata["glibc_max"].removeprefix("GLIBC_").split(".")[:2]
    return max([(int(major), int(minor)), *needs])


def build_manifest(runtime: dict, platform: str, target: Target, libc: tuple[int, ...], scripts: dict[str, str],
                   default: str, entry: str, dists: list[resolve.InstalledDist], parts: NativeParts,
                   extra: dict | None = None) -> Member:
    """`.amber/build.json`: what `amber inspect` reports without running the binary (no times, no paths).
    `glibc` stays for glibc binaries (what readers of older binaries look for); `libc` names either."""
    floor = targets.version_text(libc)
    manifest = {
        "format": 1,
        "amber": __version__,
        "runtime": {key: runtime.get(key) for key in ("python_version", "recipe_hash", "target", "glibc_max")},
        "platform": platform,
        "libc": {"name": target.libc_name, "version": floor},
        **({"glibc": floor} if target.libc == "gnu" else {}),
        "entry": entry,
        "default_script": default,
        "scripts": dict(sorted(scripts.items())),
        "distributions": [{"name": d.name, "version": d.version, "dist_info": d.dist_info, "tags": list(d.tags)}
                          for d in sorted(dists, key=lambda d: canonicalize_name(d.name))],
        "extract": [{"distribution": e.dist, "key": e.key, "files": len(e.files)}
                    for e in parts.extractions],
        "system_libraries": [{"soname": lib.soname, "glibc": f"{lib.glibc[0]}.{lib.glibc[1]}",
                              "size": len(lib.data)} for lib in parts.system_libraries],
        "programs": parts.programs,
        **(extra or {}),
    }
    return Member(MANIFEST_NAME, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def write_binary(output: Path, interpreter: bytes, members: list[Member], zstd_level: int | None = None) -> None:
    """Write interpreter + archive to a temporary name beside `output`, then rename it into place."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    except OSError as exc:
        raise AmberError(f"cannot write {output}: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(interpreter)
            write_archive(out, members, flags=FLAG_APP, zstd_level=zstd_level,
                          xz_cache=cache_root() / "packed" / "xz")
        tmp.chmod(0o755)
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AmberError(f"cannot write {output}: {exc.strerror}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
