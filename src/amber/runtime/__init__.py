"""The runtime: a static CPython built from pinned sources with zig, plus its stdlib archive.

recipe     -- what goes in (versions, sha256, extension module table)
sources    -- where tarballs come from (source cache, Debian source packages, upstream URL)
toolchain  -- zig cc wrappers for glibc 2.17
libraries  -- build steps of the C libraries linked into the interpreter
cpython    -- configure/make of CPython itself (Setup.local, patches, C main)
stdlib     -- the trimmed standard library archive appended to the interpreter
validate   -- the portability checks every build must pass
store      -- the cache of finished runtimes (~/.cache/amber/runtimes)
build      -- the orchestration of all of the above
"""
