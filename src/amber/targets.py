"""The machines amber builds for: one table of what differs per target (issue #15).

A target is named as packaging tools name it (`x86_64-linux-gnu`). Everything that depends on it
(the zig triple and glibc floor the runtime is compiled for, the ELF machine the readers expect,
the dynamic loader's name, the wheel platform tags uv resolves, the extension-module suffix, the
configure/OpenSSL names of the CPU, the Debian architecture whose libraries stand in for the
target's) is read from here, so that another target is one more entry, not a fork of the code.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from amber.errors import AmberError


@dataclass(frozen=True)
class Target:
    name: str  # what users write: x86_64-linux-gnu
    arch: str  # the CPU as uname, wheel tags and CPython's SOABI spell it
    libc: str  # "gnu" (glibc) or "musl"
    libc_floor: tuple[int, ...]  # the oldest C library the runtime runs on: glibc's it is compiled for, musl's tested
    elf_machine: int  # e_machine of its ELF files
    loader: str  # the dynamic loader's soname (PT_INTERP's file name)
    gnu_triple: str  # configure's --host
    openssl: str  # OpenSSL's Configure target
    debian_arch: str  # the Debian architecture of its libraries (libstdc++, libc for tests)
    ldconfig_label: str  # how `ldconfig -p` marks this machine's libraries

    @property
    def zig_target(self) -> str:
        """zig cc's -target: the CPU, the OS and the C library, glibc with its version floor (zig has one
        musl, whose ABI has been stable since 1.2)."""
        if self.libc == "musl":
            return f"{self.arch}-linux-musl"
        return f"{self.arch}-linux-{self.libc}.{self.libc_floor[0]}.{self.libc_floor[1]}"

    @property
    def link_flags(self) -> str:
        """What zig cc needs to link a program that loads shared objects: zig links musl programs statically
        unless told `-dynamic`, and a static musl Python cannot load a C extension."""
        return "-dynamic" if self.libc == "musl" else ""

    @property
    def libc_name(self) -> str:
        """The C library as messages say it: "glibc" or "musl"."""
        return "glibc" if self.libc == "gnu" else self.libc

    @property
    def libc_label(self) -> str:
        """The C library and its floor as messages say it: "glibc 2.17", "musl 1.2.3"."""
        return f"{self.libc_name} {version_text(self.libc_floor)}"

    @property
    def wheel_policy(self) -> str:
        """The wheel platform family built for its C library (PEP 600 / PEP 656): manylinux or musllinux."""
        return "musllinux" if self.libc == "musl" else "manylinux"

    @property
    def default_platform(self) -> str:
        """The wheel platform a build picks when none is given: manylinux_2_28 (glibc 2.28, what most wheels
        need today), musllinux_1_2 (musl 1.2, the only one uv resolves for musl)."""
        return "musllinux_1_2" if self.libc == "musl" else "manylinux_2_28"

    @property
    def multiarch(self) -> str:
        """Debian's multiarch directory name (/usr/lib/<multiarch>), also CPython's SOABI platform part."""
        return f"{self.arch}-linux-{self.libc}"

    @property
    def build_identity(self) -> str:
        """What of this entry shapes a runtime's bytes, for the runtime's hash: the facts the compiler, configure
        and OpenSSL are given. Facts only the app builder reads (wheel tags, Debian names) are left out."""
        return " ".join((self.name, self.zig_target, self.gnu_triple, self.openssl, self.multiarch, self.loader,
                         str(self.elf_machine)))

    def extension_suffix(self, minor: str) -> str:
        """The file name ending CPython gives extension modules: `.cpython-313-x86_64-linux-gnu.so`."""
        return f".cpython-{minor.replace('.', '')}-{self.multiarch}.so"

    def python_platform(self, glibc: tuple[int, int]) -> str:
        """uv's --python-platform for wheels that need at most `glibc` (x86_64-manylinux_2_28); for musl, uv's
        name of the musllinux_1_2 platform (x86_64-unknown-linux-musl)."""
        if self.libc == "musl":
            return f"{self.arch}-unknown-linux-musl"
        return f"{self.arch}-manylinux_{glibc[0]}_{glibc[1]}"

    @property
    def label(self) -> str:
        """How messages name the machines it runs on: "aarch64 Linux", "x86_64 Linux (musl)"."""
        return f"{self.arch} Linux" + (" (musl)" if self.libc == "musl" else "")


def version_text(version: tuple[int, ...]) -> str:
    """(1, 2, 4) -> "1.2.4"."""
    return ".".join(map(str, version))


X86_64_GNU = Target(
    name="x86_64-linux-gnu", arch="x86_64", libc="gnu", libc_floor=(2, 17), elf_machine=62,
    loader="ld-linux-x86-64.so.2", gnu_triple="x86_64-pc-linux-gnu", openssl="linux-x86_64",
    debian_arch="amd64", ldconfig_label="x86-64",
)
AARCH64_GNU = Target(
    name="aarch64-linux-gnu", arch="aarch64", libc="gnu", libc_floor=(2, 17), elf_machine=183,
    loader="ld-linux-aarch64.so.1", gnu_triple="aarch64-unknown-linux-gnu", openssl="linux-aarch64",
    debian_arch="arm64", ldconfig_label="AArch64",
)
# musl: dynamically linked against musl's own loader (present on every musl system: Alpine...), never static,
# so that C extensions from musllinux wheels load. Debian's `musl` package gives the loader for tests.
X86_64_MUSL = Target(
    name="x86_64-linux-musl", arch="x86_64", libc="musl", libc_floor=(1, 2, 3), elf_machine=62,
    loader="ld-musl-x86_64.so.1", gnu_triple="x86_64-pc-linux-musl", openssl="linux-x86_64",
    debian_arch="amd64", ldconfig_label="x86-64",
)
AARCH64_MUSL = Target(
    name="aarch64-linux-musl", arch="aarch64", libc="musl", libc_floor=(1, 2, 3), elf_machine=183,
    loader="ld-musl-aarch64.so.1", gnu_triple="aarch64-unknown-linux-musl", openssl="linux-aarch64",
    debian_arch="arm64", ldconfig_label="AArch64",
)
TARGETS = {target.name: target for target in (X86_64_GNU, AARCH64_GNU, X86_64_MUSL, AARCH64_MUSL)}
DEFAULT = X86_64_GNU


def get(name: str) -> Target:
    """The target called `name`, or a one-line error listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise AmberError(f"unknown target {name!r} (known: {', '.join(TARGETS)})") from None


def host() -> Target | None:
    """The target this machine is, if amber knows it (the build machine's own libraries are that target's)."""
    machine = platform.machine()
    return next((t for t in TARGETS.values() if t.arch == machine and t.libc == "gnu"), None)


def default() -> Target:
    """What amber builds for when no target is named: this machine's own (an aarch64 amber builds aarch64
    binaries), else x86_64 Linux."""
    return host() or DEFAULT
