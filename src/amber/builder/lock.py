"""Locked inputs: the project's uv.lock or PEP 751 pylock.toml, extra pins, and the record of what was installed.

A build is only as reproducible as the versions it installs. When the project
carries a lock, the pins come from it: `uv.lock` is exported by uv itself
(`uv export`, with hashes, so every download is checked) and installed together
with the project's wheel in one resolution; a `pylock.toml` is installed first
(uv cannot mix one with other requirements) and the wheel then completes that
environment. `--locked` turns a lock that no longer matches pyproject.toml into
an error instead of a warning. Without a lock uv resolves freely.

Whatever happened, the installed versions are recorded in the binary as
`.amber/requirements.lock` (a requirements file: `amber build --requirements`
takes it back) and the inputs in `.amber/build.json`, so `amber inspect` can
tell what a binary was built from. Only file names and hashes are recorded, no
paths, so the record is the same wherever the build ran.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from amber.archive.writer import Member
from amber.binary_info import REQUIREMENTS_NAME
from amber.builder import resolve
from amber.builder.project import BuildOptions, Project
from amber.errors import AmberError

UV_LOCK = "uv.lock"
PYLOCK = "pylock.toml"
STALE_MARK = "needs to be updated"  # uv's words for a lock that no longer matches pyproject.toml


@dataclass
class Inputs:
    """Where the installed versions came from, as recorded in build.json."""

    lock: str | None = None  # UV_LOCK or PYLOCK, the file's name in the project
    lock_sha256: str | None = None
    locked: bool = False  # --locked: the lock was checked and had to match
    stale: bool = False  # the lock did not match pyproject.toml (and --locked was not given)
    requirement: str | None = None  # what a requirement build installed ('httpie==3.2.4'), else None
    requirements: str | None = None  # the --requirements file's name (not its path)
    requirements_sha256: str | None = None
    # canonical name -> the versions the lock lists for it ("" for a path or URL entry without one)
    pins: dict[str, set[str]] = field(default_factory=dict)

    def as_json(self) -> dict:
        data = {key: value for key, value in self.__dict__.items() if key != "pins"}
        data["resolved"] = "lock" if self.lock else "resolver"
        return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_lock(root: Path) -> Path | None:
    """The project's lock: uv.lock first (uv can check it against pyproject.toml), else pylock.toml."""
    for name in (UV_LOCK, PYLOCK):
        if (root / name).is_file():
            return root / name
    return None


