"""Another architecture's files from Debian's binary packages, for the machines amber builds for but does
not run on: `apt-get download <package>:<arch>` (the architecture added with `dpkg --add-architecture`, as
scripts/bootstrap does), unpacked with `dpkg-deb -x` once into `<cache>/sysroots/<name>`.

Two roots come from here: the target's C library, under which qemu runs that target's programs (the
runtime validator, the tests), and the libraries manylinux wheels expect from every system without
vendoring them (libstdc++, libgcc_s, libz, libexpat), which `amber build` bundles: copying them from an
x86_64 build machine into an aarch64 binary would give it code its CPU cannot run. `library_index` reads
Debian's multiarch layout, of such a root or of this machine's own `/`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from amber.errors import AmberError
from amber.paths import cache_root
from amber.runtime import apt
from amber.targets import Target


def unpacked(target: Target, name: str, packages: tuple[str, ...], marker: str, suite: str | None = None) -> Path:
    """`<cache>/sysroots/<name>-<packages' digest>`: `packages` of `target`'s Debian architecture unpacked into
    one root, once (another list of packages, or another suite, is another root). They come from this
    machine's own release, or from Debian's `suite` (trixie) through a private apt state.

    `marker` is a path inside the root that only a complete unpacking has; the root is assembled under a
    temporary name and renamed into place, so it is either whole or absent."""
    digest = hashlib.sha256(" ".join([*packages, *([f"suite={suite}"] if suite else [])]).encode()).hexdigest()[:8]
    root = cache_root() / "sysroots" / f"{name}-{digest}"
    if (root / marker).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    wanted = [f"{package}:{target.debian_arch}" for package in packages]
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}-") as scratch:
        debs = _download(target, wanted, suite, Path(scratch))
        staged = Path(scratch) / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staged)], check=True)
        if not (staged / "lib").exists() and (staged / "usr" / "lib").is_dir():
            (staged / "lib").symlink_to("usr/lib")  # merged /usr (Debian 13 on): packages ship /usr/lib only
        if not (staged / marker).exists():
            raise AmberError(f"{', '.join(wanted)} for {target.name} hold no {marker}")
        if root.exists():
            shutil.rmtree(root)
        staged.rename(root)
    return root


def _download(target: Target, wanted: list[str], suite: str | None, scratch: Path) -> list[Path]:
    """The .deb files of `wanted` (name:arch), from this machine's release or Debian's `suite`."""
    if suite is not None:
        try:
            return apt.download_debs(wanted, suite, scratch / "apt")
        except AmberError as exc:
            raise AmberError(f"cannot fetch {', '.join(wanted)} from Debian {suite} for {target.name}: {exc}") from None
    try:
        download = subprocess.run(["apt-get", "download", "-q", *wanted], cwd=scratch, capture_output=True, text=True)
    except OSError:
        raise AmberError(f"{target.name} needs {', '.join(wanted)} from Debian's packages, and this machine has no "
                         "apt-get") from None
    debs = sorted(scratch.glob("*.deb"))
    if download.returncode != 0 or len(debs) != len(wanted):
        reason = (download.stderr.strip().splitlines() or ["no package"])[-1]
        raise AmberError(f"cannot fetch {', '.join(wanted)} for {target.name}: {reason}; run scripts/bootstrap "
                         f"(dpkg --add-architecture {target.debian_arch})")
    return debs


def library_index(root: Path, target: Target) -> dict[str, Path]:
    """soname -> file of the shared libraries in `root`'s library directories for `target` (Debian's
    multiarch layout: lib/<multiarch>, usr/lib/<multiarch>)."""
    found: dict[str, Path] = {}
    for directory in (root / "lib" / target.multiarch, root / "usr" / "lib" / target.multiarch):
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if ".so" in path.name and path.is_file():
                    found.setdefault(path.name, path)
    return found
