"""Which of the runtime's standard library members a binary carries, and which of them keep bytecode.

--exclude, then --trim (what no import of the app or of the boot code it uses reaches is left out), then
ensurepip unless the app uses it, then (by default) bytecode only for what the app reaches: the rest
carries its source, compiled once per machine if something imports it (builder/bytecode.py), then
--no-sources.

Two graphs answer "reached". --trim must keep every module any import can reach, so it follows imports
wherever they are (inside functions too), from the app, the boot code, and the modules the interpreter
core imports at any moment (INTERPRETER_NEEDS: traceback for an uncaught exception, warnings, typing for
PEP 695 generics, runpy for -m...). Bytecode is kept for less, as a module left with its source only
costs a compile the first time it is imported on a machine: for what the app's and the boot code's
imports reach anywhere, as --trim's graph has it, and for what importing the interpreter's own modules
imports (at module level: builder/startup.py's walk). What those reach only through the functions they
call (traceback's and site's lazy imports, shutil's tarfile, _pylong's decimal) an app that never calls
them never compiles. Measured on bench's print-only hello: 214 stdlib modules kept bytecode before,
1.04 MB of zstd .pyc; 155 now, 0.40 MB (hello 14.2 -> 13.6 MB).

The shared objects follow the same graph: those no import of the app, of the interpreter's modules or
of the boot code reaches (the codecs' CJK tables too, which only a charset named in data loads) are
xz members (archive/xz.py), smaller and slower to decompress, once per machine if ever. In a
print-only app that is all but _decimal (which _pylong imports): 3.7 -> 3.2 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from amber.archive.writer import Member
from amber.boot import boot_modules_used
from amber.builder import bytecode, exclude, native_scan, pip_installer, startup, trim
from amber.builder.native_scan import NativeParts
from amber.builder.project import BuildOptions
from amber.runtime import store

if TYPE_CHECKING:
    from amber.builder.app import BuildRuntimes, Installed


@dataclass
class Reach:
    """What the app reaches in the standard library: --trim's members, the members that keep bytecode."""

    trimmed: trim.TrimResult
    compiled: set[str]  # stdlib member names that keep their .pyc (the rest: source only)
    native: set[str]  # stdlib member names whose shared objects stay zstd (the rest: xz)
    site_refs: trim.SiteReferences  # what the app's files reference (scanned for the import graph)


@dataclass
class StdlibChoice:
    """The standard library a binary carries, and what was left out of it."""

    members: list[Member]
    trimmed: trim.TrimResult | None  # --trim's result
    left_out: dict[str, str]  # module -> why it is not in the binary (its import error says so)
    bytecode_left_out: list[Member]  # the stdlib's .pyc of modules that carry their source only
    site_refs: trim.SiteReferences | None  # what the app's files reference (scanned for the import graph)
    reached: set[str] | None = None  # the stdlib members the app's imports reach (None: not looked for)

    def unreached_native(self) -> set[str]:
        """The stdlib's shared objects (_ssl, _sqlite3, the CJK codecs...) no import of the app reaches: like
        the modules left with their source only, compressed for size (xz), as only an import by a name
        computed at run time (a codec's, from data) would load them."""
        if self.reached is None:
            return set()
        loaded = startup.startup_objects(self.members, self.reached)  # with what they need (_hashlib: _ssl)
        return {m.name for m in self.members if store.is_dynload_member(m.name)} - loaded


