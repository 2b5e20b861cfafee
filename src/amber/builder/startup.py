"""The code an app runs when it starts, found without running it: LZ4 instead of zstd.

Decompressing is most of what compression costs a warm start (zstd: about 1.5 ms per MB of .pyc on
a 2-core VM, LZ4 three times less), and a start reads the same modules every time: the
interpreter's own start-up modules, amber's boot code, and what the entry points import when their
modules are executed. Those are found statically: from each script's module, the imports made at
module level (in `if`, `try`, `with` and class bodies too, not in functions), followed through every
module they reach, sources parsed with `ast` (a file the build machine's Python cannot parse is
read line by line: `import x` / `from x import y` at column 0). archive/packing.py makes the `.pyc`
files of the modules reached LZ4 blocks and compresses everything else with zstd, which an app
reads, if at all, after it started (imports in functions, plugins, the tests wheels ship, sources
for tracebacks).

What the scan cannot see (an `importlib.import_module(name)` at start, Django's settings)
stays zstd: such an app pays the slower decompression of those modules, nothing else.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterable

from amber.archive.writer import Member
from amber.elf import ElfFile, is_elf

COLUMN_ZERO_IMPORT = re.compile(
    rb"^(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+\(?([\w., \t]+)|import[ \t]+([\w., \t]+))", re.M)
EXTENSION_SUFFIX = re.compile(r"(\.cpython-[^/]*|\.abi3)?\.so$")


class ModuleIndex:
    """Module names -> the archive members that hold them (top-level names: site-packages and stdlib alike)."""

    def __init__(self, members: Iterable[Member]) -> None:
        self.compiled: dict[str, str] = {}  # module -> its .pyc (or extension module) member
        self.sources: dict[str, Member] = {}
        self.packages: set[str] = set()
        for member in members:
            name = member.name
            if name.startswith(".") or "/." in name:
                continue
            module, kind = _module_of(name)
            if module is None:
                continue
            if kind == "source":
                self.sources[module] = member
            elif kind == "compiled" or module not in self.compiled:
                self.compiled[module] = name
            if name.endswith(("/__init__.py", "/__init__.pyc")):
                self.packages.add(module)

    def __contains__(self, module: str) -> bool:
        return module in self.compiled or module in self.sources


def _module_of(name: str) -> tuple[str | None, str]:
    """(dotted module name, "compiled" | "source" | "extension") of an archive member, or (None, "")."""
    path = name
    if path.endswith(".pyc"):
        kind, path = "compiled", path[:-4]
    elif path.endswith(".py"):
        kind, path = "source", path[:-3]
    elif EXTENSION_SUFFIX.search(path):
        kind, path = "extension", EXTENSION_SUFFIX.sub("", path)
    else:
        return None, ""
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    if not all(part.isidentifier() for part in path.split("/")):
        return None, ""
    return path.replace("/", "."), kind


def module_level_imports(source: bytes, module: str, is_package: bool) -> set[str]:
    """Absolute names a module's source imports when it is executed (`from a import b`: a and a.b)."""
    package = module if is_package else module.rpartition(".")[0]
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _column_zero_imports(source, package)
    found: set[str] = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base is not None:
                if base:
                    found.add(base)
                found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names
                             if alias.name != "*")
        elif isinstance(node, ast.stmt):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
            for handler in getattr(node, "handlers", ()):
                pending.extend(handler.body)
    return found


def _absolute(name: str, level: int, package: str) -> str | None:
    if not level:
        return name
    parts = package.split(".") if package else []
    if level > len(parts):  # beyond the top-level package: an ImportError at run time
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}".strip(".") if name else base


def _column_zero_imports(source: bytes, package: str) -> set[str]:
    found: set[str] = set()
    for match in COLUMN_ZERO_IMPORT.finditer(source):
        if match.group(3):
            found.update(part.split()[0] for part in match.group(3).decode(errors="replace").split(",") if part.split())
            continue
        dots = len(match.group(1)) - len(match.group(1).lstrip(b"."))
        base = _absolute(match.group(1).decode(errors="replace").lstrip("."), dots, package)
        if base is None:
            continue
        if base:
            found.add(base)
        names = [part.split()[0] for part in match.group(2).decode(errors="replace").split(",") if part.split()]
        found.update(f"{base}.{name}" if base else name for name in names)
    return found


def startup_members(members: Iterable[Member], roots: Iterable[str]) -> set[str]:
    """The members holding the code of `roots` and of every module their module-level imports reach."""
    index = ModuleIndex(members)
    seen: set[str] = set()
    pending = [name for name in roots]
    while pending:
        name = pending.pop()
        if name in seen or name not in index:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        if parent:
            pending.append(parent)
        source = index.sources.get(name)
        if source is not None:
            pending.extend(module_level_imports(source.data, name, name in index.packages))
    return {index.compiled[name] for name in seen if name in index.compiled}


# The smallest shared object worth writing ahead: the runtime keeps compressed ones from 64 KiB on in the
# extraction cache (boot/native.py's KEEP_ON_DISK_COMPRESSED), and decides again for each listed one.
WARM_MINIMUM = 64 << 10


def warm_objects(members: Iterable[Member], startup: set[str]) -> list[str]:
    """The shared objects among the `startup` members, with the archive libraries they need (transitively,
    found as the runtime's loader finds them: beside the object, along its $ORIGIN run path, in the
    vendored `*.libs` directories), largest first: what a first run's background thread writes into the
    extraction cache while the app starts (boot/cache.py's warm). Each is a file of its own, so the order
    is the thread's: the largest takes the main thread longest to do itself when it gets there first."""
    by_name = {m.name: m for m in members}
    vendored = sorted({name.rsplit("/", 1)[0] for name in by_name if "/" in name
                       and name.rsplit("/", 1)[0].rsplit("/", 1)[-1].endswith(".libs")})
    found: set[str] = set()
    pending = [name for name in startup if name in by_name and is_elf(by_name[name].data)]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        elf = ElfFile(by_name[name].data)
        origin = name.rpartition("/")[0]
        dirs = [origin]
        for entry in (elf.runpath or "").split(":"):
            if entry.startswith("$ORIGIN"):
                dirs.append(posixpath.normpath(posixpath.join(origin, entry[len("$ORIGIN"):].lstrip("/"))))
        for needed in elf.needed:
            paths = (f"{d}/{needed}" if d not in ("", ".") else needed for d in [*dirs, *vendored])
            located = next((path for path in paths if path in by_name), None)  # the first, as the loader
            if located is not None:
                pending.append(located)
    return sorted((name for name in found if len(by_name[name].data) >= WARM_MINIMUM),
                  key=lambda name: (-len(by_name[name].data), name))
