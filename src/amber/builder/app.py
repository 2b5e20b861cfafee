"""`amber build`: a pyproject project -> one executable file.

    project wheel (uv build) -> wheel + dependencies installed for the runtime (uv pip install --target)
    -> .pyc compiled by the runtime -> runtime ELF + one archive (stdlib + site-packages + boot code)
    -> written to a temporary name next to the output, then renamed.
"""

from __future__ import annotations

import configparser
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name

from amber import __version__
from amber.archive.compile import compile_members
from amber.archive.format import FLAG_APP
from amber.archive.reader import open_binary
from amber.archive.writer import Member, write_archive
from amber.binary_info import MANIFEST_NAME
from amber.boot import BOOT_MODULES, boot_modules_used
from amber.boot.elf import ELFError, dynamic_info
from amber.boot.vfs import SYSTEM_LIBRARY_DIR
from amber.builder import exclude, extract_rule, lock, native_scan, resolve, trim
from amber.builder.entry_check import check_entry_points
from amber.builder.project import choose_entry, load_target, merge_options
from amber.errors import AmberError, RuntimeMissing
from amber.runtime import embedded, store
from amber.runtime.recipe import load_recipe

# Files an installed distribution carries that have no use inside a binary.
SKIP_TOP = {"bin", "__pycache__", ".lock"}
SKIP_SUFFIXES = (".pyc", ".pyo")
# Installer records that name this build's temporary paths or times: dropped, so
# that two builds of the same inputs are byte-identical.
INSTALLER_NOISE = ("direct_url.json", "uv_cache.json")


@dataclass
class BuildResult:
    output: Path
    size: int
    seconds: float
    entry: str
    scripts: dict[str, str]
    dists: list[resolve.InstalledDist]
    glibc: tuple[int, int]
    native: NativeParts


@dataclass
class NativeParts:
    """What the app's native code needs at run time, decided at build time."""

    system_libraries: list[native_scan.SystemLibrary]
    missing: list[str]  # sonames neither bundled nor on this machine: the target must have them
    extractions: list[extract_rule.Extraction]
    programs: list[str]  # archive members the kernel can execute
    glibc: tuple[int, int] | None  # the newest GLIBC_x.y any bundled wheel's ELF file requires
    needed: dict[str, list[str]]  # archive member -> its DT_NEEDED sonames

    def system_sonames_for(self, extraction: extract_rule.Extraction) -> tuple[str, ...]:
        """Bundled system libraries an extracted distribution's native code links directly."""
        bundled = {lib.soname for lib in self.system_libraries}
        return tuple(sorted({soname for _, name, _ in extraction.files for soname in self.needed.get(name, ())
                             if soname in bundled}))


def _head(path: Path, size: int = 64) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


def scan_native(files: dict[str, Path], extractions: list[extract_rule.Extraction]) -> NativeParts:
    """ELF files among the app's files: what they need from the system, the glibc they need, programs."""
    elves, programs = {}, []
    for name, path in files.items():
        head = _head(path)
        if native_scan.is_elf(head):
            elves[name] = path.read_bytes()
        # Python modules with a #! line are modules here (compiled; the source may not even be kept).
        if (path.stat().st_mode & 0o111 and not name.endswith(".py")
                and (head[:2] == b"#!" or native_scan.is_program(elves.get(name, b"")))):
            programs.append(name)
    needed, glibc = {}, None
    for name, data in elves.items():
        try:
            needed[name] = dynamic_info(data)[0]
            need = native_scan.glibc_needed(data)
        except ELFError:
            continue  # not a loadable object for this machine (another architecture, a test file)
        if need and (glibc is None or need > glibc):
            glibc = need
    libraries, missing = native_scan.bundle_missing(elves)
    return NativeParts(libraries, missing, extractions, sorted(programs), glibc, needed)


def dist_files(site: Path, dists: list[resolve.InstalledDist]) -> dict[str, list[str]]:
    """Each distribution's installed files, from its RECORD (as normalize_site left it)."""
    files = {}
    for dist in dists:
        record = site / dist.dist_info / "RECORD"
        lines = record.read_text().splitlines() if record.is_file() else []
        files[dist.name] = [line.split(",", 1)[0] for line in lines if line]
    return files


def console_scripts(site: Path, dist_info: str, group: str = "console_scripts") -> dict[str, str]:
    """[console_scripts] (or another group) of one installed distribution (what pip makes wrappers for)."""
    path = site / dist_info / "entry_points.txt"
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # script names are case-sensitive
    parser.read_string(path.read_text())
    if not parser.has_section(group):
        return {}
    return {name: value.split("[")[0].strip() for name, value in parser.items(group)}


