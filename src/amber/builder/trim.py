"""`--trim`: leave out the standard library modules nothing in the binary can import.

The archive normally carries the whole standard library, because an app may
import any of it. With `--trim` amber computes a static import graph instead:
its roots are every module of site-packages (the project and all its
dependencies, not only what the entry point reaches), amber's boot code, the
modules the interpreter imports while starting, and the modules the
interpreter's C code imports by name; an edge is an import statement anywhere
in a module (inside functions and `try` blocks too, both branches of an `if`),
an `importlib.import_module("x")`/`__import__("x")` with a constant name, a
dotted string constant naming a stdlib module (`"xml.sax.expatreader"`, the
way xml.sax and dbm list their back ends), and, for native code, a stdlib
module name among the strings of a shared object (C extensions import by
name, invisibly to a parse). Whatever no edge reaches is dropped. Not edges:
the fallback of `try: import a / except ImportError: import b` when `a` exists,
and code that runs only when a module is a script (`if __name__ == "__main__":`
and the functions only it calls). The sources are parsed by the runtime itself
(import_scan.py), which knows the syntax of its Python.

What cannot be seen is an import by a computed name (plugins, pickled class
paths, `importlib.import_module(name)`): `--keep` names such modules, and the
binary answers an import of a trimmed module with a ModuleNotFoundError that
says so, so a miss shows up in the app's tests as one clear line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from amber.archive.writer import Member
from amber.boot.elf import ELFError, dynamic_info
from amber.errors import AmberError
from amber.paths import cache_root

IMPORT_SCAN = Path(__file__).with_name("import_scan.py")

# Imported by the interpreter core at any moment (CPython 3.13's Objects/ and Python/: exception
# display, warnings, codec lookup, memoryview casts, huge int <-> str, PEP 695 generics, -m).
INTERPRETER_NEEDS = ("encodings", "codecs", "io", "warnings", "traceback", "linecache", "copyreg", "struct",
                     "_pylong", "typing", "runpy", "zipimport", "importlib", "importlib.machinery",
                     "importlib.util", "site")
# Packages kept whole: codecs are looked up by computed names (`b.decode(charset)`, `open(encoding=...)`).
WHOLE_PACKAGES = ("encodings",)
# Modules imported by name from the C code of stdlib extension modules (PyImport_ImportModule and
# _PyImport_GetModuleAttrString calls in CPython 3.13's Modules/), whether built in or shared.
C_IMPORTS: dict[str, tuple[str, ...]] = {
    "_asyncio": ("asyncio",),
    "_ctypes": ("ctypes",),
    "_curses": ("curses",),
    "_datetime": ("time", "_strptime"),
    "_decimal": ("_pydecimal", "collections", "collections.abc", "numbers"),
    "_elementtree": ("copy", "pyexpat", "xml.etree.ElementPath"),
    "_operator": ("functools",),
    "_pickle": ("_compat_pickle", "codecs", "copyreg", "functools"),
    "_sqlite3": ("functools",),
    "_sre": ("re",),
    "_zoneinfo": ("io", "pickle", "weakref", "zoneinfo._common", "zoneinfo._tzpath"),
    "posix": ("resource",),
    "select": ("posix",),
    "time": ("_strptime",),
}
# Imports that only a tool nobody calls in an app would reach, cut so as not to pull in half the stdlib:
# help() and license() (the interactive help: pydoc with its topic index of every module, and the REPL's
# pager), and the hook by which importlib.metadata (importing itself) finds distributions.
LAZY_EDGES: dict[str, tuple[str, ...]] = {  # module -> the modules (with their submodules) it does not pull in
    "_sitebuiltins": ("pydoc", "_pyrepl"),
    "importlib._bootstrap_external": ("importlib.metadata",),
    "site": ("_pyrepl", "rlcompleter", "readline"),  # the interactive console's line editing
}
# Modules whose dotted strings are data, not imports: Python 2 names of modules for unpickling, the
# index of every module's documentation.
NAME_TABLES = ("_compat_pickle", "pydoc_data.module_docs")
CJK_CODEC_PREFIX = "_codecs_"  # each CJK codec module imports _multibytecodec
# sysconfig imports its data module by a computed name: _sysconfigdata_<abi>_<platform>_<multiarch>.
SYSCONFIG_DATA_PREFIX = "_sysconfigdata_"
MODULE_SUFFIXES = (".py", ".pyc")
# The import error of a module the trim left out says this, then how to keep it (boot/entry.py).
WHY = "amber build --trim left this standard library module out of the binary"
NATIVE_NAME_RE = re.compile(rb"[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass
class References:
    """Module names a file may import: by import statements (and import_module calls with a constant),
    and by strings (dotted constants of a source, identifiers among a shared object's bytes)."""

    imports: set[str] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)

    def __or__(self, other: References) -> References:
        return References(self.imports | other.imports, self.strings | other.strings)


