"""The project's wheel and its dependencies, installed for the runtime with uv.

uv runs against the amber runtime itself (`--python`), and `--python-platform`
makes markers and tags the target's: its CPU, and the C library baseline of
the wheels it may pick (manylinux_2_28 by default for glibc targets,
musllinux_1_2 for musl targets).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from amber import targets
from amber.errors import AmberError
from amber.targets import Target

MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
PLATFORM_RE = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)$")
# A wheel's platform tag: its policy and C library baseline, then the CPU (manylinux_2_17_aarch64,
# manylinux2014_x86_64, musllinux_1_2_x86_64).
WHEEL_PLATFORM_RE = re.compile(r"^((?:manylinux|musllinux)_\d+_\d+|manylinux1|manylinux2010|manylinux2014)_(\w+)$")
# The only musllinux platform uv resolves (its <arch>-unknown-linux-musl).
MUSL_PLATFORM = (1, 2)


def uv_binary() -> str:
    """uv's executable: the one inside this binary when amber is self-built (the uv wheel's
    script, stored as `bin/uv` and run from memory), else the installed uv package's."""
    bundled = os.path.join(sys.executable, "bin", "uv")
    if os.path.isfile(bundled) and bundled.startswith(sys.executable + "/"):
        return bundled
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise AmberError("uv is not installed: pip install 'uv==0.13.9'") from exc
    try:
        return find_uv_bin()
    except FileNotFoundError as exc:
        raise AmberError(f"uv's executable is missing: {exc}") from exc


def platform_policy(platform: str) -> tuple[str, tuple[int, int]]:
    """('manylinux', (2, 28)) for 'manylinux_2_28', ('musllinux', (1, 2)) for 'musllinux_1_2'; the legacy
    manylinux names too. Anything else is a clear error."""
    match = PLATFORM_RE.match(platform)
    if match:
        return match.group(1), (int(match.group(2)), int(match.group(3)))
    if platform in MANYLINUX_LEGACY:
        return "manylinux", MANYLINUX_LEGACY[platform]
    raise AmberError(f"unsupported --platform {platform!r}: use manylinux_X_Y (e.g. manylinux_2_28 or "
                     "manylinux_2_17) for glibc targets, musllinux_1_2 for musl targets")


def parse_platform(platform: str, target: Target = targets.DEFAULT) -> tuple[int, int]:
    """The C library baseline of wheel platform `platform` ('manylinux_2_28' -> (2, 28)), which must be of
    `target`'s policy: manylinux for glibc, musllinux_1_2 for musl."""
    policy, version = platform_policy(platform)
    if policy != target.wheel_policy:
        raise AmberError(f"--platform {platform} is for {'musl' if policy == 'musllinux' else 'glibc'} systems, and "
                         f"{target.name} uses {target.libc_name}: use {target.default_platform}")
    if policy == "musllinux" and version != MUSL_PLATFORM:
        raise AmberError(f"--platform {platform}: musl targets take musllinux_1_2 wheels (uv resolves no other "
                         f"musllinux platform, and the runtime needs musl {targets.version_text(target.libc_floor)})")
    return version


_scratch: Path | None = None  # TMPDIR for uv during a build (see uv_scratch)


@contextlib.contextmanager
def uv_scratch(directory: Path) -> Iterator[None]:
    """Give uv (and the build backends it runs) `directory` as TMPDIR while a build lasts: what they
    leave there (uv keeps lock files in the temporary directory) goes with the build's own."""
    global _scratch
    directory.mkdir(parents=True, exist_ok=True)
    previous, _scratch = _scratch, directory
    try:
        yield
    finally:
        _scratch = previous