def normalize_site(site: Path) -> None:
    """Drop installer noise and make each RECORD list exactly the files the binary carries."""
    for info in site.glob("*.dist-info"):
        for name in INSTALLER_NOISE:
            (info / name).unlink(missing_ok=True)
        record = info / "RECORD"
        if not record.is_file():
            continue
        kept = []
        for line in record.read_text().splitlines():
            path = line.split(",", 1)[0]
            rel = Path(path)
            if rel.parts and rel.parts[0] not in SKIP_TOP and ".." not in rel.parts and (site / rel).is_file():
                kept.append(line)
        record.write_text("".join(f"{line}\n" for line in sorted(kept)))


def script_programs(site: Path, wrappers: set[str]) -> list[tuple[Path, str]]:
    """Programs wheels install as scripts (`<dist>.data/scripts/`), stored as `bin/<name>`: ELF
    executables and `#!` scripts for another interpreter. The installer's console-script wrappers
    (`wrappers`) and Python scripts are left out: the binary runs its entry points itself."""
    found = []
    for path in sorted((site / "bin").glob("*")):
        if path.name in wrappers or not path.is_file() or path.is_symlink() or not path.stat().st_mode & 0o111:
            continue
        head = _head(path, 128)
        first_line = head.split(b"\n", 1)[0]
        if native_scan.is_elf(head) or (first_line.startswith(b"#!") and b"python" not in first_line):
            found.append((path, f"bin/{path.name}"))
    return found


def site_files(site: Path) -> list[tuple[Path, str]]:
    files = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if rel.parts[0] in SKIP_TOP or "__pycache__" in rel.parts or path.name.endswith(SKIP_SUFFIXES):
            continue
        if path.is_symlink():
            raise AmberError(f"installed package file {rel} is a symlink; amber archives hold regular files only")
        if path.is_file():
            files.append((path, rel.as_posix()))
    return files


def app_module(scripts: dict[str, str], default: str, native: bool, parts: NativeParts,
               trimmed: list[str] | None = None, zstd: bool = False) -> bytes:
    """Source of the generated __amber_app__ module: the table the boot code reads at every start."""
    extract = {}
    for extraction in parts.extractions:
        for top in extraction.top_level:
            extract[top] = (extraction.key, extraction.forced, parts.system_sonames_for(extraction))
    lines = ['"""Generated by amber build: the scripts of this binary and how to load its native code."""', "",
             f"SCRIPTS = {dict(sorted(scripts.items()))!r}", f"DEFAULT = {default!r}",
             f"NATIVE = {native!r}  # carries shared objects to load from memory",
             f"EXTRACT = {dict(sorted(extract.items()))!r}  # top-level name -> (cache key, forced, system sonames)",
             f"EXECUTABLES = frozenset({sorted(parts.programs)!r})  # programs started by path",
             f"TRIMMED = frozenset({sorted(trimmed or [])!r})  # stdlib modules --trim left out",
             f"ZSTD = {zstd!r}  # members are zstd (--compress): zipfile must learn to read them", ""]
    return "\n".join(lines).encode()


def carries_shared_objects(app_files: list[tuple[Path, str]]) -> bool:
    """Whether the installed files hold shared objects (C extensions, vendored libraries)."""
    return any(".so" in Path(name).suffixes for _, name in app_files)


def trim_for_app(runtime: store.Runtime, runtime_members: list[Member], stdlib: list[Member],
                 app_files: list[tuple[Path, str]], boot_copies: dict[str, Path], parts: NativeParts,
                 keep: list[str], workdir: Path) -> trim.TrimResult:
    """--trim: the stdlib members the app's files and the boot code it uses can reach.

    Every source is parsed by the runtime itself (it knows the syntax of its Python). The boot
    code for native code is a root when the app carries shared objects, or when the trim keeps a
    shared stdlib module (then the app loads it from memory too).
    """
    python = runtime.executable
    facts = exclude.interpreter_modules(python, [])
    exists = trim.runtime_modules(runtime_members, facts.builtins)
    references = trim.stdlib_references(runtime_members, facts.builtins, python, runtime.metadata["recipe_hash"],
                                        workdir)
    graph = trim.StdlibGraph(stdlib, facts.builtins, references)
    app_roots = trim.site_roots(python, app_files, exists)
    boot_refs = trim.scan_sources(python, {name: (path, "") for name, path in boot_copies.items()}, exists)

    def trimmed(native: bool) -> trim.TrimResult:
        roots = app_roots
        for name in boot_modules_used(native, bool(parts.extractions), bool(parts.programs)):
            roots = roots | boot_refs[name]
        return trim.trim_stdlib(graph, roots, facts.bare, keep)

    app_native = carries_shared_objects(app_files)
    result = trimmed(app_native)
    if not app_native and any(store.is_dynload_member(m.name) for m in result.members):
        result = trimmed(True)
    return result


