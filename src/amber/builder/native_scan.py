"""The app's native code: libraries it expects from the system, the C library it really needs, its programs.

manylinux wheels may link a few libraries outside glibc without vendoring them
(libstdc++, libgcc_s: the manylinux policy assumes every distribution has
them). An empty container or a minimal server may not, so the builder copies
each such library into the archive (`.amber/lib/`): from the build machine
when the binary is for its own CPU, else from Debian's packages for the
target's architecture (amber/debian_packages.py); at run time the system's
copy is preferred and ours is loaded only when the system has none
(boot/native.py). The newest `GLIBC_x.y` version each ELF
file requires is read from its version-needs table, so the glibc baseline the
builder reports is measured, not guessed from wheel tags. musl versions no
symbols; what an older musl cannot load is read instead (DT_RELR: 1.2.4).
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amber import debian_packages, targets
from amber.boot.elf import ELFError, dynamic_info
from amber.builder.extract_rule import Extraction
from amber.elf import ElfFile, is_elf
from amber.errors import AmberError
from amber.targets import Target

__all__ = ["NativeParts", "SystemLibrary", "bundle_missing", "carries_shared_objects", "file_head", "glibc_needed",
           "is_elf", "is_program", "scan_native"]
# Sonames glibc itself provides (every target has them: they are the baseline), the loaders included.
GLIBC_SONAMES = frozenset({
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libresolv.so.2", "libnsl.so.1", "libanl.so.1", "libcrypt.so.1", "libmvec.so.1", "libBrokenLocale.so.1",
    "libthread_db.so.1", *(target.loader for target in targets.TARGETS.values() if target.libc == "gnu"),
})
# musl is one file, and its loader answers for every name of the C library's parts itself (ldso/dynlink.c
# catches libc.*, libpthread.*, librt.*, libm.*, libdl.*, libutil.*, libxnet.*): musllinux wheels link
# libc.musl-x86_64.so.1, Alpine's name of that file, which a musl system need not hold under that name.
MUSL_SONAME_RE = re.compile(r"^(lib(c|pthread|rt|m|dl|util|xnet)\.|ld-musl-)")
# Why a musl target gets no fallback libraries: the musllinux policy lets wheels link musl alone (they vendor
# libstdc++ and libgcc_s), and Debian builds no library against musl.
NO_MUSL_FALLBACKS = "musllinux wheels vendor every library but musl, and there is no musl build of it to bundle"


def provided_by_libc(soname: str, target: Target) -> bool:
    """Whether `target`'s C library itself answers for `soname` (the baseline every system of it has)."""
    if target.libc == "musl":
        return bool(MUSL_SONAME_RE.match(soname))
    return soname in GLIBC_SONAMES


# Where the build machine's libraries are when its dynamic linker's cache does not list one.
HOST_LIBRARY_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
# Debian's packages of the libraries the manylinux policy lets wheels link without vendoring them, for another
# CPU: libstdc++.so.6, libgcc_s.so.1, libz.so.1 (Pillow's aarch64 wheels link it), libexpat.so.1. The policy's
# X11, GL and GLib libraries are left to the target system (a server app rarely links them; a warning names them).
FALLBACK_PACKAGES = ("libstdc++6", "libgcc-s1", "zlib1g", "libexpat1")


@dataclass(frozen=True)
class SystemLibrary:
    soname: str
    source: Path  # the file it was copied from (this machine's, or a Debian package's for another CPU)
    data: bytes
    glibc: tuple[int, int]  # what it needs


def glibc_needed(data: bytes) -> tuple[int, int] | None:
    """The newest GLIBC_x.y version an ELF object requires (its version-needs table), or None."""
    return ElfFile(data).glibc_needed


def is_program(data: bytes) -> bool:
    """A file the kernel can execute: a `#!` script, or an ELF executable, as opposed to a library."""
    return data[:2] == b"#!" or (is_elf(data) and ElfFile(data).is_program)


def _host_library_index(target: Target) -> dict[str, Path]:
    """soname -> path, from the dynamic linker's cache of this machine (`target` is this machine's)."""
    found: dict[str, Path] = {}
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if match and target.ldconfig_label in match.group(2):
            found.setdefault(match.group(1), Path(match.group(3)))
    for soname, path in debian_packages.library_index(Path("/"), target).items():
        found.setdefault(soname, path)
    for directory in map(Path, HOST_LIBRARY_DIRS):
        if directory.is_dir():
            for path in sorted(directory.glob("*.so*")):
                found.setdefault(path.name, path)
    return found


@dataclass
class LibrarySource:
    """Where the libraries a target may lack are taken from: this machine's own for its own CPU, Debian's
    packages for another; `problem` says why there is none (no apt, no network)."""

    index: dict[str, Path]
    problem: str | None = None


