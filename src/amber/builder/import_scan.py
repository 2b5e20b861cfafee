"""What a Python source can import, found by parsing it: the edges of `--trim`'s import graph.

Run by the *target* runtime (its source given with -c, like compile_worker.py), because
only the Python a module is written for can parse it: the stdlib of 3.13 uses syntax
that the Python running amber may not know (PEP 701 f-strings). Standard library only.

Input on stdin: JSON {"exists": [module names the runtime has], "files": [[key, path,
package], ...]}; output on stdout: JSON {key: [imports, strings]}.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable

IMPORT_FUNCTIONS = {"import_module", "__import__", "find_spec", "resolve_name"}
COMPUTED_IMPORT = "*"  # among a source's imports: it imports a name computed at run time (no module is named so)
DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
FRAGMENT_RE = re.compile(r"(?<!\w)[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?![\w(])")
PLACEHOLDER_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|\{[^}]*\}")


def names_in_source(source: bytes, package: str = "",
                    exists: Callable[[str], bool] | None = None) -> tuple[set[str], set[str]]:
    """Module names a Python source can import: its import statements (relative ones resolved against
    `package`), constant names given to import_module/__import__/find_spec (COMPUTED_IMPORT for a name
    computed at run time); and apart, its dotted string constants, and as ".a.b" the dotted parts of its
    other strings (a name built from parts at run time). Docstrings are left out. Returns (imports,
    strings); a source that does not parse has none.

    With `exists`, the imports of an `except ImportError` handler are left out when every import of
    its `try` body exists (`try: from _sha2 import sha512 / except ImportError: from hashlib import ...`
    never runs the fallback in a runtime that has _sha2)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):  # what CPython cannot parse, it cannot import
        return set(), set()
    collector = _ImportCollector(package, exists)
    script_only = _script_only_functions(tree)
    try:
        for stmt in tree.body:
            if not any(stmt is f for f in script_only):
                collector.visit(stmt)
    except RecursionError:
        # Nested deeper than the visitor's recursion goes (sympy's resolvent_lookup.py: sums of thousands of
        # terms): every import anywhere, walked without recursion, a superset of what the visit finds.
        collector = _ImportCollector(package, None)
        for node in ast.walk(tree):
            collector.note(node)
    return {n for n in collector.found if n}, collector.strings


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _script_only_functions(tree: ast.Module) -> list[ast.stmt]:
    """Top-level functions that run only when the module is a script: called from the `__main__` block,
    directly or through one another, and named nowhere else in the module (random's `main()` ->
    `_parse_args()`, which imports argparse; pickle's `_test()`, which imports doctest). Their imports
    are no edges."""
    guards = [stmt for stmt in tree.body if _is_main_guard(stmt)]
    if not guards:
        return []
    functions = {stmt.name: stmt for stmt in tree.body if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)}
    uses = {name: _names_used(stmt) for name, stmt in functions.items()}
    from_guards = _names_used(*guards) & functions.keys()
    todo = list(from_guards)
    while todo:  # what the __main__ block reaches through calls
        for used in uses[todo.pop()] & functions.keys():
            if used not in from_guards:
                from_guards.add(used)
                todo.append(used)
    others = [stmt for stmt in tree.body if stmt not in guards and not (
        isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name in from_guards)]
    live = _names_used(*others) & from_guards  # named by module code, classes or other functions
    todo = list(live)
    while todo:
        for used in uses[todo.pop()] & from_guards:
            if used not in live:
                live.add(used)
                todo.append(used)
    return [functions[name] for name in sorted(from_guards - live)]


def _names_used(*nodes: ast.AST) -> set[str]:
    """Names and string constants (`__all__`, `getattr(module, "name")`) under the nodes."""
    found = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                found.add(sub.id)
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                found.add(sub.value)
    return found


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, package: str, exists: Callable[[str], bool] | None):
        self.package = package
        self.exists = exists
        self.found: set[str] = set()
        self.strings: set[str] = set()

    def _targets(self, node: ast.Import | ast.ImportFrom) -> list[str]:
        """The modules an import statement needs to succeed."""
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = _absolute(node.module, node.level, self.package)
        return [base] if base else []

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(self._targets(node))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(node.module, node.level, self.package)
        if base is None:
            return
        self.found.add(base)
        self.found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*")

    def visit_Call(self, node: ast.Call) -> None:
        self._note_call(node)
        self.generic_visit(node)

    def _note_call(self, node: ast.Call) -> None:
        if node.args and _called_name(node.func) in IMPORT_FUNCTIONS:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.found.add(first.value)
            else:  # a name computed at run time: most often a sibling (a plugin, a backend)
                self.found.add(COMPUTED_IMPORT)

    def note(self, node: ast.AST) -> None:
        """What one node itself names, without visiting its children."""
        if isinstance(node, ast.Import):
            self.visit_Import(node)
        elif isinstance(node, ast.ImportFrom):
            self.visit_ImportFrom(node)
        elif isinstance(node, ast.Call):
            self._note_call(node)
        elif isinstance(node, ast.Constant):
            self.visit_Constant(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        text = node.value
        if not (isinstance(text, str) and "." in text and len(text) < 200):
            return
        if DOTTED_RE.match(text):
            self.strings.add(text)
            return
        # The dotted part of a name built at run time ("%s.management.commands.%s", f"{app}.apps.{x}"),
        # kept as ".management.commands": the tail of the modules a framework imports that way.
        for fragment in FRAGMENT_RE.findall(PLACEHOLDER_RE.sub(" ", text)):
            self.strings.add(f".{fragment}")

    def visit_Expr(self, node: ast.Expr) -> None:
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)  # a string alone as a statement (a docstring) is prose, not a name

    def visit_Try(self, node: ast.Try) -> None:
        for stmt in node.body:
            self.visit(stmt)
        imports = [target for stmt in node.body if isinstance(stmt, ast.Import | ast.ImportFrom)
                   for target in self._targets(stmt)]
        dead_fallback = self.exists is not None and bool(imports) and all(self.exists(t) for t in imports)
        for handler in node.handlers:
            if not (dead_fallback and _catches_import_error(handler)):
                self.visit(handler)
        for stmt in [*node.orelse, *node.finalbody]:
            self.visit(stmt)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        """The body of `if __name__ == "__main__":` runs only when the module is a script (`-m`): its imports
        are no edges (heapq's doctest, for one); an else branch is."""
        if _is_main_guard(node):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = {_called_name(kind) for kind in kinds if kind is not None}
    return bool(names) and names <= {"ImportError", "ModuleNotFoundError"}


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def main() -> None:
    request = json.load(sys.stdin)
    exists = set(request["exists"]).__contains__
    found = {}
    for key, path, package in request["files"]:
        with open(path, "rb") as f:
            imports, strings = names_in_source(f.read(), package, exists)
        found[key] = [sorted(imports), sorted(strings)]
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
