"""Entry points checked at build time: a script whose module or function is not in the build fails
the build with one line, instead of shipping a binary that fails on every start.

The module must be among the files the binary carries (a `.py`, a package's `__init__.py`, or
an extension module). The function is looked up without running any code: a top-level `def`,
`class`, assignment or import binding the name in the module's source. A module whose names
are not all visible that way (`from x import *`, a module `__getattr__`, an extension module)
is given the benefit of the doubt.
"""

from __future__ import annotations

import ast
from pathlib import Path

from amber.errors import AmberError


def _module_file(module: str, files: dict[str, Path]) -> Path | bool | None:
    """The module's source file; True when it exists only as an extension module; None if absent."""
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in files:
            return files[candidate]
    parent, _, leaf = base.rpartition("/")
    prefix = f"{parent}/{leaf}." if parent else f"{leaf}."
    return True if any(n.startswith(prefix) and n.endswith(".so") for n in files) else None


def _binds(tree: ast.Module, name: str) -> bool:
    """True when the module surely or possibly has a top-level `name`."""
    for node in tree.body:
        defines = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if defines and node.name in (name, "__getattr__"):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            return True  # conditional definitions: too dynamic to judge from here
    return False


def check_entry_points(scripts: dict[str, str], files: dict[str, Path]) -> None:
    """Raise AmberError for the first script whose module or function the build does not carry."""
    for script, target in sorted(scripts.items()):
        module, _, attrs = target.partition(":")
        found = _module_file(module, files)
        if found is None:
            raise AmberError(f"entry point {script} = {target}: module {module} is not in the built packages")
        if found is True or not attrs:
            continue
        try:
            tree = ast.parse(found.read_bytes())
        except (SyntaxError, ValueError):
            continue  # reported by the byte-compile step
        first = attrs.split(".")[0]
        if not _binds(tree, first):
            raise AmberError(f"entry point {script} = {target}: {module} defines no {first}")
