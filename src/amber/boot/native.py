"""C extension modules and their vendored libraries, loaded from the archive through memory (memfd).

An extension's bytes go into an anonymous, sealed memory file and are
dlopen()ed as /proc/self/fd/N; only an object of KEEP_ON_DISK bytes or more,
whose copy would cost too much at every start, is written once into the
extraction cache and mapped from there (AMBER_NATIVE=memory: never). Before that, the libraries
it needs (DT_NEEDED) that the archive carries — auditwheel's `<dist>.libs/`,
siblings, RUNPATH `$ORIGIN/...` directories — are loaded the same way, in
dependency order, so the dynamic linker finds them already loaded under their
DT_SONAME. A library the wheel expects from the system (libstdc++, libgcc_s)
is taken from the system when it has one, else from the copy the builder put
under `.amber/lib/`. The module keeps its archive path as `__file__`.

musl's dynamic linker finds an object's DT_NEEDED only by file name, among
the objects it loaded by searching its path, never by the DT_SONAME of one
loaded from /proc/self/fd/N. So under musl each name of a library loaded from
the archive is rewritten, in the object's memory copy before it is sealed, to
a /proc/self/fd/N path of that library (its memory file, or a descriptor open
on its cache file), which musl opens and recognizes as loaded (same device and
inode). An object whose names cannot be rewritten (one shorter than its path,
or no memory files) is loaded with everything it needs from one
extraction-cache entry in the archive's layout, where musl's search finds them.

Each memory file stays open for the life of the process (close-on-exec): the
dynamic linker knows a loaded object by the path it was opened with, and a
closed descriptor's number, reused, would make /proc/self/fd/N name an object
that is already loaded.

Where memory cannot serve (no /proc, no memfd, or a kernel that forbids
executing memfds), the file is materialized once in the extraction cache
(`__amber_cache__`) and loaded from there.

Importing this module must stay cheap: every app whose archive carries shared
objects (the stdlib's _ssl, unicodedata... are shared) installs its finder at
start, and a hello world never loads one. So only modules the interpreter has
already loaded are imported here; what loading needs (os, fcntl, mmap, struct,
the ELF reader) comes with the first load.
"""

import _imp
import posix
import sys
from _frozen_importlib import ModuleSpec  # importlib.machinery's, without importing importlib

from __amber_hooks__ import after_import
from __amber_memfd__ import memory_copy, seal
from __amber_vfs__ import SYSTEM_LIBRARY_DIR

# dlopen's words when the kernel or a security module refuses to map a file executable.
REFUSED_MAPPING = ("failed to map segment", "Operation not permitted", "Permission denied")
# The runtime's C library: sys.implementation._multiarch is the target's (x86_64-linux-musl).
MUSL = getattr(sys.implementation, "_multiarch", "").endswith("-musl")
KEEP_ON_DISK = 1 << 20  # bytes: from here on a copy per start costs more (~0.45 ms) than the cache's checks
# The same for a compressed member, whose copy is a decompression (~1.5 ms per MB, against ~0.1 ms of checks)
KEEP_ON_DISK_COMPRESSED = 64 << 10


def _dlopen(path, mode):
    """dlopen() through the built-in _ctypes, without the ctypes package: that imports sysconfig and
    threading, several milliseconds of a start-up that loads one C extension. OSError on failure."""
    import _ctypes

    return _ctypes.dlopen(path, mode)


class _Cycle(Exception):
    """Raised when loading the libraries `members` (in dependency order) comes back to the first."""

    def __init__(self, members):
        super().__init__(members)
        self.members = tuple(members)