def build(target: str | Path, cli: dict, log=print) -> BuildResult:
    """Build `target` (a project directory, or a requirement such as 'httpie==3.2.4') into one file."""
    started = time.monotonic()
    project = load_target(str(target), Path.cwd())
    options = merge_options(project, cli)
    rec = load_recipe().python(options.python)
    runtime = store.find(rec)
    if runtime is None:
        raise RuntimeMissing(rec.minor, rec.version)
    image = open_binary(runtime.executable)
    # The runtime's own need, as its validator measured it (e.g. "GLIBC_2.17").
    runtime_glibc = tuple(int(x) for x in runtime.metadata["glibc_max"].removeprefix("GLIBC_").split(".")[:2])
    with tempfile.TemporaryDirectory(prefix="amber-build-") as tmp_name, \
            resolve.uv_scratch(Path(tmp_name) / "uv-tmp"):
        tmp = Path(tmp_name)
        wheel = None if project.requirement else resolve.build_wheel(project.root, runtime.executable, tmp / "wheel")
        site = tmp / "site"
        inputs = lock.install_app(project, options, wheel, runtime.executable, site, tmp, log)
        resolved = resolve.installed_dists(site)
        lock.check_installed(inputs, project, resolved, log)
        pins = lock.requirements_member(inputs, project, resolved, rec.version, options.platform)
        exclusion = exclude.prune_site(site, options.exclude, project.name, runtime.executable)
        normalize_site(site)
        dists = resolve.installed_dists(site)
        resolve.check_portable(dists)
        own = next((d for d in dists if canonicalize_name(d.name) == canonicalize_name(project.name)), None)
        scripts = console_scripts(site, own.dist_info) if own else {}
        # A requirement build may take its entry from any installed distribution's scripts.
        available = {name: target for d in dists for name, target in console_scripts(site, d.dist_info).items()
                     } if project.requirement else {}
        entry = choose_entry(project, scripts, options.entry, available)
        if entry in scripts:
            default = entry
        elif entry in available:
            default = entry
            scripts = {**scripts, entry: available[entry]}
        else:  # an explicit module:function
            default = project.normalized_name
            scripts = {**scripts, default: entry}
        output = (options.output or project.root / "dist" / default)
        output = output if output.is_absolute() else (Path.cwd() / output)
        wrappers = {name for d in dists for name in console_scripts(site, d.dist_info, "gui_scripts")} | {
            name for d in dists for name in console_scripts(site, d.dist_info)}
        app_files = site_files(site) + script_programs(site, wrappers)
        by_name = dict((name, path) for path, name in app_files)
        check_entry_points(scripts, by_name)
        extractions = extract_rule.choose(
            dist_files(site, dists), by_name, keep_sources=options.sources,
            cache_tag=f"cpython-{rec.minor.replace('.', '')}", salt=runtime.metadata["recipe_hash"],
            extract=options.extract, no_extract=options.no_extract)
        parts = scan_native(by_name, extractions)
        for soname in parts.missing:
            log(f"amber: warning: bundled native code needs {soname}, which this machine does not have either; "
                "the target system must provide it")
        runtime_members = image.members()
        stdlib = exclude.prune_members(runtime_members, exclusion)
        # Copies of the boot sources for the runtime (it compiles them, and --trim scans them): in a
        # self-built amber the originals are inside this binary's archive, where another process cannot
        # open them.
        boot_copies = {}
        for name, path in BOOT_MODULES.items():
            boot_copies[name] = tmp / "boot" / f"{name}.py"
            boot_copies[name].parent.mkdir(exist_ok=True)
            boot_copies[name].write_bytes(path.read_bytes())
        trimmed = trim_for_app(runtime, runtime_members, stdlib, app_files, boot_copies, parts, options.keep,
                               tmp) if options.trim else None
        if trimmed:
            stdlib = trimmed.members
            log(f"amber: --trim left out {trimmed.dropped_modules} standard library modules "
                f"({trimmed.dropped_bytes / 1e6:.1f} MB)")
        if not options.sources:  # the stdlib's sources too: each .py whose .pyc is there
            compiled = {m.name for m in stdlib if m.name.endswith(".pyc")}
            stdlib = [m for m in stdlib if not (m.name.endswith(".py") and f"{m.name}c" in compiled)]
        app_src = tmp / "__amber_app__.py"
        # The runtime's heavy stdlib modules are shared objects in the archive too (_ssl, _sqlite3...).
        native = carries_shared_objects(app_files) or any(
            store.is_dynload_member(m.name) for m in stdlib)
        app_src.write_bytes(app_module(scripts, default, native, parts, trimmed.dropped if trimmed else None,
                                       zstd=options.compress is not None))
        boot_files = [(app_src, "__amber_app__.py"), *((copy, f"{name}.py") for name, copy in boot_copies.items())]
        # One run of the runtime compiles the app and amber's boot code together.
        members, failures = compile_members(runtime.executable, [*app_files, *boot_files], tmp,
                                            keep_sources=options.sources)
        boot_names = {name for _, name in boot_files}
        if any(name in boot_names for name, _ in failures):
            raise AmberError(f"amber's boot code does not compile: {failures}")
        for name, error in failures:
            log(f"amber: warning: {name} does not compile for Python {rec.minor} ({error}); shipped as source")
        exclude.warn_own_imports(site, own.dist_info if own else None, exclusion, log)
        taken = {m.name for m in stdlib}
        clashes = sorted(m.name for m in members if m.name in taken)
        if clashes:
            raise AmberError(f"installed packages would replace standard library files: {', '.join(clashes[:5])}")
        # Shared objects and programs are stored, not deflated: at start-up the loader copies them into
        # memory files with sendfile(), which a deflated member would turn into inflating megabytes.
        members = [replace(m, compress=False) if m.compress and native_scan.is_elf(m.data) else m for m in members]
        present = {m.name for m in members}
        members += [e.listing(present) for e in extractions]
        members += [Member(f"{SYSTEM_LIBRARY_DIR}/{lib.soname}", lib.data, compress=True, executable=True)
                    for lib in parts.system_libraries]
        glibc = max([runtime_glibc, *([parts.glibc] if parts.glibc else [])])
        manifest = build_manifest(runtime.metadata, options.platform, glibc, scripts, default, entry, dists, parts,
                                  {"inputs": inputs.as_json(), "excluded": sorted(exclusion.names),
                                   "trim": trimmed.as_json(options.keep) if trimmed else None,
                                   "compression": {"zstd_level": options.compress} if options.compress else None})
        # Which members are the runtime's: a self-built amber writes its runtime back from them.
        runtime_manifest = embedded.manifest_member(runtime, runtime_members)
        write_binary(output, image.interpreter(), [*stdlib, *members, manifest, pins, runtime_manifest],
                     zstd_level=options.compress)
    return BuildResult(output=output, size=output.stat().st_size, seconds=time.monotonic() - started,
                       entry=entry, scripts=scripts, dists=dists, glibc=glibc, native=parts)


def build_manifest(runtime: dict, platform: str, glibc: tuple[int, int], scripts: dict[str, str], default: str,
                   entry: str, dists: list[resolve.InstalledDist], parts: NativeParts,
                   extra: dict | None = None) -> Member:
    """`.amber/build.json`: what `amber inspect` reports without running the binary (no times, no paths)."""
    manifest = {
        "format": 1,
        "amber": __version__,
        "runtime": {key: runtime.get(key) for key in ("python_version", "recipe_hash", "target", "glibc_max")},
        "platform": platform,
        "glibc": f"{glibc[0]}.{glibc[1]}",
        "entry": entry,
        "default_script": default,
        "scripts": dict(sorted(scripts.items())),
        "distributions": [{"name": d.name, "version": d.version, "dist_info": d.dist_info, "tags": list(d.tags)}
                          for d in sorted(dists, key=lambda d: canonicalize_name(d.name))],
        "extract": [{"distribution": e.dist, "reason": e.reason, "key": e.key, "files": len(e.files)}
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
            write_archive(out, members, flags=FLAG_APP, zstd_level=zstd_level)
        tmp.chmod(0o755)
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AmberError(f"cannot write {output}: {exc.strerror}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