def lock_pins(path: Path) -> dict[str, set[str]]:
    """name -> versions of every package a lock lists: uv.lock's [[package]] or PEP 751's [[packages]].

    Read from the lock itself rather than from an export, which names path and
    URL dependencies by location only. Markers are uv's business at install time:
    a name may be listed at several versions, one per environment.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AmberError(f"{path} is not a valid {path.name}: {exc}") from exc
    if path.name == UV_LOCK:
        packages = data.get("package")
        if not isinstance(data.get("version"), int) or not isinstance(packages, list):
            raise AmberError(f"{path} is not a uv lock file (no version or [[package]])")
    else:
        packages = data.get("packages")
        if not isinstance(data.get("lock-version"), str) or not isinstance(packages, list):
            raise AmberError(f"{path} is not a PEP 751 lock file (no lock-version or [[packages]])")
    pins: dict[str, set[str]] = {}
    for package in packages:
        if isinstance(package, dict) and isinstance(package.get("name"), str):
            pins.setdefault(canonicalize_name(package["name"]), set()).add(str(package.get("version", "")))
    return pins


def _export_uv_lock(project: Project, runtime: Path, out: Path, locked: bool, log) -> bool:
    """`uv export` the lock's pins for the runtime to `out`; True when the lock is stale.

    The export is tried with `--locked` first, which makes uv check the lock
    against pyproject.toml (a resolution, a fraction of a second); a stale lock
    is an error under --locked and a warning otherwise, then exported as it is.
    """
    common = ["export", "--quiet", "--format", "requirements.txt", "--no-default-groups", "--no-emit-project",
              "--no-editable", "--no-header", "--no-annotate", "--python", str(runtime), "--no-python-downloads",
              "--project", str(project.root), "--output-file", str(out)]
    try:
        resolve._run_uv([*common, "--locked"], f"checking {UV_LOCK}")
        return False
    except AmberError as exc:
        if STALE_MARK not in str(exc):
            raise
    if locked:
        raise AmberError(f"{project.root / UV_LOCK} is out of date with pyproject.toml: run `uv lock`, "
                         "or build without --locked")
    log(f"amber: warning: {UV_LOCK} is out of date with pyproject.toml; building from its pins anyway "
        "(run `uv lock`; --locked makes this an error)")
    resolve._run_uv([*common, "--frozen"], f"exporting {UV_LOCK}")
    return True


def install_app(project: Project, options: BuildOptions, wheel: Path | None, runtime: Path, site: Path, tmp: Path,
                log=print) -> Inputs:
    """Install what the binary carries into `site`: the project's wheel (or, for a requirement build, the
    requirement) and their dependencies, pinned by the project's lock when there is one."""
    inputs = Inputs(locked=options.locked)
    extra: list[str] = []
    if options.requirements is not None:
        if not options.requirements.is_file():
            raise AmberError(f"--requirements {options.requirements}: no such file")
        inputs.requirements = options.requirements.name
        inputs.requirements_sha256 = _sha256(options.requirements)
        extra = ["-r", str(options.requirements)]
    if project.requirement is not None:  # no project directory, so no lock of its own: --requirements pins
        if options.locked:
            raise AmberError(f"--locked needs a project's {UV_LOCK} or {PYLOCK}; to pin a requirement build, "
                             "give --requirements FILE (a binary's .amber/requirements.lock, say)")
        inputs.requirement = project.requirement
        resolve.install_requirements([*extra, project.requirement], runtime, site, options.platform,
                                     target=options.target)
        return inputs
    lock = find_lock(project.root)
    if lock is None and options.locked:
        raise AmberError(f"--locked needs a {UV_LOCK} or {PYLOCK} in {project.root}")
    if lock is not None:
        inputs.lock, inputs.lock_sha256 = lock.name, _sha256(lock)
        inputs.pins = lock_pins(lock)
    if lock is None:
        resolve.install_requirements([*extra, str(wheel)], runtime, site, options.platform,
                                     target=options.target)
    elif lock.name == UV_LOCK:
        exported = tmp / "uv-lock-requirements.txt"
        inputs.stale = _export_uv_lock(project, runtime, exported, options.locked, log)
        # The export names path dependencies relative to the project.
        resolve.install_requirements(["-r", str(exported), *extra, str(wheel)], runtime, site, options.platform,
                                     target=options.target, cwd=project.root)
    else:
        resolve.install_requirements(["-r", str(lock)], runtime, site, options.platform,
                                     target=options.target)
        resolve.install_requirements([*extra, str(wheel)], runtime, site, options.platform,
                                     target=options.target)
    return inputs


def check_installed(inputs: Inputs, project: Project, dists: list[resolve.InstalledDist], log=print) -> None:
    """With a lock, every installed distribution but the project must be the lock's, at the lock's version.

    Anything else was added by the resolver because the lock does not satisfy
    the project's requirements (or the --requirements file's): a stale lock.
    """
    if inputs.lock is None:
        return
    own = canonicalize_name(project.name)
    drift = []
    for dist in dists:
        name = canonicalize_name(dist.name)
        locked = inputs.pins.get(name, set())
        if name == own or dist.version in locked or "" in locked:
            continue
        has = ", ".join(sorted(locked))
        drift.append(f"{dist.name} {dist.version}" + (f" ({inputs.lock} has {has})" if has else ""))
    if not drift:
        return
    what = f"{inputs.lock} does not satisfy the project's requirements; the resolver added {', '.join(drift)}"
    if inputs.locked:
        raise AmberError(f"{what}: regenerate the lock, or build without --locked")
    if not inputs.stale:  # a stale uv.lock was already reported
        log(f"amber: warning: {what}")
    inputs.stale = True


def requirements_member(inputs: Inputs, project: Project, dists: list[resolve.InstalledDist],
                        python_version: str, options: BuildOptions) -> Member:
    """`.amber/requirements.lock`: the installed versions as a requirements file, the project itself left out."""
    own = canonicalize_name(project.name)
    source = inputs.lock or "the resolver"
    lines = [f"# Installed by amber build for CPython {python_version} on {options.target.name}, {options.platform}, "
             f"pins from {source}.",
             "# Rebuild with the same versions: amber build --requirements <this file>"]
    lines += sorted(f"{canonicalize_name(d.name)}=={d.version}" for d in dists if canonicalize_name(d.name) != own)
    return Member(REQUIREMENTS_NAME, ("\n".join(lines) + "\n").encode())
