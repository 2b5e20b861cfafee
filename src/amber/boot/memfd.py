"""Memory files (runs inside the binary): anonymous, sealed-if-asked descriptors holding bytes.

The native loader copies shared objects into them (dlopen()ed as /proc/self/fd/N) and the program
runner executes them (the files C code opens get theirs from the runtime's C file layer). The kernel copies
stored members in (sendfile): their bytes never pass through Python.
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


def send_span(source, target, offset, size):
    """Copy `size` bytes at `offset` of descriptor `source` to `target` in the kernel (sendfile: they
    never pass through Python), then rewind `target`."""
    end = offset + size
    while offset < end:
        sent = posix.sendfile(target, source, offset, end - offset)
        if sent == 0:
            raise OSError(f"the archive ends inside a member (at byte {offset})")
        offset += sent
    posix.lseek(target, 0, 0)
