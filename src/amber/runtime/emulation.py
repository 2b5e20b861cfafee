"""Running a runtime built for another CPU on this machine: qemu's user-mode emulator and a root holding
the target's C library, so that the validator can run an aarch64 runtime on an x86_64 build machine.

The root is Debian's libc6 package for the target's architecture (`apt-get download libc6:arm64`, which
needs the architecture added: scripts/bootstrap does `dpkg --add-architecture`), unpacked once into the
cache; `qemu-<cpu>-static -L <root>` finds the target's dynamic loader and libraries there.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from amber import targets
from amber.errors import AmberError
from amber.paths import cache_root
from amber.targets import Target


def runner(target: Target) -> tuple[str, ...]:
    """The command prefix that runs `target`'s programs here: nothing on the target itself."""
    if target == targets.host():
        return ()
    qemu = shutil.which(f"qemu-{target.arch}-static")
    if qemu is None:
        raise AmberError(f"running {target.name} programs here needs qemu-{target.arch}-static: run scripts/bootstrap "
                         "(apt-get install qemu-user-static)")
    return (qemu, "-L", str(sysroot(target)))


def sysroot(target: Target) -> Path:
    """`<cache>/sysroots/<target>`: the target's C library from Debian, unpacked once (atomically)."""
    root = cache_root() / "sysroots" / target.name
    if (root / "lib" / target.loader).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{target.name}-") as scratch:
        download = subprocess.run(["apt-get", "download", "-q", f"libc6:{target.debian_arch}"], cwd=scratch,
                                  capture_output=True, text=True)
        debs = list(Path(scratch).glob("*.deb"))
        if download.returncode != 0 or not debs:
            reason = (download.stderr.strip().splitlines() or ["no package"])[-1]
            raise AmberError(f"cannot fetch the C library of {target.name} (libc6:{target.debian_arch}): {reason}; "
                             "run scripts/bootstrap")
        unpacked = Path(scratch) / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
        if root.exists():
            shutil.rmtree(root)
        unpacked.rename(root)
    return root
