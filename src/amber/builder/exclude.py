"""`--exclude NAME`: leave an installed distribution, a package or a module out of the archive.

The archive carries the whole standard library (minus what the runtime recipe
drops) and everything the resolver installed, because amber cannot know what
an app imports at run time. A user who does know can drop what is never used:
stdlib packages such as `unittest`, `pydoc_data`, `ensurepip`, or a dependency
pulled in by an extra. NAME is a distribution name (its files and .dist-info go),
or a dotted module or package name, looked up in site-packages and the stdlib.

Three things keep this from producing a broken binary silently: a name that
matches nothing is an error (a typo would otherwise be ignored), the modules
the binary's own start-up code needs cannot be excluded, and an exclusion
imported by the project's own modules is reported as a warning (found by
parsing them, so imports made dynamically are not seen).
"""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from amber.archive.writer import Member
from amber.boot import BOOT_MODULES
from amber.builder import resolve
from amber.errors import AmberError

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$|^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Exclusion:
    """What --exclude removed: the names that matched, and the modules they stand for."""

    names: list[str]
    matched: set[str] = field(default_factory=set)
    modules: dict[str, set[str]] = field(default_factory=dict)  # requested name -> module names it removed

    def module_of(self, imported: str) -> str | None:
        """The requested name whose removal takes `imported` away, if any."""
        for name, modules in self.modules.items():
            for module in modules:
                if imported == module or imported.startswith(module + "."):
                    return name
        return None


def member_matches(member: str, module: str) -> bool:
    """Whether archive member `member` belongs to the dotted `module` (package dir, .py/.pyc, extension)."""
    path = module.replace(".", "/")
    if member.startswith(path + "/") or member in (f"{path}.py", f"{path}.pyc"):
        return True
    rest = member[len(path):]
    return member.startswith(path + ".") and "/" not in rest and member.endswith(".so")


def _record_paths(site: Path, dist_info: str) -> list[str]:
    record = site / dist_info / "RECORD"
    if not record.is_file():
        return []
    paths = [line.split(",", 1)[0] for line in record.read_text().splitlines() if line]
    return [p for p in paths if p and ".." not in Path(p).parts]


def _top_level_modules(paths: list[str]) -> set[str]:
    modules = set()
    for path in paths:
        first = path.split("/", 1)[0]
        if first.endswith((".dist-info", ".data")) or first in ("bin", "__pycache__"):
            continue
        modules.add(first.split(".", 1)[0] if "/" not in path else first)
    return modules


def _remove_empty_dirs(site: Path) -> None:
    for path in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(path.iterdir()):
            path.rmdir()


def check_names(names: list[str], protected: set[str]) -> None:
    for name in names:
        if not NAME_RE.match(name):
            raise AmberError(f"--exclude {name!r} is not a distribution, package or module name")
        needed = sorted(m for m in protected if m == name or m.startswith(name + "."))
        if needed:
            raise AmberError(f"cannot exclude {name}: the binary's start-up code needs {', '.join(needed[:3])}")


def prune_site(site: Path, names: list[str], project_name: str, runtime: Path) -> Exclusion:
    """Delete the excluded distributions and modules from the installed tree (RECORDs are fixed afterwards)."""
    exclusion = Exclusion(names)
    if not names:
        return exclusion
    check_names(names, startup_modules(runtime, list(BOOT_MODULES.values())))
    dists = {canonicalize_name(d.name): d for d in resolve.installed_dists(site)}
    own = canonicalize_name(project_name)
    for name in names:
        dist = dists.get(canonicalize_name(name))
        if dist is not None and "." not in name:
            if canonicalize_name(name) == own:
                raise AmberError(f"cannot exclude {name}: it is the project being built")
            paths = _record_paths(site, dist.dist_info)
            exclusion.modules[name] = _top_level_modules(paths)
            for rel in paths:
                (site / rel).unlink(missing_ok=True)
            shutil.rmtree(site / dist.dist_info, ignore_errors=True)
            exclusion.matched.add(name)
            continue
        found = [p for p in site.rglob("*") if p.is_file() and member_matches(p.relative_to(site).as_posix(), name)]
        for path in found:
            path.unlink()
        if found:
            exclusion.matched.add(name)
            exclusion.modules[name] = {name}
    _remove_empty_dirs(site)
    return exclusion


