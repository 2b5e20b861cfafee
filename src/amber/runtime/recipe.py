"""The declarative runtime recipe (recipe.toml, extensions.toml) and its hash.

The recipe hash is the cache key of a runtime: it covers the pinned sources,
the module table, the patches, the C launcher and every build script, so any
change that could alter the produced binary yields a new runtime directory.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from amber import targets
from amber.errors import AmberError
from amber.targets import Target

RUNTIME_DIR = Path(__file__).parent
PACKAGE_DIR = RUNTIME_DIR.parent
# Everything that shapes the bytes of a runtime file, relative to src/amber.
# Orchestration, caching, fetching and validation code is left out on purpose:
# changing it must not force a twenty-minute rebuild of an identical runtime.
HASHED_INPUTS = (
    "runtime/recipe.toml", "runtime/extensions.toml", "runtime/patches", "runtime/launcher.c",
    "runtime/toolchain.py", "runtime/libraries.py", "runtime/hide_symbols.py", "runtime/cpython.py",
    "runtime/stdlib.py", "runtime/fs", "archive/format.py", "archive/writer.py",
    "archive/compile.py", "archive/compile_worker.py",
    # how the runtime's stdlib members are compressed: its level, its dictionaries, the codecs
    "archive/packing.py", "archive/dictionaries.py", "archive/codecs.py",
)


@dataclass(frozen=True)
class Source:
    """One pinned upstream tarball."""

    key: str
    version: str
    file: str
    sha256: str
    debian: str  # "package=version" for apt-get source
    suites: tuple[str, ...]
    url: str

    @property
    def debian_package(self) -> str:
        return self.debian.partition("=")[0]


@dataclass(frozen=True)
class ExtensionModule:
    """A row of the stdlib extension module table."""

    name: str
    status: str  # "static" (in the interpreter ELF), "shared" (a .so in the archive), "stub" or "disabled"
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    links: str = ""  # the bundled library it needs, for the docs and error messages
    reason: str = ""  # why a disabled module is left out
    provider: str = ""  # for a stub: the shared module whose object holds this module's code


@dataclass(frozen=True)
class PythonRecipe:
    """Everything needed to build one CPython minor version."""

    minor: str  # "3.13"
    source: Source
    libraries: tuple[Source, ...]
    extensions: tuple[ExtensionModule, ...] = field(default=())
    lto: bool = False

    @property
    def version(self) -> str:
        return self.source.version


@dataclass(frozen=True)
class Recipe:
    zig: str
    default_python: str
    pythons: dict[str, PythonRecipe]
    sources: dict[str, Source]

    def python(self, wanted: str | None) -> PythonRecipe:
        """The recipe for `wanted` ("3.13" or "3.13.15"; None picks the default)."""
        key = wanted or self.default_python
        for minor, rec in self.pythons.items():
            if key in (minor, rec.version):
                return rec
        known = ", ".join(f"{m} ({r.version})" for m, r in sorted(self.pythons.items()))
        raise AmberError(f"no runtime recipe for Python {key!r}; known: {known}")


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AmberError(f"broken recipe file {path}: {exc}") from exc


@cache
def load_recipe() -> Recipe:
    data = _load_toml(RUNTIME_DIR / "recipe.toml")
    sources = {
        key: Source(key=key, version=s["version"], file=s["file"], sha256=s["sha256"],
                    debian=s["debian"], suites=tuple(s.get("suites", ())), url=s["url"])
        for key, s in data["sources"].items()
    }
    ext_table = _load_toml(RUNTIME_DIR / "extensions.toml")
    pythons = {}
    for minor, p in data["pythons"].items():
        modules = tuple(
            ExtensionModule(name=name, status=m["status"], sources=tuple(m.get("sources", ())),
                            flags=tuple(m.get("flags", ())), links=m.get("links", ""),
                            reason=m.get("reason", ""), provider=m.get("provider", ""))
            for name, m in ext_table.get(minor, {}).items()
        )
        pythons[minor] = PythonRecipe(
            minor=minor, source=sources[p["source"]],
            libraries=tuple(sources[name] for name in p["libraries"]), extensions=modules,
            lto=bool(p.get("lto", False)),
        )
    return Recipe(zig=data["zig"], default_python=data["default_python"], pythons=pythons, sources=sources)


def _hashed_files() -> list[Path]:
    files = []
    for name in HASHED_INPUTS:
        path = PACKAGE_DIR / name
        files += sorted(path.glob("*")) if path.is_dir() else [path]
    return sorted(files)


@cache
def recipe_hash(minor: str, target: Target = targets.DEFAULT) -> str:
    """Short content hash of everything that defines the runtime for `minor` on `target` (HASHED_INPUTS).

    Of amber/targets.py only what the target's entry gives the runtime build counts (Target.build_identity),
    so that adding another target to the table leaves every existing runtime's hash as it was."""
    digest = hashlib.sha256(f"python={minor}\ntarget={target.build_identity}\n".encode())
    for path in _hashed_files():
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def library_hash(source: Source, deps: tuple[str, ...], target: Target = targets.DEFAULT) -> str:
    """Cache key of one built library: its source, its build step, the toolchain, what it links.

    The library's own build function is hashed with everything of `libraries` it reads: the
    module-level data (libffi's generated config, ncurses' terminfo directories) and the functions
    and classes it calls, followed transitively (`_build_inputs`). So editing one library's step, or
    a value only that step reads, rebuilds that library alone, and no edit it depends on is missed.
    """
    from amber.runtime import libraries

    recipe = load_recipe()
    digest = hashlib.sha256()
    for part in (source.sha256, *deps, target.zig_target, recipe.zig):
        digest.update(part.encode() + b"\0")
    # The step, plus the helpers every step runs through (its context, the merge of the prefixes).
    for text in _build_inputs(libraries, libraries.BUILDERS[source.key], libraries.LibContext, libraries._merge_tree):
        digest.update(text.encode() + b"\0")
    digest.update((RUNTIME_DIR / "toolchain.py").read_bytes())
    return digest.hexdigest()[:16]


def _build_inputs(module, *roots) -> list[str]:
    """The source of the functions and classes `roots` and of every global of `module` they reach
    (functions and classes by their source, data by its repr), in a stable order."""
    import inspect
    import types

    seen: dict[str, str] = {}

    def names_of(code: types.CodeType) -> set[str]:
        names = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                names |= names_of(const)
        return names

    def visit(name: str, obj) -> None:
        if name in seen:
            return
        if isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == module.__name__:
            seen[name] = inspect.getsource(obj)
            codes = [obj.__code__] if isinstance(obj, types.FunctionType) else [
                member.__code__ for member in vars(obj).values() if isinstance(member, types.FunctionType)]
            for code in codes:
                for used in sorted(names_of(code)):
                    if used in vars(module):
                        visit(used, vars(module)[used])
        elif isinstance(obj, (str, bytes, int, float, bool, tuple, list, dict, frozenset, set)):
            seen[name] = f"{name} = {obj!r}"

    for root in roots:
        visit(root.__name__, root)
    return [seen[name] for name in sorted(seen)]