@dataclass
class TrimResult:
    members: list[Member]  # the stdlib members kept
    dropped: list[str]  # the top-most trimmed module names (a dropped package stands for its submodules)
    dropped_modules: int
    dropped_bytes: int

    def as_json(self, keep: list[str]) -> dict:
        """What `amber inspect` shows of the trim."""
        return {"dropped": self.dropped, "dropped_modules": self.dropped_modules,
                "dropped_bytes": self.dropped_bytes, "keep": sorted(keep)}


def module_of(member: str) -> tuple[str, bool] | None:
    """(dotted module name, is a package) of a stdlib archive member, or None for a data file."""
    path, _, leaf = member.rpartition("/")
    if leaf.endswith(".so"):
        if path:
            return None
        return leaf.split(".", 1)[0], False
    for suffix in MODULE_SUFFIXES:
        if leaf.endswith(suffix):
            stem = leaf[: -len(suffix)]
            parts = [p for p in path.split("/") if p]
            if stem == "__init__":
                return ".".join(parts), True
            return ".".join([*parts, stem]), False
    return None


def parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class StdlibGraph:
    """The stdlib members as modules, and what each of them imports."""

    def __init__(self, members: list[Member], builtins: Iterable[str], sources: dict[str, References] | None = None):
        self.members = members
        self.builtins = set(builtins)
        self.sources = sources or {}  # module -> what its Python source references (scan_sources)
        self.files: dict[str, list[Member]] = {}  # module -> its members (.py, .pyc, .so)
        self.packages: set[str] = set()
        for member in members:
            found = module_of(member.name)
            if found is None:
                continue
            name, is_package = found
            self.files.setdefault(name, []).append(member)
            if is_package:
                self.packages.add(name)
        self.sysconfig_data = sorted(n for n in self.files if n.startswith(SYSCONFIG_DATA_PREFIX))
        self.top_level = {n.split(".", 1)[0] for n in self.files} | self.builtins
        self._imports: dict[str, set[str]] = {}

    def exists(self, name: str) -> bool:
        return name in self.files or name in self.builtins

    def resolve(self, refs: References) -> set[str]:
        """The stdlib modules the references touch, with the packages above them. An import names the
        longest existing module prefix of its name (`from a import b`, b a function, names `a.b`); a string
        names a module exactly, or by a prefix of two parts or more (`"logging.handlers.X"`, but not
        `"cmd.exe"`)."""
        found = set()
        for names, shortest in ((refs.imports, 1), (refs.strings, 2)):
            for name in names:
                if name.split(".", 1)[0] not in self.top_level:
                    continue
                candidate = name
                while candidate and candidate.count(".") + 1 >= shortest and not self.exists(candidate):
                    candidate = candidate.rpartition(".")[0]
                if self.exists(candidate) and (candidate == name or candidate.count(".") + 1 >= shortest):
                    found.add(candidate)
                    found.update(p for p in parents(candidate) if self.exists(p))
        return found

    def imports(self, name: str) -> set[str]:
        """The modules `name` imports."""
        if name not in self._imports:
            self._imports[name] = self._find_imports(name)
        return self._imports[name]

    def _find_imports(self, name: str) -> set[str]:
        wanted = References(set(C_IMPORTS.get(name, ())))
        if name.startswith(CJK_CODEC_PREFIX):
            wanted.imports.add("_multibytecodec")
        if name == "sysconfig":
            wanted.imports.update(self.sysconfig_data)
        if name not in NAME_TABLES:
            wanted |= self.sources.get(name, References())
        for member in self.files.get(name, ()):
            if member.name.endswith(".so"):
                wanted.imports |= self._needed_modules(member.data)
        cut = LAZY_EDGES.get(name, ())
        return {m for m in self.resolve(wanted) - {name} if not any(m == c or m.startswith(c + ".") for c in cut)}

    def _needed_modules(self, data: bytes) -> set[str]:
        """A shared module's DT_NEEDED that are other stdlib modules (the _hashlib stub needs _ssl)."""
        try:
            needed = dynamic_info(data)[0]
        except ELFError:
            return set()
        return {soname.split(".", 1)[0] for soname in needed if soname.split(".", 1)[0] in self.files}

    def closure(self, roots: References) -> set[str]:
        reached: set[str] = set()
        todo = list(self.resolve(roots))
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            todo.extend(self.imports(name) - reached)
        return reached

    def subtree(self, name: str) -> set[str]:
        return {n for n in self.files if n == name or n.startswith(name + ".")}