class NativeCode:
    """Loads shared objects from one archive."""

    def __init__(self, fs, policy="auto"):
        self.fs = fs
        self.policy = policy  # AMBER_NATIVE, read once at start
        self._handles = {}  # archive name or soname -> dlopen() handle, never closed: nothing is unloaded
        self._paths = {}  # archive name -> the path it was (or will be) loaded from
        self._needs = {}  # archive name -> {DT_NEEDED name: archive name} of the libraries it needs from the archive
        self._descriptors = {}  # cache file -> /proc/self/fd/N of a descriptor kept open on it (musl's names)
        self._library_dirs = None

    def _vendored_dirs(self):
        if self._library_dirs is None:
            self._library_dirs = sorted(d for d in self.fs.dirs if d.rsplit("/", 1)[-1].endswith(".libs"))
        return self._library_dirs

    def _locate(self, needed, origin_dir, runpath):
        """The archive name of library `needed` as this object would find it, or None (a system library)."""
        import os

        dirs = [origin_dir]
        for entry in (runpath or "").split(":"):
            if entry.startswith("$ORIGIN"):
                dirs.append(os.path.normpath(os.path.join(origin_dir, entry[len("$ORIGIN"):].lstrip("/"))))
        dirs += self._vendored_dirs()
        for directory in dirs:
            name = f"{directory}/{needed}" if directory not in ("", ".") else needed
            if self.fs.exists(name) and name not in self.fs.dirs:
                return name
        return None

    def _require(self, name, chain):
        """Load the vendored library `name` (after its own dependencies), RTLD_LOCAL."""
        if name in self._handles:
            return
        if name in chain:  # a dependency cycle: handled by the open() of its first member
            raise _Cycle(chain[chain.index(name):])
        self._handles[name] = self.open(name, lambda path: _dlopen(path, posix.RTLD_LOCAL), chain)

    def find_bundled(self, name):
        """The archive path of library `name` (as ctypes.util.find_library takes it: "z" for libz.so.1)
        among the vendored and bundled system libraries, or None. auditwheel renames libfoo.so.1 to
        libfoo-<hash>.so.1, which counts too."""
        import re

        pattern = re.compile(rf"lib{re.escape(name)}(-[0-9a-f]{{8}})?\.so(\.[0-9.]+)?$")
        for directory in (*self._vendored_dirs(), SYSTEM_LIBRARY_DIR):
            if directory not in self.fs.dirs:
                continue
            for leaf in sorted(self.fs.listdir(directory)):
                if pattern.match(leaf):
                    return f"{self.fs.prefix}{directory}/{leaf}"
        return None

    def require_system(self, soname):
        """Make `soname` loaded: the system's copy if it has one, else the one bundled in the archive."""
        if soname in self._handles:
            return
        try:
            self._handles[soname] = _dlopen(soname, posix.RTLD_LOCAL)
        except OSError:
            bundled = f"{SYSTEM_LIBRARY_DIR}/{soname}"
            if not self.fs.exists(bundled):
                raise
            self._require(bundled, ())
            self._handles[soname] = self._handles[bundled]

    def open(self, name, opener, chain=()):
        """opener(path) for archive member `name`, its dependencies loaded first: a large object from
        the extraction cache, else from a memory file, else (or when the kernel refuses to map it)
        from the extraction cache."""
        if name not in self._paths:
            try:
                self._paths[name] = self._place(name, (*chain, name))
            except _Cycle as cycle:
                if cycle.members[0] != name:
                    raise
                self._load_cycle(cycle.members, chain)
        path = self._paths[name]
        if path is not None and not path.startswith("/proc/"):
            return opener(path)  # already extracted
        try:
            if path is None:
                raise OSError(f"cannot load {self.fs.prefix}{name} from memory")
            return opener(path)
        except (OSError, ImportError) as exc:
            if path is not None and not any(words in str(exc) for words in REFUSED_MAPPING):
                raise  # a real error (a missing library or symbol): the same from disk
            from __amber_cache__ import CacheError, materialize_file

            try:
                disk = self._musl_entry(name) if MUSL and self._needs.get(name) else materialize_file(
                    name, self.fs.read(name))
            except CacheError as cache_exc:
                raise OSError(f"{exc}; {cache_exc}") from None
            self._paths[name] = disk
            return opener(disk)

    def _place(self, name, chain):
        """Load what `name` needs from the archive; then the path `name` itself is to be loaded from: its
        extraction-cache file, a memory file (/proc/self/fd/N), or None (memory cannot serve: the cache
        is tried when it is opened)."""
        disk = self._kept_on_disk(name)
        if disk:
            self._scan_file(name, disk, chain)
            if not (MUSL and self._needs[name]):
                return disk
        # musl: an object needing archive libraries is loaded from a memory copy whose names are rewritten
        fd = -1 if self.policy == "disk" else memory_copy(self.fs, name)
        if fd < 0:
            if not disk:
                self._load_dependencies(name, self.fs.read(name), chain)
            return self._musl_entry(name) if MUSL and self._needs[name] else disk
        try:
            if not disk:
                self._scan_descriptor(name, fd, chain)
            if MUSL and self._needs[name] and not self._rename_needs(name, fd):
                posix.close(fd)
                return self._musl_entry(name)
        except BaseException:
            posix.close(fd)
            raise
        seal(fd)
        return f"/proc/self/fd/{fd}"

    def _rename_needs(self, name, fd):
        """Rewrite, in memory file `fd` (not yet sealed), each DT_NEEDED name of a library `name` needs from
        the archive to a /proc/self/fd/N path of the loaded library, which musl's loader opens and finds
        already loaded (same inode). False when a name is too short to hold its path: nothing is written."""
        import mmap

        from __amber_elf__ import needed_offsets

        size = posix.fstat(fd).st_size
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as view:
            offsets = needed_offsets(view)
        writes = []
        for needed, member in self._needs[name].items():
            path = self._descriptor_path(member).encode()
            offset, length = offsets[needed]
            if len(path) > length:
                return False
            writes.append((offset, path + b"\0"))
        for offset, data in writes:
            posix.pwrite(fd, data, offset)
        return True

    def _descriptor_path(self, member):
        """/proc/self/fd/N naming the object `member` was loaded from: its memory file, or a descriptor kept
        open on its cache file."""
        path = self._paths[member]
        if path.startswith("/proc/self/fd/"):
            return path
        if path not in self._descriptors:
            self._descriptors[path] = f"/proc/self/fd/{posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)}"
        return self._descriptors[path]

    def _musl_entry(self, name):
        """`name` with every library it needs from the archive (transitively), materialized together in one
        extraction-cache entry in the archive's layout: musl's loader finds them there by name, through the
        RPATH ($ORIGIN/../<dist>.libs) auditwheel gives each object. A library loaded before from elsewhere
        is loaded again from there (musl knows objects by inode)."""
        from __amber_cache__ import CacheError

        try:
            return f"{self._materialize_group(self._closure(name), 'musl')}/{name}"
        except CacheError as exc:
            raise OSError(f"under musl, {self.fs.prefix}{name} loads only with what it needs beside it on disk: "
                          f"{exc}") from None

    def _closure(self, name):
        """`name` and the archive libraries it needs, transitively, in a stable order."""
        from __amber_elf__ import dynamic_info

        found, todo = [name], [name]
        while todo:
            member = todo.pop()
            needed, _soname, runpath = dynamic_info(self.fs.read(member))
            for library in needed:
                located = self._locate(library, member.rpartition("/")[0], runpath)
                if located is not None and located not in found:
                    found.append(located)
                    todo.append(located)
        return found

    def _kept_on_disk(self, name):
        """The extraction-cache path of `name` when it is large enough to be kept on disk, else None.

        A memory file costs a copy of the whole object at every start (numpy's OpenBLAS is 25 MB:
        about 10 ms, a fifth of `import numpy`), a file in the cache is written once and then mapped
        from the page cache like an installed library. So an object of KEEP_ON_DISK bytes or more is
        kept in the cache, unless AMBER_NATIVE=memory asks for nothing on disk, or the cache cannot
        serve (unwritable, or on a noexec file system): then memory serves it after all. With
        AMBER_NATIVE=disk every object comes from the cache."""
        from __amber_cache__ import CacheError, keep_member

        if self.policy == "disk":  # never a memory file: the cache serves, or the load fails saying why
            try:
                return keep_member(self.fs, name)
            except CacheError as exc:
                raise OSError(f"AMBER_NATIVE=disk: cannot load {self.fs.prefix}{name}: {exc}") from None
        if not self._on_disk(name):
            return None
        try:
            return keep_member(self.fs, name)
        except CacheError:
            return None

    def _on_disk(self, name):
        """Whether the policy serves `name` from the extraction cache (if the cache can)."""
        if self.policy != "auto":
            return self.policy == "disk"
        threshold = KEEP_ON_DISK_COMPRESSED if self.fs.compressed(name) else KEEP_ON_DISK
        return self.fs.member_size(name) >= threshold

    def warm(self, names):
        """Have the extraction cache write the shared objects `names` (those every start loads, with
        the libraries they need: `.amber/warm`, builder/startup.py) in the background
        when it does not hold them yet: the first run's decompression, out of the way (cache.warm).
        Not under musl, where an object that needs archive libraries loads from another entry, with them
        beside it (_musl_entry)."""
        if MUSL:
            return
        from __amber_cache__ import warm

        warm(self.fs, [name for name in names if self.fs.exists(name) and self._on_disk(name)])

    def _scan_file(self, name, path, chain):
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            self._scan_descriptor(name, fd, chain)
        finally:
            posix.close(fd)

    def _scan_descriptor(self, name, fd, chain):
        """_load_dependencies of the object open as `fd`, read through a mapping (no copy)."""
        size = posix.fstat(fd).st_size
        if not size:
            self._load_dependencies(name, b"", chain)
            return
        import mmap

        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as view:
            self._load_dependencies(name, view, chain)

    def _load_dependencies(self, name, data, chain, skip=()):
        import struct

        from __amber_elf__ import ELFError, dynamic_info

        try:
            needed, _soname, runpath = dynamic_info(data)
        except (ELFError, struct.error) as exc:
            raise ImportError(f"{self.fs.prefix}{name} is not a loadable shared object: {exc}") from None
        origin_dir = name.rpartition("/")[0]
        needs = self._needs.setdefault(name, {})
        for library in needed:
            located = self._locate(library, origin_dir, runpath)
            if located in skip:
                continue
            if located is not None:
                self._require(located, chain)
                needs[library] = located
            elif self.fs.exists(f"{SYSTEM_LIBRARY_DIR}/{library}"):
                self.require_system(library)
                bundled = f"{SYSTEM_LIBRARY_DIR}/{library}"
                if self._handles[library] is self._handles.get(bundled):  # the system had none: ours serves
                    needs[library] = bundled

    def _load_cycle(self, members, chain):
        """Vendored libraries that need each other (pillow.libs: libfreetype <-> libharfbuzz) cannot be
        loaded one at a time from memory: whichever goes first needs the other, which the dynamic
        linker can only find by soname in a directory. So, after whatever else they need is loaded,
        they are materialized together in one extraction-cache entry (archive layout: auditwheel gives
        them RPATH $ORIGIN) and loaded from there, where one dlopen() resolves the whole cycle. Under musl,
        which finds nothing by soname, what they need goes into the entry with them."""
        for member in members:
            self._load_dependencies(member, self.fs.read(member), (*chain, member), skip=members)
        if MUSL:
            members = [*members, *(m for first in members for m in self._closure(first) if m not in members)]
        from __amber_cache__ import CacheError

        try:
            entry = self._materialize_group(members, "cycle")
        except CacheError as exc:
            raise OSError(f"{', '.join(members)} need each other, which only works from disk: {exc}") from None
        for member in members:
            self._paths.setdefault(member, f"{entry}/{member}")

    def _materialize_group(self, members, why):
        """One extraction-cache entry holding archive members `members` in the archive's layout: its path.
        CacheError when the cache cannot serve."""
        from __amber_cache__ import materialize
        from _sha2 import sha256  # not hashlib: see __amber_cache__.materialize_file

        digest = sha256(why.encode())
        for member in members:
            digest.update(member.encode() + b"\0" + sha256(self.fs.read(member)).digest())
        return materialize(digest.hexdigest(), {m: (m, True) for m in members}, self.fs.read, self.fs.copy_into)

    def create_extension(self, spec, name):
        def create(path):
            module = _imp.create_dynamic(ModuleSpec(spec.name, spec.loader, origin=path))
            module.__file__ = spec.origin
            return module

        try:
            return self.open(name, create)
        except OSError as exc:  # packages catch ImportError to fall back to pure Python
            raise ImportError(str(exc), name=spec.name) from None