def library_source(target: Target) -> LibrarySource:
    if target.libc == "musl":
        return LibrarySource({}, NO_MUSL_FALLBACKS)
    if target == targets.host():
        return LibrarySource(_host_library_index(target))
    try:
        root = debian_packages.unpacked(target, f"{target.name}-libraries", FALLBACK_PACKAGES,
                                        f"usr/lib/{target.multiarch}/libstdc++.so.6")
    except AmberError as exc:
        return LibrarySource({}, str(exc))
    return LibrarySource(debian_packages.library_index(root, target))


def for_target(data: bytes, target: Target) -> bool:
    """Whether an ELF object is code for `target`'s CPU (a wheel may also carry test files for others)."""
    try:
        return ElfFile(data).machine == target.elf_machine
    except (ELFError, struct.error):
        return False


def bundle_missing(elves: dict[str, bytes], target: Target = targets.DEFAULT,
                   ) -> tuple[list[SystemLibrary], list[str], str | None]:
    """Libraries that the ELF objects `elves` (archive name -> bytes) need from outside the C library and outside
    the archive, taken from `target`'s library source (with what they need in turn); the sonames it does
    not have either; and why the source is empty, if it is."""
    elves = {name: data for name, data in elves.items() if for_target(data, target)}
    provided = set()
    for name, data in elves.items():
        provided.add(name.rsplit("/", 1)[-1])
        try:
            soname = dynamic_info(data)[1]
        except ELFError:
            continue
        if soname:
            provided.add(soname)
    wanted = []
    for data in elves.values():
        try:
            wanted += dynamic_info(data)[0]
        except ELFError:
            continue
    source: LibrarySource | None = None
    bundled: dict[str, SystemLibrary] = {}
    missing: set[str] = set()
    while wanted:
        soname = wanted.pop()
        if soname in provided or provided_by_libc(soname, target) or soname in bundled or soname in missing:
            continue
        if source is None:
            source = library_source(target)
        path = source.index.get(soname)
        if path is None:
            missing.add(soname)
            continue
        data = path.resolve().read_bytes()
        bundled[soname] = SystemLibrary(soname, path, data, glibc_needed(data) or target.libc_floor)
        wanted += dynamic_info(data)[0]
    return [bundled[k] for k in sorted(bundled)], sorted(missing), source.problem if source and missing else None


def file_head(path: Path, size: int = 64) -> bytes:
    """The first bytes of a file: enough to tell an ELF file, a `#!` script, an ELF program."""
    with path.open("rb") as f:
        return f.read(size)


@dataclass
class NativeParts:
    """What the app's native code needs at run time, decided at build time."""

    system_libraries: list[SystemLibrary]
    missing: list[str]  # sonames neither bundled nor in the library source: the target must have them
    missing_why: str | None  # why the library source had nothing (another CPU's, and apt failed)
    extractions: list[Extraction]
    programs: list[str]  # archive members the kernel can execute
    libc: tuple[int, ...] | None  # the newest C library any ELF file requires: GLIBC_x.y, or musl 1.2.4 for DT_RELR
    needed: dict[str, list[str]]  # archive member -> its DT_NEEDED sonames

    def system_sonames_for(self, extraction: Extraction) -> tuple[str, ...]:
        """Bundled system libraries an extracted distribution's native code links directly."""
        bundled = {lib.soname for lib in self.system_libraries}
        return tuple(sorted({soname for _, name, _ in extraction.files for soname in self.needed.get(name, ())
                             if soname in bundled}))


def scan_native(files: dict[str, Path], extractions: list[Extraction], target: Target = targets.DEFAULT,
                ) -> NativeParts:
    """ELF files among the app's files: what they need from the system, the C library they need, programs."""
    elves, programs = {}, []
    for name, path in files.items():
        head = file_head(path)
        if is_elf(head):
            elves[name] = path.read_bytes()
        # Python modules with a #! line are modules here (compiled; the source may not even be kept).
        if (path.stat().st_mode & 0o111 and not name.endswith(".py")
                and (head[:2] == b"#!" or is_program(elves.get(name, b"")))):
            programs.append(name)
    needed, libc = {}, None
    for name, data in elves.items():
        if not for_target(data, target):
            continue  # not a loadable object for the target (a test file for another CPU)
        try:
            needed[name] = dynamic_info(data)[0]
            need = glibc_needed(data) if target.libc == "gnu" else ElfFile(data).musl_needed
        except ELFError:
            continue
        if need and (libc is None or need > libc):
            libc = need
    libraries, missing, why = bundle_missing(elves, target)
    return NativeParts(libraries, missing, why, extractions, sorted(programs), libc, needed)


def carries_shared_objects(app_files: list[tuple[Path, str]]) -> bool:
    """Whether the installed files hold shared objects (C extensions, vendored libraries)."""
    return any(".so" in Path(name).suffixes for _, name in app_files)