def reach_of_app(runtimes: BuildRuntimes, runtime_members: list[Member], stdlib: list[Member],
                 app_files: list[tuple[Path, str]], boot_copies: dict[str, Path], parts: NativeParts,
                 keep: list[str], workdir: Path) -> Reach:
    """The stdlib members the app's files and the boot code it uses can reach (--trim's), those that keep
    bytecode, and what the app's files reference.

    Every source is parsed by the runtime itself (it knows the syntax of its Python). The boot
    code for native code is a root when the app carries shared objects, or when the trim keeps a
    shared stdlib module (then the app loads it from memory too).
    """
    python = runtimes.python
    facts = exclude.interpreter_modules(python, [])
    exists = trim.runtime_modules(runtime_members, facts.builtins)
    references = trim.stdlib_references(runtime_members, facts.builtins, python,
                                        runtimes.shipped.metadata["recipe_hash"], workdir)
    graph = trim.StdlibGraph(stdlib, facts.builtins, references)
    site_refs = trim.site_references(python, app_files, exists)
    boot_refs = trim.scan_sources(python, {name: (path, "") for name, path in boot_copies.items()}, exists)

    def boot_roots(native: bool) -> trim.References:
        found = trim.References()
        for name in boot_modules_used(native, bool(parts.extractions), bool(parts.programs)):
            found = found | boot_refs[name]
        return found

    native = native_scan.carries_shared_objects(app_files)
    result = trim.trim_stdlib(graph, site_refs.roots() | boot_roots(native), facts.bare, keep)
    if not native and any(store.is_dynload_member(m.name) for m in result.members):
        native = True
        result = trim.trim_stdlib(graph, site_refs.roots() | boot_roots(native), facts.bare, keep)
    by_app = trim.trim_stdlib(graph, site_refs.roots(), frozenset(), keep, interpreter=False)
    # The boot code's import statements (its strings name modules it hooks, which it does not import).
    boot = graph.resolve(trim.References(boot_roots(native).imports))
    by_import = startup.startup_members(stdlib, [*trim.INTERPRETER_NEEDS, *facts.bare, *boot])
    # The codecs, looked up by names computed at run time (`data.decode(charset)`): their bytecode is kept
    # (small), their shared objects (the CJK tables, unicodedata for idna) count as unreached.
    codecs = (name for package in trim.WHOLE_PACKAGES for name in graph.subtree(package))
    by_codecs = startup.startup_members(stdlib, list(codecs))
    reached = {m.name for m in by_app.members} | by_import
    return Reach(result, reached | by_codecs, reached, site_refs)


def stdlib_members(runtimes: BuildRuntimes, runtime_members: list[Member], installed: Installed,
                   options: BuildOptions, app_files: list[tuple[Path, str]], boot_copies: dict[str, Path],
                   parts: NativeParts, tmp: Path, log) -> StdlibChoice:
    """The runtime's standard library members the binary carries (the module docstring's steps), the
    stdlib modules left out, each with why (for the import error that names them), and what the app's
    files reference when the import graph was made."""
    stdlib = exclude.prune_members(runtime_members, installed.exclusion)
    reach = reach_of_app(runtimes, runtime_members, stdlib, app_files, boot_copies, parts, options.keep,
                         tmp) if options.trim or options.bytecode_for_reached_only else None
    trimmed = reach.trimmed if reach and options.trim else None
    if trimmed:
        stdlib = trimmed.members
        log(f"amber: --trim left out {trimmed.dropped_modules} standard library modules "
            f"({trimmed.dropped_bytes / 1e6:.1f} MB)")
    left_out = dict.fromkeys(trimmed.dropped if trimmed else (), trim.WHY)
    if any(m.name.startswith(pip_installer.PACKAGE + "/") for m in stdlib) and \
            not pip_installer.needed(app_files, options.keep):
        stdlib = pip_installer.without(stdlib)
        left_out[pip_installer.PACKAGE] = pip_installer.WHY
    bytecode_left_out = []
    if reach and not trimmed and options.bytecode_for_reached_only:
        stdlib, bytecode_left_out = bytecode.source_only(stdlib, reach.compiled)
    if not options.sources:
        compiled = {m.name for m in stdlib if m.name.endswith(".pyc")}
        stdlib = [m for m in stdlib if not (m.name.endswith(".py") and f"{m.name}c" in compiled)]
    return StdlibChoice(stdlib, trimmed, left_out, bytecode_left_out, reach.site_refs if reach else None,
                        reach.native if reach else None)