def _patch_find_library(native):
    """ctypes.util.find_library: the system's answer first, else a library the archive carries (a vendored
    `.libs/` directory or `.amber/lib/`), as an archive path that ctypes.CDLL then loads from memory."""
    util = sys.modules["ctypes.util"]  # runs right after its import, before ctypes.util is set on ctypes
    real = util.find_library

    def find_library(name):
        return real(name) or native.find_bundled(name)

    find_library.__wrapped__, find_library.__doc__ = real, real.__doc__
    util.find_library = find_library


def install(fs, policy="auto"):
    """Put the extension finder in front of the path finder; hand dlopen() of archive paths (ctypes,
    cffi, C code) from the runtime's C file layer to this loader. `policy`: AMBER_NATIVE, checked."""
    from __amber_extensions__ import ExtensionFinder

    native = NativeCode(fs, policy)
    finder = ExtensionFinder(native)
    position = next((i for i, f in enumerate(sys.meta_path) if getattr(f, "__name__", "") == "PathFinder"),
                    len(sys.meta_path))
    sys.meta_path.insert(position, finder)
    after_import("ctypes.util", lambda: _patch_find_library(native))
    register_loaders(native=lambda name, mode: native.open(name, lambda path: _dlopen(path, mode)))
    return native


_registered = {"native": None, "programs": None}


def register_loaders(**loaders):
    """Tell the C file layer (runtime/fs/code.c) who loads libraries (native(name, mode) -> handle) and
    programs (programs(name) -> path) inside the archive when C code dlopen()s or posix_spawn()s them."""
    import _amber_fs

    _registered.update(loaders)
    _amber_fs.set_loaders(_registered["native"], _registered["programs"])
