"""Empty root file systems for portability tests: glibc's files and nothing else.

No Python, no shell, no /usr/lib/python3: whatever runs in there brings all it
needs in its own file. Built from the host's own glibc (the oldest glibc we can
get here is the host's; the GLIBC_2.17 symbol check covers older ones).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from amber import targets
from amber.runtime import emulation
from amber.targets import Target

GLIBC_FILES = (
    "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
    "librt.so.1", "libutil.so.1", "libresolv.so.2", "libanl.so.1", "libnsl.so.1", "libmvec.so.1",
    "libnss_files.so.2", "libnss_dns.so.2", "libBrokenLocale.so.1", "libthread_db.so.1",
)
LIBDIR = Path("/lib/x86_64-linux-gnu")


def glibc_files() -> list[str]:
    """The shared objects of the host's glibc package (Debian's libc6), else a fixed list."""
    try:
        listing = subprocess.run(["dpkg", "-L", "libc6"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return list(GLIBC_FILES)
    names = [Path(line).name for line in listing.splitlines()
             if Path(line).parent in (LIBDIR, Path("/usr") / LIBDIR.relative_to("/")) and ".so" in Path(line).name]
    return sorted(set(names)) or list(GLIBC_FILES)


class Chroot:
    """An empty root: this machine's glibc files only, or for another CPU (`target`) Debian's C library of
    that architecture, whose programs the kernel hands to qemu (emulation.kernel_runs, registered by the
    caller) — qemu is opened when it is registered, so the root holds no emulator and no other file."""

    def __init__(self, root: Path, target: Target | None = None, suite: str | None = None) -> None:
        """`suite`: the Debian release whose C library the root holds, for another target (None: this machine's)."""
        self.root = root
        self.mounts: list[Path] = []
        root.mkdir(parents=True)
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        if target is not None and target != targets.host():
            shutil.copytree(emulation.sysroot(target, suite), root, symlinks=True, dirs_exist_ok=True)
            return
        (root / "lib64").mkdir()
        libdir = root / LIBDIR.relative_to("/")
        libdir.mkdir(parents=True)
        for name in glibc_files():
            src = (LIBDIR / name).resolve()
            shutil.copy2(src, libdir / name)
        os.symlink(f"/{LIBDIR.relative_to('/')}/ld-linux-x86-64.so.2", root / "lib64" / "ld-linux-x86-64.so.2")

    def add(self, source: Path, inside: str, mode: int | None = None) -> Path:
        """Copy a file into the chroot at absolute path `inside`."""
        target = self.root / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        if mode is not None:
            target.chmod(mode)
        return target

    def add_runtime(self, runtime: Path, prefix: str, name: str = "python3") -> str:
        """The bare runtime installed under `prefix` as in the store: `bin/<name>` and its
        `lib/pythonX.Y/lib-dynload/` (the stdlib extension modules built as shared objects).
        Returns the executable's path inside the chroot."""
        store_root = runtime.resolve().parent.parent
        executable = f"{prefix.rstrip('/')}/bin/{name}"
        self.add(runtime, executable, mode=0o755)
        lib = store_root / "lib"
        shutil.copytree(lib, self.root / prefix.strip("/") / "lib", dirs_exist_ok=True)
        return executable

    def write(self, inside: str, text: str) -> Path:
        target = self.root / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def mount_tmpfs(self, inside: str, options: str = "noexec,mode=1777,size=64m") -> None:
        """A tmpfs at `inside` (by default /tmp as the suites want it: noexec, so nothing can run from it)."""
        target = self.root / inside.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], check=True)
        self.mounts.append(target)

    def mount_proc(self) -> None:
        proc = self.root / "proc"
        proc.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
        self.mounts.append(proc)

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: int = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, env=env if env is not None else {"PATH": "/bin"}, preexec_fn=self.enter,
            capture_output=True, text=True, timeout=timeout, input=input,
        )

    def enter(self) -> None:
        """chroot into the root (for subprocess preexec_fn)."""
        os.chroot(self.root)
        os.chdir("/")

    def cleanup(self) -> None:
        for mount in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False)
        self.mounts.clear()


@contextlib.contextmanager
def empty_root(root: Path, target: Target | None = None, suite: str | None = None) -> Iterator[Chroot]:
    """A Chroot at `root` (for `target`, its C library from Debian's `suite`) with /proc and a noexec tmpfs /tmp,
    unmounted afterwards."""
    chroot = Chroot(root, target, suite)
    try:
        chroot.mount_tmpfs("/tmp")
        chroot.mount_proc()
        yield chroot
    finally:
        chroot.cleanup()
