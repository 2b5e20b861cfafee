"""Memory files (runs inside the binary): anonymous, sealed-if-asked descriptors holding bytes, and the
executable copies of archive members the native loader dlopen()s and the program runner executes.

The native loader copies shared objects into them (dlopen()ed as /proc/self/fd/N) and the program
runner executes them (the files C code opens get theirs from the runtime's C file layer). The C file layer
writes members in (ArchiveFS.copy_into: a stored one by sendfile, a compressed one decompressed there):
their bytes never pass through Python.
"""

import posix

MFD_CLOEXEC, MFD_ALLOW_SEALING = 1, 2


def memory_file(label, data, flags=MFD_CLOEXEC):
    """A memfd holding `data`, positioned at its start; -1 when the kernel gives none
    (older than 3.17, or a seccomp filter refuses memfd_create). The runtime's os.memfd_create
    makes the system call itself (runtime patch 0004: glibc 2.17 has no wrapper)."""
    try:
        fd = posix.memfd_create(label.encode("utf-8", "surrogateescape")[:240], flags)
    except OSError:
        return -1
    write_all(fd, data)
    return fd


def write_all(fd, data):
    """Write `data` to `fd` whole, then rewind it."""
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += posix.write(fd, view[written:])
    posix.lseek(fd, 0, 0)


# Executable memory files (the native loader's shared objects, the program runner's programs).
F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8
MFD_EXEC = 0x10  # Linux 6.3+: asks for an executable memfd where vm.memfd_noexec=1 makes them noexec
_UNKNOWN = object()
_exec_flags = _UNKNOWN


def memfd_exec_flags():
    """memfd_create flags for code we will execute, or None when the kernel forbids it (vm.memfd_noexec=2)."""
    global _exec_flags
    if _exec_flags is _UNKNOWN:
        try:
            with open("/proc/sys/vm/memfd_noexec", "rb") as f:
                policy = int(f.read().strip() or 0)
        except (OSError, ValueError):
            policy = 0  # a kernel older than 6.3: every memfd is executable and MFD_EXEC is unknown
        _exec_flags = None if policy >= 2 else MFD_CLOEXEC | MFD_ALLOW_SEALING | (MFD_EXEC if policy == 1 else 0)
    return _exec_flags


def memory_copy(fs, name):
    """A memfd holding archive member `name`, executable as /proc/self/fd/N and not yet sealed; -1 where memory
    files cannot be executed. The runtime's C file layer writes it (a stored member by the kernel), so its
    bytes never pass through Python: no second copy, no peak in RSS."""
    import os

    flags = memfd_exec_flags()
    if flags is None or not os.path.isdir("/proc/self/fd"):
        return -1
    fd = memory_file("amber:" + name, b"", flags)
    if fd >= 0:
        try:
            fs.copy_into(name, fd)
        except BaseException:
            posix.close(fd)
            raise
    return fd


def seal(fd):
    """Make memory file `fd` immutable (a kernel without sealing leaves it as it is)."""
    import fcntl

    try:  # noqa: SIM105 (contextlib is no import for this module's start-up)
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
    except OSError:
        pass


def sealed_copy(fs, name):
    """memory_copy, sealed: for a program (the runner executes it as it is)."""
    fd = memory_copy(fs, name)
    if fd >= 0:
        seal(fd)
    return fd
