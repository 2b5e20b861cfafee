"""The code an app runs when it starts, found without running it: LZ4 instead of zstd.

Decompressing is most of what compression costs a warm start (zstd: about 1.5 ms per MB of .pyc on a
2-core VM, LZ4 three times less), and a start reads the same modules every time: the interpreter's own
start-up modules, amber's boot code, what the entry points' modules import when they are executed, and
what the entry functions import when they are called. Those are found statically: from each script's
module, the imports made at module level (in `if`, `try`, `with` and class bodies too, not in functions)
and in the body of its entry function, with the submodules that function uses as attributes
(`np.random.default_rng()`: numpy imports numpy.random when first asked for it), followed through every
module they reach, sources parsed with `ast` (a file the build machine's Python cannot parse is read
line by line: `import x` / `from x import y` at column 0). What never runs on import is not followed:
`if __name__ == "__main__":`, branches for other systems (`sys.platform == "win32"`), and the `except
ImportError:` fallback of a `try` whose imports all exist (the pure-Python `_pydecimal` beside
`_decimal`): on bench's big app, the modules found that its start never imports went from 151 (1.1 MB of
LZ4) to 34 (0.25 MB). The entry's strings configure the start too (startup_members: a settings module,
Django's installed apps). archive/packing.py makes the `.pyc` files of the modules reached LZ4 blocks
and compresses everything else with zstd (or xz: the stdlib's shared objects no import reaches), which an
app reads, if at all, after it started (imports in other functions, plugins, the tests wheels ship,
sources for tracebacks).

What the scan still cannot see (a module imported by a name computed at start from something other than
the entry's strings) stays zstd: such an app pays the slower decompression of those modules, nothing
else.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Iterable

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


def module_level_imports(source: bytes, module: str, is_package: bool,
                         exists: Callable[[str], bool] | None = None) -> set[str]:
    """Absolute names a module's source imports when it is executed (`from a import b`: a and a.b).

    Not followed: what never runs when a module is imported on Linux (`if __name__ == "__main__":`,
    `if sys.platform == "win32":` and the like; their `else` is) and, given
    `exists`, the `except ImportError:` fallback of a `try` whose own imports all exist."""
    package = module if is_package else module.rpartition(".")[0]
    return _imports_of(_parsed(source), source, package, exists)


def _imports_of(tree: ast.Module | None, source: bytes, package: str,
                exists: Callable[[str], bool] | None) -> set[str]:
    """module_level_imports of a source already parsed (None: it does not parse here)."""
    if tree is None:
        return _column_zero_imports(source, package)
    return _imports_run(tree.body, package, exists, set())


def _imports_run(body: list[ast.stmt], package: str, exists: Callable[[str], bool] | None,
                 modules: set[str]) -> set[str]:
    """The names `body` imports; `modules` gets those that must be modules (`import a.b`: a.b; `from a import
    b`: a, as b may be any name a defines)."""
    found: set[str] = set()
    pending = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base is not None:
                if base:
                    found.add(base)
                    modules.add(base)
                found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names
                             if alias.name != "*")
        elif isinstance(node, ast.If) and _never_true_on_import(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar) and exists is not None and _only_import_fallbacks(node):
            needed: set[str] = set()
            found |= _imports_run(node.body, package, exists, needed)
            modules |= needed
            pending.extend([*node.orelse, *node.finalbody])
            if not all(exists(name) for name in needed):
                for handler in node.handlers:
                    pending.extend(handler.body)
        elif isinstance(node, ast.stmt):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
            for handler in getattr(node, "handlers", ()):
                pending.extend(handler.body)
    return found


NOT_LINUX_PLATFORMS = ("win", "cygwin", "msys", "darwin", "emscripten", "wasi", "ios", "android")


def _never_true_on_import(test: ast.expr) -> bool:
    """A condition that is false whenever a module is imported on Linux: `__name__ == "__main__"` (an
    imported module has its own name), `sys.platform == "win32"`, `sys.platform.startswith("win")`,
    `os.name == "nt"`, or an `and` of which one is. (`if TYPE_CHECKING:` is followed all the same: it
    names the module's collaborators, which its functions import when called, as Flask's app names its
    test client; 0.05 MB of LZ4 on bench's apps.)"""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_never_true_on_import(value) for value in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        sides = {_dotted(test.left), _dotted(test.comparators[0])}
        constant = next((side.value for side in (test.left, test.comparators[0])
                         if isinstance(side, ast.Constant) and isinstance(side.value, str)), None)
        return constant is not None and (
            "__name__" in sides and constant == "__main__"
            or "sys.platform" in sides and constant.startswith(NOT_LINUX_PLATFORMS)
            or "os.name" in sides and constant in ("nt", "java"))
    if isinstance(test, ast.Call) and _dotted(test.func) == "sys.platform.startswith" and len(test.args) == 1:
        prefix = test.args[0]
        return (isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) and bool(prefix.value)
                and not "linux".startswith(prefix.value))
    return False