def _run_uv(args: list[str], what: str, cwd: Path | None = None,
            explain: Callable[[str], str | None] | None = None) -> str:
    """Run uv in its own process group, so that an interrupted build can stop uv *and* the
    build backends it started before the temporary directories they write into are removed.
    A failure is one line: `explain(stderr)`'s, when it recognizes the failure, else uv's last lines."""
    env = None if _scratch is None else {**os.environ, "TMPDIR": str(_scratch)}
    proc = subprocess.Popen([uv_binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        _, stderr = proc.communicate()
    except BaseException:
        _stop_group(proc)
        raise
    if proc.returncode != 0:
        explained = explain(stderr) if explain else None
        if explained:
            raise AmberError(explained)
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        reason = " ".join(lines[-6:]) if lines else f"exit code {proc.returncode}"
        raise AmberError(f"{what} failed: {reason}")
    return stderr


def _stop_group(proc: subprocess.Popen) -> None:
    """Ask uv's process group to stop, give it five seconds, then kill whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def build_wheel(project_root: Path, runtime: Path, out_dir: Path) -> Path:
    """Build the project's own wheel (any PEP 517 backend) with the runtime as interpreter.

    The wheel is built from an sdist unpacked in a temporary directory, not from
    the source tree: a backend building in place reuses what an earlier build left
    there (setuptools ships a module deleted since from its stale `build/lib`), so
    the binary would depend on the tree's history instead of its contents.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # Without --sdist/--wheel, uv builds the sdist, then the wheel from the unpacked sdist.
    _run_uv(["build", "--quiet", "--out-dir", str(out_dir), "--python", str(runtime), str(project_root)],
            f"building the wheel of {project_root} (from its sdist)")
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise AmberError(f"building {project_root} produced {len(wheels)} wheels, expected one")
    return wheels[0]


def install_requirements(requirements: list[str], runtime: Path, site: Path, platform: str,
                         target: Target = targets.DEFAULT, cwd: Path | None = None) -> str:
    """Install `requirements` (uv pip install arguments: wheel paths, specifiers, `-r FILE`) and their
    dependencies into `site`, as wheels for `target`'s machine (uv's --python-platform: markers and tags
    are the target's, whatever machine `runtime`, the interpreter uv asks, runs on); relative paths inside
    requirements files are taken from `cwd`."""
    major, minor = parse_platform(platform, target)
    for_target = "" if target == targets.host() else f" for {target.name}"
    return _run_uv(["pip", "install", "--quiet", "--target", str(site), "--python", str(runtime),
                    "--python-platform", target.python_platform((major, minor)),
                    "--link-mode", "copy", *requirements], f"resolving and installing the dependencies{for_target}",
                   cwd=cwd, explain=lambda stderr: foreign_wheel_failure(stderr, target))


# uv's words when the wheel it built from an sdist, or a wheel given by path, is not for the target, and when a
# distribution has no wheel for the target's platform at all (only manylinux wheels, for a musl target).
BUILT_FOR_HOST_RE = re.compile(r"Failed to (?:download and )?build `(?P<requirement>[^`]+)`.*?The built wheel "
                               r"`(?P<wheel>[^`]+)` is not compatible")
FOREIGN_PATH_RE = re.compile(r"A path \((?P<path>[^)]+)\) dependency is incompatible with the current platform")
SDIST_BUILD_FAILED_RE = re.compile(r"Failed to (?:download and )?build `(?P<requirement>[^`]+)`")
NO_MATCHING_WHEEL_RE = re.compile(r"Because (?P<requirement>\S+) has no wheels with a matching platform tag "
                                  r"\(e\.g\., `(?P<tag>[^`]+)`\)")
AVAILABLE_RE = re.compile(r"Wheels are available for `(?P<name>[^`]+)` \([^)]*\) on the following platforms: "
                          r"(?P<tags>(?:`[^`]+`(?:, )?)+)")


def foreign_wheel_failure(stderr: str, target: Target) -> str | None:
    """One line naming the distribution, when uv failed because no wheel fits `target`: one it built here
    from C sources (so for this machine), one whose sources did not build here (for another target), one given
    by path, or none on the index for its platform."""
    stderr = " ".join(stderr.split())  # uv wraps long lines to its terminal's width
    built = BUILT_FOR_HOST_RE.search(stderr)
    if built:
        return (f"{_requirement_name(built.group('requirement'))}: no wheel for {target.name} exists, and building "
                f"it from source here gave {built.group('wheel')} (code for this machine); pin a version that ships "
                f"{target.arch} {target.wheel_policy} wheels")
    path = FOREIGN_PATH_RE.search(stderr)
    if path:
        return (f"{Path(path.group('path')).name}: the wheel is not for {target.name}; use a {target.wheel_policy} "
                f"wheel for {target.arch}")
    failed = SDIST_BUILD_FAILED_RE.search(stderr)
    if failed and target != targets.host():  # no wheel for the target, so uv tried the sdist, here, and failed
        return (f"{_requirement_name(failed.group('requirement'))}: no wheel for {target.name} exists, and building it "
                f"from source here failed; pin a version that ships {target.wheel_policy} wheels for {target.arch}")
    missing = NO_MATCHING_WHEEL_RE.search(stderr)
    if missing:
        name = _requirement_name(missing.group("requirement"))
        available = AVAILABLE_RE.search(stderr)
        linux = [tag.strip("`") for tag in available.group("tags").split(", ") if "linux" in tag] if available else []
        only = f" (its Linux wheels: {', '.join(linux)})" if linux else ""
        others = [t.name for t in targets.TARGETS.values()
                  if t.arch == target.arch and t != target and any(tag.startswith(t.wheel_policy) for tag in linux)]
        instead = f"build for {others[0]}, or " if others else ""
        return (f"{name}: no wheel for {target.name} ({missing.group('tag')}) exists{only}; {instead}pin a version "
                f"that ships {target.wheel_policy} wheels for {target.arch}")
    return None


def _requirement_name(requirement: str) -> str:
    """The distribution name of a requirement as uv prints it (`cext @ file:///...`, `onnxruntime>=1.22.0`)."""
    return re.split(r"[\s@=<>~!;\[]", requirement, maxsplit=1)[0]


@dataclass(frozen=True)
class WheelPlatform:
    """One platform a wheel is tagged for: musllinux_1_2_x86_64 -> (musllinux, (1, 2), x86_64)."""

    policy: str  # manylinux or musllinux
    libc: tuple[int, int]  # the glibc or musl version it needs
    arch: str


@dataclass(frozen=True)
class InstalledDist:
    name: str
    version: str
    tags: tuple[str, ...]
    dist_info: str  # directory name inside site-packages

    @property
    def platforms(self) -> list[WheelPlatform]:
        """Each manylinux or musllinux platform the wheel is tagged for, in tag order."""
        found = []
        for tag in self.tags:
            for part in tag.rsplit("-", 1)[-1].split("."):
                match = WHEEL_PLATFORM_RE.match(part)
                if match:
                    policy, version = platform_policy(match.group(1))
                    found.append(WheelPlatform(policy, version, match.group(2)))
        return found

    def libc_floor(self, policy: str) -> tuple[int, int] | None:
        """The C library version this distribution's wheel needs, from its `policy` tags (manylinux: glibc,
        musllinux: musl): a wheel tagged for several baselines needs the oldest."""
        return min((p.libc for p in self.platforms if p.policy == policy), default=None)

    @property
    def glibc(self) -> tuple[int, int] | None:
        """The glibc this distribution's wheel needs (None: not a manylinux wheel)."""
        return self.libc_floor("manylinux")

    @property
    def arches(self) -> set[str]:
        """The CPUs its platform tags name (empty for a pure wheel, or one built here for this machine only)."""
        return {p.arch for p in self.platforms}

    @property
    def policies(self) -> set[str]:
        """manylinux, musllinux, or both: the C libraries its platform tags are for."""
        return {p.policy for p in self.platforms}

    @property
    def is_pure(self) -> bool:
        return all(tag.endswith("-any") for tag in self.tags)


def installed_dists(site: Path) -> list[InstalledDist]:
    found = []
    for info in sorted(site.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(errors="replace") if (info / "METADATA").is_file() else ""
        name = re.search(r"^Name: (.+)$", meta, re.MULTILINE)
        version = re.search(r"^Version: (.+)$", meta, re.MULTILINE)
        wheel = (info / "WHEEL").read_text(errors="replace") if (info / "WHEEL").is_file() else ""
        tags = tuple(re.findall(r"^Tag: (.+)$", wheel, re.MULTILINE))
        found.append(InstalledDist(name.group(1).strip() if name else info.name,
                                   version.group(1).strip() if version else "?", tags, info.name))
    return found


def check_portable(dists: list[InstalledDist], target: Target = targets.DEFAULT) -> None:
    """A wheel built here from a C sdist is tied to this machine, and a wheel for another CPU or another C
    library cannot load on `target`: refuse either by name."""
    local = [d for d in dists if not d.is_pure and not d.platforms]
    if local:  # (for another CPU, uv itself refuses what it built here: foreign_wheel_failure)
        names = ", ".join(f"{d.name} {d.version}" for d in local)
        raise AmberError(f"{names}: no {target.wheel_policy} wheel for {target.name} exists, and building from source "
                         "needs a C compiler and gives a binary tied to this machine; pin a version that ships wheels")
    foreign = [d for d in dists if d.arches and target.arch not in d.arches]
    if foreign:
        names = ", ".join(f"{d.name} {d.version} ({'/'.join(sorted(d.arches))})" for d in foreign)
        raise AmberError(f"{names}: the wheel is for another CPU than {target.name}'s; pin a version that ships "
                         f"{target.arch} wheels")
    other_libc = [d for d in dists if d.policies and target.wheel_policy not in d.policies]
    if other_libc:
        names = ", ".join(f"{d.name} {d.version} ({'/'.join(sorted(d.policies))})" for d in other_libc)
        raise AmberError(f"{names}: the wheel is not for {target.libc_name} systems ({target.name}); pin a version "
                         f"that ships {target.wheel_policy} wheels")
