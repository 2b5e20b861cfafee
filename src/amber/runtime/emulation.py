"""Running a runtime built for another CPU on this machine: qemu's user-mode emulator and a root holding
the target's C library, so that the validator can run an aarch64 runtime on an x86_64 build machine.

The root is Debian's libc6 package for the target's architecture (`apt-get download libc6:arm64`, which
needs the architecture added: scripts/bootstrap does `dpkg --add-architecture`), unpacked once into the
cache; `qemu-<cpu>-static -L <root>` finds the target's dynamic loader and libraries there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from amber import debian_packages, targets
from amber.errors import AmberError
from amber.targets import Target


def runner(target: Target) -> tuple[str, ...]:
    """The command prefix that runs `target`'s programs here: nothing on the target itself, nor for this CPU's
    musl target when musl's loader is installed (Debian's `musl` package, scripts/bootstrap); else qemu with
    the target's C library as its root."""
    host = targets.host()
    if target == host or (host is not None and target.arch == host.arch and (Path("/lib") / target.loader).exists()):
        return ()
    qemu = shutil.which(f"qemu-{target.arch}-static")
    if qemu is None:
        raise AmberError(f"running {target.name} programs here needs qemu-{target.arch}-static: run scripts/bootstrap "
                         "(apt-get install qemu-user-static)")
    return (qemu, "-L", str(sysroot(target)))


def sysroot(target: Target, suite: str | None = None) -> Path:
    """`<cache>/sysroots/<target>-<digest>`: the target's C library, unpacked once: Debian's libc6 and what it
    depends on, libgcc-s1 (glibc loads libgcc_s for thread cancellation and unwinding, so every glibc system
    has it; uv's aarch64 program links it too); for musl, Debian's musl package (the loader is libc.so).
    From this machine's release (bookworm: musl 1.2.3, the oldest the runtime supports), or Debian's `suite`
    (trixie: musl 1.2.5, which musllinux wheels linked with RELR relocations need)."""
    packages = ("libc6", "libgcc-s1") if target.libc == "gnu" else ("musl",)
    name = target.name if suite is None else f"{target.name}-{suite}"
    return debian_packages.unpacked(target, name, packages, f"lib/{target.loader}", suite=suite)


# The Debian release whose musl the app tests run under: 1.2.5, as Alpine 3.19 and newer have it (musllinux wheels
# with packed relative relocations need 1.2.4; this machine's own release has 1.2.3).
CURRENT_MUSL_SUITE = "trixie"

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")


def binfmt_rule(target: Target, name: str) -> str:
    """A binfmt_misc rule handing `target`'s ELF executables (64-bit LE, ET_EXEC or ET_DYN, its e_machine) to
    qemu. Flag F opens the emulator when the rule is registered, so it serves inside a chroot that lacks it."""
    qemu = runner(target)[0]
    magic = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00" + target.elf_machine.to_bytes(2, "little")
    mask = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + b"\xfe\xff\xff\xff"
    return f":{name}:M::{_escaped(magic)}:{_escaped(mask)}:{qemu}:F"


def _escaped(data: bytes) -> str:
    return "".join(f"\\x{byte:02x}" for byte in data)


@contextlib.contextmanager
def kernel_runs(target: Target) -> Iterator[None]:
    """While the block lasts, the kernel runs `target`'s programs through qemu (binfmt_misc; needs root): what
    the emulated program starts in turn (multiprocessing's children, a bundled uv, sys.executable) runs too.
    This CPU's programs (a musl target of it included) need no emulator: then nothing is registered."""
    host = targets.host()
    if host is not None and target.arch == host.arch:
        yield
        return
    if not (BINFMT_MISC / "register").exists():
        mounted = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_MISC)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            raise AmberError(f"cannot mount binfmt_misc to run {target.name} programs: {mounted.stderr.strip()}")
    name = f"amber-{target.arch}-{os.getpid()}"
    try:
        (BINFMT_MISC / "register").write_text(binfmt_rule(target, name))
    except OSError as exc:
        raise AmberError(f"cannot register qemu with binfmt_misc for {target.name}: {exc.strerror}") from exc
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            (BINFMT_MISC / name).write_text("-1")