def _dotted(node: ast.expr) -> str:
    """`a.b.c` for a Name or an Attribute chain on one, else ""."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _only_import_fallbacks(node: ast.Try | ast.TryStar) -> bool:
    """Every handler of this `try` catches ImportError (or ModuleNotFoundError) only: what it does runs
    only if an import of its body failed."""
    def names(kind: ast.expr | None) -> list[str]:
        if isinstance(kind, ast.Tuple):
            return [_dotted(element) for element in kind.elts]
        return [_dotted(kind)] if kind is not None else [""]
    return bool(node.handlers) and all(
        name in ("ImportError", "ModuleNotFoundError") for handler in node.handlers for name in names(handler.type))


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


def startup_members(members: Iterable[Member], roots: Iterable[str], entries: Iterable[str] = (),
                    whole: Iterable[str] = ()) -> set[str]:
    """The members holding the code of `roots` and of every module their module-level imports reach. Each
    of `entries` ("module:function", the scripts' entry points) runs at every start too: its function's
    imports (`def main(): from django.core.management import call_command`) are followed as well.

    An entry also configures what starts: the dotted names in its strings (`"mysite.settings"`, and in
    that module's `INSTALLED_APPS = ["django.contrib.auth", ...]`) name modules a framework imports by
    those names, which no import statement shows. Those are followed, their own strings too, and the
    packages among `whole` (the app's own) that they name count as one: all of their compiled modules
    are start-up code, as a framework imports much of itself by names computed at run time (an app's
    models, a backend's base module, a command). Measured on bench's Django app: its start imported 394
    zstd modules (6.3 MB of code) before, 25 (0.46 MB) now; warm starts went from 1.029x of stored code's
    to 1.006x, for 0.9 MB. A package no such string names stays as scanned:
    making every package a start touches whole cost bench's rich CLI 0.6 MB (pygments' 300 lexers) and
    gained nothing."""
    index = ModuleIndex(members)
    called: dict[str, set[str]] = {}
    for entry in entries:
        module, _, function = entry.partition(":")
        called.setdefault(module.strip(), set()).add(function.partition("[")[0].strip().partition(".")[0])
    configuring, named = list(called), set()
    trees: dict[str, ast.Module | None] = {}  # the configuring modules, parsed once for both walks
    while configuring:
        name = configuring.pop()
        if name in trees or name not in index.sources:
            continue
        trees[name] = _parsed(index.sources[name].data)
        found = named_modules(trees[name], called.get(name, set()), index)
        named |= found
        configuring.extend(found)
    seen: set[str] = set()
    pending = [*roots, *called, *named]
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
            tree = trees[name] if name in trees else _parsed(source.data)
            package = name if name in index.packages else name.rpartition(".")[0]
            pending.extend(_imports_of(tree, source.data, package, index.__contains__))
            for function in _functions(tree, called.get(name, set())):
                pending.extend(_imports_run(function.body, package, index.__contains__, set()))
                pending.extend(_attribute_modules(function, _module_names([*tree.body, *function.body], package),
                                                  index.__contains__))
    frameworks = {name.partition(".")[0] for name in named} & set(whole)
    return {index.compiled[name] for name in seen if name in index.compiled} | {
        member for name, member in index.compiled.items()
        if name.partition(".")[0] in frameworks and member.endswith(".pyc")}


def _module_names(body: list[ast.stmt], package: str) -> dict[str, str]:
    """The names `body`'s own import statements bind to modules (`import numpy as np`: np -> numpy; `import
    a.b`: a -> a; `from a import b`: b -> a.b, which may be a module)."""
    names = {}
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.partition(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base:
                names.update((alias.asname or alias.name, f"{base}.{alias.name}") for alias in node.names)
    return names


def _attribute_modules(function: ast.FunctionDef | ast.AsyncFunctionDef, names: dict[str, str],
                       exists: Callable[[str], bool]) -> set[str]:
    """The submodules an entry function reaches as attributes of a module (`np.random.default_rng(7)`:
    numpy.random), which a package may import only then, from its module `__getattr__` (numpy, scipy)."""
    found = set()
    for node in ast.walk(function):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not chain or not isinstance(node, ast.Name) or node.id not in names:
            continue
        module = names[node.id]
        for attribute in reversed(chain):
            module = f"{module}.{attribute}"
            if not exists(module):
                break
            found.add(module)
    return found


DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def named_modules(tree: ast.Module | None, functions: set[str], index: ModuleIndex) -> set[str]:
    """The modules the strings of a module's own code and of its `functions` name in full (`"a.b"`), or
    with an attribute (`"a.b.Class"`: a.b); docstrings and other functions' strings aside."""
    if tree is None:
        return set()
    code = [node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    code += [statement for function in _functions(tree, functions) for statement in function.body]
    found: set[str] = set()
    pending: list[ast.AST] = [node for node in code if not _is_docstring(node)]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            module = node.value if node.value in index else node.value.rpartition(".")[0]
            if module in index:
                found.add(module)
        pending.extend(child for child in ast.iter_child_nodes(node) if not _is_docstring(child))
    return found


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _parsed(source: bytes) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _functions(tree: ast.Module | None, names: set[str]) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The module-level functions of these names."""
    return [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name in names] if tree is not None else []


# The smallest shared object worth writing ahead: the runtime keeps compressed ones from 64 KiB on in the
# extraction cache (boot/native.py's KEEP_ON_DISK_COMPRESSED), and decides again for each listed one.
WARM_MINIMUM = 64 << 10


def startup_objects(members: Iterable[Member], startup: set[str]) -> set[str]:
    """The shared objects among the `startup` members, with the archive libraries they need (transitively,
    found as the runtime's loader finds them: beside the object, along its $ORIGIN run path, in the
    vendored `*.libs` directories): what every start loads from the archive. (A bundled system library
    is loaded from the machine when it has one.)"""
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
    return found


def warm_objects(members: Iterable[Member], objects: set[str]) -> list[str]:
    """The shared objects every start loads (`objects`: startup_objects) that a first run's background
    thread writes into the extraction cache while the app starts (boot/cache.py's warm), largest first.
    Each is a file of its own, so the order is the thread's: the largest takes the main thread longest
    to do itself when it gets there first."""
    size = {m.name: len(m.data) for m in members if m.name in objects}
    return sorted((name for name in objects if size[name] >= WARM_MINIMUM), key=lambda name: (-size[name], name))