def names_in_native(data: bytes) -> set[str]:
    """Identifier-like strings of a shared object: candidates for modules its C code imports by name."""
    return {token.decode() for token in set(NATIVE_NAME_RE.findall(data)) if len(token) > 1}


def scan_sources(python: Path, sources: dict[str, tuple[Path, str]], exists: Iterable[str]) -> dict[str, References]:
    """What each source (key -> (path, package)) references, parsed by `python`: the target runtime,
    which knows the syntax of the Python the sources are written for. One scanner per core, each given
    about as many bytes."""
    if not sources:
        return {}
    jobs = max(1, min(os.cpu_count() or 1, len(sources) // 200))
    shares: list[list[tuple[str, tuple[Path, str]]]] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    sizes = {key: _size(path) for key, (path, _package) in sources.items()}
    for item in sorted(sources.items(), key=lambda kv: -sizes[kv[0]]):
        lightest = loads.index(min(loads))
        shares[lightest].append(item)
        loads[lightest] += sizes[item[0]]
    exists = sorted(exists)
    with ThreadPoolExecutor(jobs) as pool:
        found = list(pool.map(lambda share: _scan(python, dict(share), exists), shares))
    return {key: refs for part in found for key, refs in part.items()}


def _size(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return 0


def _scan(python: Path, sources: dict[str, tuple[Path, str]], exists: list[str]) -> dict[str, References]:
    request = {"exists": exists, "files": [[key, str(path), package] for key, (path, package) in sources.items()]}
    # The scanner's source goes by -c: inside a self-built amber its file is in the archive.
    proc = subprocess.run([str(python), "-I", "-S", "-c", IMPORT_SCAN.read_text()], input=json.dumps(request),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise AmberError(f"scanning imports with {python} failed: {tail[0]}")
    return {key: References(set(imports), set(strings)) for key, (imports, strings) in json.loads(proc.stdout).items()}


def scanner_id() -> str:
    """Names what the scanner finds: cached results of another scanner are not used."""
    return hashlib.sha256(IMPORT_SCAN.read_bytes()).hexdigest()[:16]


def stdlib_references(members: list[Member], builtins: Iterable[str], python: Path, recipe_hash: str,
                      workdir: Path) -> dict[str, References]:
    """What each stdlib module's source references: scanned once per runtime (and scanner), then read
    from `<cache>/trim/`. `members` must be the runtime's whole stdlib, not an app's selection."""
    cached = cache_root() / "trim" / f"{recipe_hash}-{scanner_id()}.json"
    with contextlib.suppress(OSError, ValueError):
        return {name: References(set(i), set(s)) for name, (i, s) in json.loads(cached.read_text()).items()}
    sources = {}
    for member in members:
        found = module_of(member.name)
        if found is None or not member.name.endswith(".py"):
            continue
        path = workdir / "stdlib-sources" / member.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(member.data)
        name, is_package = found
        sources[name] = (path, name if is_package else name.rpartition(".")[0])
    found_refs = scan_sources(python, sources, runtime_modules(members, builtins))
    with contextlib.suppress(OSError):  # no cache: the next build scans again
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: [sorted(r.imports), sorted(r.strings)] for k, r in found_refs.items()}))
        os.replace(tmp, cached)
    return found_refs


def runtime_modules(members: list[Member], builtins: Iterable[str]) -> set[str]:
    """Every module name a runtime has: its archive's modules and its built-in ones."""
    return {found[0] for member in members if (found := module_of(member.name))} | set(builtins)


@dataclass
class SiteReferences:
    """What the app's files reference: each Python source's references (by archive name), and the module
    names among the strings of its shared objects."""

    sources: dict[str, References]
    native: set[str]

    def roots(self) -> References:
        """All of it, as roots of the stdlib's graph."""
        roots = References(set(), set(self.native))
        for refs in self.sources.values():
            roots |= refs
        return roots


def site_references(python: Path, files: Iterable[tuple[Path, str]], exists: Iterable[str]) -> SiteReferences:
    """What the app's files (site-packages and the boot code) may import: their Python sources' references,
    and the module names among their shared objects' strings."""
    native: set[str] = set()
    sources = {}
    for path, name in files:
        if name.endswith(".py"):
            sources[name] = (path, name.rpartition("/")[0].replace("/", "."))
        elif ".so" in Path(name).suffixes:
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    native |= names_in_native(path.read_bytes())
    return SiteReferences(scan_remembered(python, sources, exists), native)


def scan_remembered(python: Path, sources: dict[str, tuple[Path, str]], exists: Iterable[str]) -> dict[str, References]:
    """scan_sources, each result remembered by the source's bytes and package in `<cache>/trim/`: an app's
    dependencies are parsed once, not at every build (sympy's 1,500 files take 10 s)."""
    exists = sorted(set(exists))
    namespace = hashlib.sha256(json.dumps([str(python), scanner_id(), exists]).encode()).hexdigest()[:16]
    store_path = cache_root() / "trim" / f"sources-{namespace}.json"
    remembered: dict[str, list[list[str]]] = {}
    with contextlib.suppress(OSError, ValueError):
        remembered = json.loads(store_path.read_text())
    digests = {key: hashlib.sha256(package.encode() + b"\0" + path.read_bytes()).hexdigest()[:32]
               for key, (path, package) in sources.items()}
    missing = {key: sources[key] for key, digest in digests.items() if digest not in remembered}
    for key, refs in scan_sources(python, missing, exists).items():
        remembered[digests[key]] = [sorted(refs.imports), sorted(refs.strings)]
    if missing:
        with contextlib.suppress(OSError):  # no cache: the next build scans again
            store_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = store_path.with_name(f".{store_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(remembered, sort_keys=True))
            os.replace(tmp, store_path)
    return {key: References(*map(set, remembered[digest])) for key, digest in digests.items()}


def trim_stdlib(graph: StdlibGraph, roots: References, startup: Set[str], keep: list[str],
                interpreter: bool = True) -> TrimResult:
    """The stdlib members the roots can reach, plus each `keep` module's whole subtree; and, with
    `interpreter`, what the interpreter core, its `startup` modules and the codecs can reach."""
    stdlib = graph.members
    for name in keep:
        if not graph.exists(name):
            raise AmberError(f"--keep {name}: no standard library module of that name is in the runtime")
    whole = [*WHOLE_PACKAGES, *keep] if interpreter else keep
    kept_roots = (set(INTERPRETER_NEEDS) | startup if interpreter else set()) | {
        n for name in whole for n in graph.subtree(name) | {name}}
    reached = graph.closure(roots | References(kept_roots))
    dropped = sorted(set(graph.files) - reached)
    drop = set(dropped)
    kept, dropped_bytes = [], 0
    for member in stdlib:
        owner = _owner(member.name, graph)
        if owner is not None and owner in drop:
            dropped_bytes += len(member.data)
        else:
            kept.append(member)
    topmost = [name for name in dropped if not any(p in drop for p in parents(name))]
    return TrimResult(kept, topmost, len(dropped), dropped_bytes)


def _owner(member: str, graph: StdlibGraph) -> str | None:
    """The module a member belongs to: its own, or for a data file the deepest package around it."""
    found = module_of(member)
    if found is not None:
        return found[0]
    parts = member.split("/")[:-1]
    while parts:
        name = ".".join(parts)
        if name in graph.packages:
            return name
        parts.pop()
    return None
