"""Reading a project: pyproject.toml's [project] and [tool.amber], merged with the command line.

Every way a pyproject.toml can be unusable ends in one AmberError line that
names the file and what is wrong, never a traceback.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from amber import targets
from amber.boot.entry import NATIVE_POLICIES
from amber.builder import pip_installer, resolve
from amber.errors import AmberError
from amber.targets import Target

ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# [tool.amber] keys and the type each must have.
TOOL_OPTIONS: dict[str, type] = {
    "entry": str, "output": str, "python": str, "platform": str, "sources": bool,
    "locked": bool, "requirements": str, "exclude": list,
    "extract": list, "no-extract": list, "compress": int, "trim": bool, "keep": list, "native": str, "target": str,
    "all-bytecode": bool,
}

# How an error names the type a key takes.
TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list of strings",
              "compress": "true, false or a zstd level from 1 to 22"}
# zstd levels `compress` takes; `compress = true` (or a bare --compress) means DEFAULT_ZSTD_LEVEL: on the
# members of a hello app, level 9 is 6% larger than 19 but compresses 14 times faster (0.7 s vs 10 s)
# and decompresses faster too (42 vs 60 ms for all of them).
DEFAULT_ZSTD_LEVEL = 9
ZSTD_LEVELS = range(1, 23)
# List options whose [tool.amber] value and flags add up (the others: a non-empty flag replaces the table).
LIST_OPTIONS = ("exclude", "keep")


@dataclass
class BuildFlags:
    """`amber build`'s command-line flags, as given: None (or an empty list) where a flag was not given,
    so that [tool.amber] decides. Field names are the TOML keys with `_` for `-`."""

    entry: str | None = None
    output: str | None = None
    python: str | None = None
    platform: str | None = None
    sources: bool | None = None
    extract: list[str] = field(default_factory=list)
    no_extract: list[str] = field(default_factory=list)
    locked: bool | None = None
    requirements: str | None = None
    exclude: list[str] = field(default_factory=list)
    compress: bool | int | None = None
    trim: bool | None = None
    keep: list[str] = field(default_factory=list)
    native: str | None = None
    target: str | None = None
    all_bytecode: bool | None = None


@dataclass
class BuildOptions:
    """What `amber build` was asked to do: [tool.amber] values overridden by flags."""

    entry: str | None = None
    output: Path | None = None
    python: str | None = None
    platform: str | None = None  # the wheel platform (None: the target's default_platform)
    sources: bool = True
    locked: bool = False  # refuse to build when the project's lock is stale
    requirements: Path | None = None  # extra pins, installed with the project
    exclude: list[str] = field(default_factory=list)  # names left out of the archive
    extract: list[str] = field(default_factory=list)  # distributions always materialized on disk
    no_extract: list[str] = field(default_factory=list)  # distributions never materialized
    compress: bool | int | None = None  # None: amber's default (archive/packing.py); False: none; N: all at N
    trim: bool = False  # drop the stdlib modules no import reaches
    keep: list[str] = field(default_factory=list)  # stdlib modules the trim keeps all the same
    native: str = "auto"  # the binary's AMBER_NATIVE when its environment does not set one
    target: Target = field(default_factory=targets.default)  # the machine the binary runs on
    # False: the modules no import of the app reaches carry their source only (builder/bytecode.py)
    all_bytecode: bool = False

    def __post_init__(self) -> None:
        self.platform = self.platform or self.target.default_platform

    @property
    def bytecode_for_reached_only(self) -> bool:
        """Whether the modules no import of the app reaches go without their .pyc (builder/bytecode.py): not
        with --no-sources (the .pyc is all there is) or --no-compress (the layout of old), nor with
        --all-bytecode. (With --trim the stdlib's are gone, the app's are left out all the same.)"""
        return not (self.all_bytecode or not self.sources or self.compress is False)


@dataclass
class Project:
    """What `amber build` builds: a project directory, or a requirement from an index (`httpie==3.2.4`).

    A requirement build has no pyproject.toml and no wheel of its own to build: `requirement` is
    installed with its dependencies, `name` is its distribution, and `root` is the current directory
    (where `dist/` goes)."""

    root: Path
    name: str
    version: str | None
    scripts: dict[str, str] = field(default_factory=dict)
    tool: dict = field(default_factory=dict)
    requirement: str | None = None

    @property
    def normalized_name(self) -> str:
        return re.sub(r"[-_.]+", "-", self.name).lower()


def load_target(argument: str, cwd: Path) -> Project:
    """The PROJECT argument of `amber build`: a directory is a project; anything else that does not
    look like a path is read as a requirement, as pip does (a local project needs a path: `./name`)."""
    path = cwd / argument
    if path.is_dir() or "/" in argument or argument.startswith(".") or path.exists():
        return load_project(path.resolve())
    try:
        requirement = Requirement(argument)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "not PEP 508"
        raise AmberError(f"{argument!r} is neither a project directory nor a requirement ({reason})") from None
    return Project(root=cwd, name=requirement.name, version=None, requirement=str(requirement))


def load_project(root: Path) -> Project:
    pyproject = root / "pyproject.toml"
    if not root.is_dir():
        raise AmberError(f"{root} is not a directory")
    if not pyproject.is_file():
        raise AmberError(f"no pyproject.toml in {root}: amber builds projects described by one (PEP 621)")
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise AmberError(f"{pyproject} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AmberError(f"{pyproject} is not valid TOML: {exc}") from exc
    project = data.get("project")
    if not isinstance(project, dict):
        raise AmberError(f"{pyproject} has no [project] table (PEP 621 metadata is required)")
    name = project.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AmberError(f"{pyproject}: [project] has no name")
    version = project.get("version")
    scripts = project.get("scripts", {})
    if not isinstance(scripts, dict) or not all(isinstance(v, str) for v in scripts.values()):
        raise AmberError(f"{pyproject}: [project.scripts] must map script names to 'module:function'")
    for script, target in scripts.items():
        if not ENTRY_RE.match(target.strip()):
            raise AmberError(f"{pyproject}: script {script!r} = {target!r} is not 'module:function'")
    tool = data.get("tool", {}).get("amber", {})
    if not isinstance(tool, dict):
        raise AmberError(f"{pyproject}: [tool.amber] must be a table")
    for key, value in tool.items():
        expected = TOOL_OPTIONS.get(key)
        if expected is None:
            raise AmberError(f"{pyproject}: unknown [tool.amber] option {key!r} (known: {', '.join(TOOL_OPTIONS)})")
        if not isinstance(value, expected):
            raise AmberError(f"{pyproject}: [tool.amber] {key} must be {TYPE_NAMES.get(key) or TYPE_NAMES[expected]}")
        if expected is list and not all(isinstance(item, str) for item in value):
            raise AmberError(f"{pyproject}: [tool.amber] {key} must be a list of strings")
    return Project(root=root, name=name.strip(), version=version if isinstance(version, str) else None,
                   scripts={k: v.strip() for k, v in scripts.items()}, tool=tool)


def merge_options(project: Project, flags: BuildFlags) -> BuildOptions:
    """[tool.amber] values, each overridden by the command line flag when given.

    List options add up (`exclude = [...]` plus each `--exclude`). A requirements
    file named in [tool.amber] is relative to the project, one given as a flag to
    the current directory, as a user would expect of each.
    """
    merged = BuildOptions()
    for key in TOOL_OPTIONS:
        attribute = key.replace("-", "_")
        flag = getattr(flags, attribute)
        if key in LIST_OPTIONS:
            values = [*project.tool.get(key, []), *(flag or [])]
            setattr(merged, attribute, list(dict.fromkeys(values)))
            continue
        from_tool = flag is None or flag == []
        value = project.tool.get(key) if from_tool else flag
        if value is None:
            continue
        if key == "output":
            value = Path(value)
        elif key == "compress":
            value = _zstd_level(value, "--compress" if not from_tool else f"{project.root / 'pyproject.toml'}: "
                                "[tool.amber] compress")
        elif key == "requirements":
            value = (project.root / value) if from_tool else Path(value).absolute()
        elif key == "target":
            value = _target(value, f"{project.root / 'pyproject.toml'}: [tool.amber] target" if from_tool
                            else "--target")
        elif key == "native" and value not in NATIVE_POLICIES:
            where = f"{project.root / 'pyproject.toml'}: [tool.amber] native" if from_tool else "--native"
            raise AmberError(f"{where} must be one of {', '.join(NATIVE_POLICIES)}, not {value!r}")
        setattr(merged, attribute, value)
    # A project's `platform` is the baseline of its builds for its C library's family; building it for the other
    # family (a musl target of a manylinux project) takes that family's default. A flag is checked as given.
    tool_platform = project.tool.get("platform")
    if flags.platform is None and (tool_platform is None or resolve.platform_policy(tool_platform)[0]
                                   != merged.target.wheel_policy):
        merged.platform = merged.target.default_platform
    resolve.parse_platform(merged.platform, merged.target)  # a platform of the other C library: one line, now
    if not merged.trim and set(flags.keep) - {pip_installer.PACKAGE}:
        raise AmberError("--keep names modules for --trim to keep; add --trim (or trim = true in [tool.amber])")
    return merged


def _target(name: str, where: str) -> Target:
    try:
        return targets.get(name)
    except AmberError as exc:
        raise AmberError(f"{where}: {exc}") from None


def _zstd_level(value: bool | int, where: str) -> int | bool:
    if value is True:
        return DEFAULT_ZSTD_LEVEL
    if value is False:
        return False
    if value not in ZSTD_LEVELS:
        raise AmberError(f"{where} must be true, false or a zstd level from 1 to 22, not {value}")
    return value


def choose_entry(project: Project, scripts: dict[str, str], entry: str | None,
                 available: dict[str, str] | None = None) -> str:
    """The script that runs when the binary is started under its own name.

    `entry` may be a script name or an explicit 'module:function'; without it the
    script named like the project wins, else the only script. A requirement build may
    also pick a script of any installed distribution (`available`).
    """
    what = "the requirement's" if project.requirement else "the project's"
    if entry:
        if entry in scripts or entry in (available or {}):
            return entry
        if ENTRY_RE.match(entry):
            return entry
        known = ", ".join(sorted({*scripts, *(available or {})})) or "none"
        raise AmberError(f"unknown entry point {entry!r}: {what} scripts are {known}; "
                         "or give --entry module:function")
    if not scripts:
        if project.requirement:
            raise AmberError(f"{project.name} has no console scripts: give --entry NAME (a script of an installed "
                             f"distribution: {', '.join(sorted(available or {})) or 'there are none'}) "
                             "or --entry module:function")
        raise AmberError(f"{project.name} declares no [project.scripts]: add one, or give --entry module:function")
    for candidate in (project.name, project.normalized_name):
        if candidate in scripts:
            return candidate
    if len(scripts) == 1:
        return next(iter(scripts))
    named = "the distribution" if project.requirement else "the project"
    raise AmberError(f"{project.name} has several scripts ({', '.join(sorted(scripts))}) and none is named "
                     f"like {named}: pick one with --entry NAME")
