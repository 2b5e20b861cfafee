"""platform.libc_ver() under musl (runs inside the binary; becomes `__amber_libc__`).

CPython asks confstr(CS_GNU_LIBC_VERSION) first, which only glibc answers; under musl it then reads
the whole executable looking for a libc name, which for an amber binary (tens of MB with its archive)
costs about 0.1 s, and finds ("libc", ""), the runtime's DT_NEEDED. So for the binary itself it
answers ("musl", <version>) instead, the version read from musl's loader, the file this process runs
under (its PT_INTERP; musl keeps its version as a string: `ldd` prints it). Other files are CPython's.
"""

import sys

_VERSION_RE = rb"\x00(1\.\d+\.\d+)\x00"  # musl's version string among the loader's constants


def musl_version(loader):
    """The version of musl whose loader is `loader` ("1.2.3"), or "" when it cannot be read."""
    import re

    try:
        with open(loader, "rb") as f:
            found = re.search(_VERSION_RE, f.read())
    except OSError:
        return ""
    return found.group(1).decode() if found else ""


def install(platform, loader):
    """Answer platform.libc_ver() for this binary (no executable, or sys.executable) with musl's version."""
    real = platform.libc_ver

    def libc_ver(executable=None, lib="", version="", chunksize=16384):
        if executable is not None and executable != sys.executable:
            return real(executable, lib, version, chunksize)
        return "musl", musl_version(loader) or version

    libc_ver.__wrapped__, libc_ver.__doc__ = real, real.__doc__
    platform.libc_ver = libc_ver