def prune_members(members: list[Member], exclusion: Exclusion) -> list[Member]:
    """The standard library members that no excluded module name covers.

    The last step of an exclusion: a name that matched nothing, in site-packages
    or here, is an error.
    """
    kept = []
    for member in members:
        hit = next((n for n in exclusion.names if "-" not in n and member_matches(member.name, n)), None)
        if hit is None:
            kept.append(member)
        else:
            exclusion.matched.add(hit)
            exclusion.modules.setdefault(hit, set()).add(hit)
    check_all_matched(exclusion)
    return kept


def check_all_matched(exclusion: Exclusion) -> None:
    missing = [n for n in exclusion.names if n not in exclusion.matched]
    if missing:
        raise AmberError(f"--exclude {', '.join(missing)}: no installed distribution, package or module of that "
                         "name is in the binary")


def imports_of(source: bytes) -> set[str]:
    """Absolute module names a module imports (`from a import b` counts as `a` and `a.b`)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def warn_own_imports(site: Path, own_dist_info: str | None, exclusion: Exclusion, log) -> None:
    """Warn about each excluded name that the project's own modules import."""
    if not exclusion.modules or own_dist_info is None:
        return
    users: dict[str, list[str]] = {}
    for rel in sorted(_record_paths(site, own_dist_info)):
        if not rel.endswith(".py") or not (site / rel).is_file():
            continue
        for imported in sorted(imports_of((site / rel).read_bytes())):
            name = exclusion.module_of(imported)
            if name is not None and rel not in users.setdefault(name, []):
                users[name].append(rel)
    for name, files in sorted(users.items()):
        if files:
            log(f"amber: warning: --exclude {name}: imported by {', '.join(files[:3])}"
                + (f" and {len(files) - 3} more" if len(files) > 3 else "") + "; that import will fail at run time")


def startup_modules(runtime: Path, boot_files: list[Path]) -> set[str]:
    """Every module the binary's start-up code can import: the boot modules' imports and what those load."""
    return interpreter_modules(runtime, boot_files).with_boot


@dataclass(frozen=True)
class InterpreterModules:
    bare: frozenset[str]  # what the interpreter itself imports while it starts
    with_boot: frozenset[str]  # that, plus the boot modules' imports and what those load
    builtins: frozenset[str]  # sys.builtin_module_names


def interpreter_modules(runtime: Path, boot_files: list[Path]) -> InterpreterModules:
    """The modules the runtime loads at start, with and without what the boot code may import, and its
    built-in modules. Asking the runtime itself is exact and costs one interpreter start, once per build
    (a --trim build and the default packing's start-up set both ask): the answer is kept for the same
    runtime file and boot files."""
    st = runtime.stat()
    return _ask_runtime(runtime, st.st_size, st.st_mtime_ns, tuple(boot_files))


@functools.lru_cache(maxsize=4)
def _ask_runtime(runtime: Path, _size: int, _mtime_ns: int, boot_files: tuple[Path, ...]) -> InterpreterModules:
    wanted = set()
    for path in boot_files:
        wanted |= {name for name in imports_of(path.read_bytes()) if not name.startswith("__amber_")}
    # `from a import b` also yields "a.b", which may be an attribute rather than a module.
    code = ("import sys\n"
            "print(' '.join(sorted(sys.modules)))\n"
            "import importlib\n"
            f"for name in {sorted(wanted)!r}:\n"
            "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
            "print(' '.join(sorted(sys.modules)))\n"
            "print(' '.join(sys.builtin_module_names))\n")
    proc = subprocess.run([str(runtime), "-I", "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AmberError(f"cannot list the start-up modules of {runtime}: {proc.stderr.strip()[-200:]}")
    bare, with_boot, builtins = (frozenset(line.split()) for line in proc.stdout.splitlines())
    return InterpreterModules(bare, with_boot, builtins)
