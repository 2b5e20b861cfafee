"""Which modules carry bytecode: those the app's imports reach. The others carry their source only.

A module in the archive twice, as `.pyc` and as `.py`, pays twice, and most of what an app carries is
never imported: the standard library beyond what the app uses, the parts of a large dependency no code
path of the app touches (sympy's physics, numpy's test suites and f2py). So by default amber compiles in
only what a static import graph reaches, and leaves the rest as its source, which zipimport compiles if
something imports it all the same; the binary keeps that code in its cache (boot/cache.py, `compiled`),
so a module imported by a name computed at run time is compiled once per machine, as CPython's own
`__pycache__` would.

The standard library's graph is `--trim`'s (builder/trim.py): what `--trim` would drop loses its `.pyc`.
The app's graph starts from what runs: the scripts' modules, every entry point of every installed
distribution (plugins are found through them), and the modules the app's shared objects name (C code
imports by name). Its edges are a module's import statements (inside functions too), constant names given
to `import_module`, and its dotted string constants that name a module (`"django.contrib.auth"`, or
`"django.template.backends.django.DjangoTemplates"` for the module before the class): a string naming a
package also reaches that package's own modules, which frameworks import by names computed from it
(Django's `<app>.apps` and `<app>.models`, a backend's `base`). The dotted part of a string a name is
built from (`"%s.management.commands.%s"`) reaches every module whose name ends so, and their modules;
a module that imports a name computed at run time reaches its package's modules (Pillow's image plugins).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from amber.archive.writer import Member
from amber.builder.import_scan import COMPUTED_IMPORT
from amber.builder.trim import References


@dataclass
class AppModules:
    """The app's modules by dotted name, from its archive member names."""

    sources: dict[str, str]  # module -> its .py member
    packages: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> AppModules:
        sources, packages = {}, set()
        for name in names:
            if not name.endswith(".py") or name.startswith((".", "bin/")):
                continue
            parts = name[:-3].split("/")
            if not all(part.isidentifier() for part in parts):
                continue  # not importable by that name (a data file, a script with a dash)
            if parts[-1] == "__init__":
                parts.pop()
                if not parts:
                    continue
                packages.add(".".join(parts))
            sources[".".join(parts)] = name
        return cls(sources, frozenset(packages))

    def submodules(self, package: str) -> set[str]:
        prefix = package + "."
        return {name for name in self.sources if name.startswith(prefix) and "." not in name[len(prefix):]}

    @cached_property
    def by_tail(self) -> dict[str, list[str]]:
        """Modules by each dotted tail of their names ("django.core.management.commands": "core.management.
        commands", "management.commands"...)."""
        tails: dict[str, list[str]] = {}
        for name in self.sources:
            parts = name.split(".")
            for start in range(len(parts) - 1):
                tails.setdefault(".".join(parts[start:]), []).append(name)
        return tails

    def named(self, dotted: str) -> str | None:
        """The module a dotted name is, or the longest module it starts with ("pkg.mod.Class" -> "pkg.mod")."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.sources:
                return candidate
        return None


def reached(modules: AppModules, references: dict[str, References], roots: Iterable[str]) -> set[str]:
    """The app modules `roots` reach (`references`: what each module's source references, by .py member)."""
    seen: set[str] = set()
    pending = [found for root in roots if (found := modules.named(root))]
    while pending:
        name = pending.pop()
        if name in seen or name not in modules.sources:  # a namespace package has no code of its own
            continue
        seen.add(name)
        parts = name.split(".")
        pending.extend(".".join(parts[:end]) for end in range(1, len(parts)))  # its packages run first
        refs = references.get(modules.sources[name])
        if refs is None:
            continue
        for imported in refs.imports:
            if imported in modules.sources:
                pending.append(imported)
        if COMPUTED_IMPORT in refs.imports:  # PIL.Image's __import__(f"{__spec__.parent}.{plugin}")
            package = name if name in modules.packages else name.rpartition(".")[0]
            if package:
                pending.extend(modules.submodules(package))
        for string in refs.strings:
            if string.startswith("."):  # the dotted part of a name built at run time: the modules it ends
                targets = modules.by_tail.get(string[1:], [])
            else:
                target = modules.named(string)
                targets = [target] if target else []
                if target != string:  # "pkg.mod.Class": the module, not a package named in full
                    pending.extend(targets)
                    continue
            for target in targets:
                pending.append(target)
                if target in modules.packages:
                    pending.extend(modules.submodules(target))
    return seen


def source_only(members: list[Member], keep: set[str]) -> tuple[list[Member], list[Member]]:
    """`members` without the .pyc of each module not in `keep` (names of .pyc members) whose source is
    there, and those .pyc."""
    names = {m.name for m in members}
    dropped = [m for m in members if m.name.endswith(".pyc") and m.name not in keep and m.name[:-1] in names]
    gone = {m.name for m in dropped}
    return [m for m in members if m.name not in gone], dropped


def record(stdlib: list[Member], app: list[Member]) -> dict | None:
    """What `amber inspect` shows of the modules that carry their source only (`.pyc` members left out)."""
    if not stdlib and not app:
        return None
    return {"stdlib": len(stdlib), "app": len(app), "bytes": sum(len(m.data) for m in [*stdlib, *app])}
