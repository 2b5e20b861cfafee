"""Files inside the binary, as seen by the os and io functions apps use (runs inside the binary).

Code shipped in a wheel often reads files next to its own module:
`open(os.path.join(os.path.dirname(__file__), "data.txt"))`, `os.listdir` of
its package directory, `os.path.exists(...)`. Inside an amber binary
`__file__` is `<binary>/<path in archive>`, a path no kernel knows. This module
wraps the few functions such code goes through (builtins.open/io.open for
reading, os.stat/lstat/fstat/listdir/scandir/access) so that paths under the binary
are answered from the archive, with sane stat results, and writing there fails
as on a read-only file system. Every other path goes straight to the original
function: the cost outside the archive is one string prefix test.

Everything built on these functions follows: os.path.exists/isfile/isdir/
getsize/islink, os.walk, glob, pathlib.Path, shutil.copy*, linecache.
"""

import _stat  # the C module stat.py re-exports: one import less at start-up
import builtins
import errno
import io
import posix
import sys

from __amber_hooks__ import after_import

# `os` is not imported here: a hello world never needs it, and importing it
# costs a measurable part of start-up. builtins.open is wrapped at once; the os
# functions are wrapped right after the app (or anything) first imports os.
_normpath = posix._path_normpath
_fspath = posix.fspath

# Where the builder puts amber's own files in the archive; the builder imports these names from here
# (this module is standard library only, so the host imports it as amber.boot.vfs).
SYSTEM_LIBRARY_DIR = ".amber/lib"  # sonames the wheels expect from the system, bundled from the build machine
EXTRACT_LIST_DIR = ".amber/extract"  # one listing per extracted distribution, named by its cache key

# The fields of zipimport's toc entry of a member (its directory maps names to these tuples):
# (path, method, compressed size, size, local header offset, DOS time, DOS date, crc32).
TOC_METHOD, TOC_SIZE, TOC_HEADER_OFFSET, TOC_TIME, TOC_DATE, TOC_CRC = 1, 3, 4, 5, 6, 7
LOCAL_HEADER_SIZE = 30  # a zip local file header before its name and extra field
STORED = 0

_WRITE_MODES = frozenset("wax+")
filesystem = None  # the installed ArchiveFS
fd_members = {}  # descriptor handed out by fileno() -> archive-relative name, for os.fstat


class _ArchiveBytes(io.BytesIO):
    """An in-memory file with the `name` and `mode` real files have.

    fileno() makes a real descriptor on first use (a memfd holding the same
    bytes), for code that hands the file to C: os.fstat, mmap, sendfile.
    """

    def __init__(self, data, name, rel, mode="rb"):
        super().__init__(data)
        self.name = name
        self.mode = mode
        self._rel = rel
        self._fd = None

    def fileno(self):
        if self._fd is None:
            view = self.getbuffer()
            try:
                from __amber_memfd__ import anonymous_file

                fd = anonymous_file("amber:" + self._rel, view)
            finally:
                view.release()
            posix.lseek(fd, self.tell(), 0)
            self._fd = fd
            fd_members[fd] = self._rel
        return self._fd

    def close(self):
        if self._fd is not None:
            fd_members.pop(self._fd, None)
            posix.close(self._fd)
            self._fd = None
        super().close()


class ArchiveFS:
    """The read-only file tree of one archive, keyed by paths relative to it."""

    def __init__(self, archive, directory, read_member):
        self.archive = archive
        self.prefix = archive + "/"
        self._directory = directory  # member name -> toc entry (zipimport's view)
        self._read_member = read_member
        self.executables = frozenset()  # members whose mode has the x bits (set by the boot code)
        self._fd = None
        self._dirs = None
        self._children = None
        self._real = None

    # Derived lazily: an app that never touches a path inside the binary pays nothing at start-up.
    @property
    def dirs(self):
        if self._dirs is None:
            self._dirs = {""} | {name[:-1] for name in self._directory if name.endswith("/")}
        return self._dirs

    # -- paths ---------------------------------------------------------------
    def relative(self, path):
        """The archive-relative name for `path`, or None when it is not inside the archive."""
        if isinstance(path, int):
            return None
        try:
            path = _fspath(path)
        except TypeError:
            return None
        if isinstance(path, bytes):
            if not path.startswith(self.prefix.encode()):
                return None
            path = path.decode(sys.getfilesystemencoding(), "surrogateescape")
        elif not path.startswith(self.prefix):
            return None
        if len(path) == len(self.prefix):
            return ""
        normal = _normpath(path)
        if normal == self.archive:
            return ""  # `<binary>/pkg/..`: the archive root
        if not normal.startswith(self.prefix):
            return None  # normalised out of the archive (`<binary>/../x`): a real path again
        return normal[len(self.prefix):]

    def listable(self, path):
        """Like relative(), but the binary's own path lists the archive root.

        stat() of the binary stays the real file (it must stay executable), yet
        os.listdir/os.walk of a top-level module's directory should work.
        """
        try:
            if _fspath(path) in (self.archive, self.archive.encode()):
                return ""
        except TypeError:
            return None
        return self.relative(path)

    def exists(self, rel):
        return rel in self.dirs or rel in self._directory

    # -- queries -------------------------------------------------------------
    def inode(self, rel):
        return hash(rel) & 0x7FFFFFFFFFFF or 1

    def stat(self, rel):
        """A full stat_result for member or directory `rel`: every field a real file's has (the _ns
        times, st_blksize, st_blocks, st_rdev: Jinja2, sphinx and pathlib read them), the times and
        owner those of the binary, which is what was installed."""
        if self._real is None:
            real = posix.stat(self.archive)
            # Fields 7-16 of a stat_result (int, float and ns times, st_blksize) come from the binary;
            # st_blocks and st_rdev (17, 18) are per member.
            self._real = (real.st_dev, real.st_uid, real.st_gid, *tuple(real)[7:10],
                          real.st_atime, real.st_mtime, real.st_ctime,
                          real.st_atime_ns, real.st_mtime_ns, real.st_ctime_ns, real.st_blksize)
        dev, uid, gid, *times_blksize = self._real
        if rel in self.dirs:
            mode, size, links = _stat.S_IFDIR | 0o555, 0, 2
        elif rel in self._directory:
            mode, size, links = _stat.S_IFREG | (0o555 if rel in self.executables else 0o444), \
                self._directory[rel][TOC_SIZE], 1
        else:
            raise FileNotFoundError(errno.ENOENT, posix.strerror(errno.ENOENT), self.prefix + rel)
        blocks = (size + 511) // 512
        return posix.stat_result((mode, self.inode(rel), dev, links, uid, gid, size, *times_blksize, blocks, 0))

    def listdir(self, rel):
        if rel not in self.dirs:
            if rel in self._directory:
                raise NotADirectoryError(errno.ENOTDIR, posix.strerror(errno.ENOTDIR), self.prefix + rel)
            raise FileNotFoundError(errno.ENOENT, posix.strerror(errno.ENOENT), self.prefix + rel)
        if self._children is None:
            children = {d: [] for d in self.dirs}
            for name in self._directory:
                parent, _, leaf = name.rstrip("/").rpartition("/")
                if leaf and parent in children:
                    children[parent].append(leaf)
            self._children = children
        return list(self._children[rel])

    def descriptor(self):
        """A read-only descriptor of the archive file, opened once (close-on-exec)."""
        if self._fd is None:
            self._fd = posix.open(self.archive, posix.O_RDONLY | posix.O_CLOEXEC)
        return self._fd

    def member_size(self, rel):
        return self._directory[rel][TOC_SIZE]

    def fingerprint(self, rel):
        """What the index says of member `rel`: size, CRC-32, DOS date and time (no byte of it is read)."""
        entry = self._directory[rel]
        return f"{entry[TOC_SIZE]}-{entry[TOC_CRC]:08x}-{entry[TOC_DATE]}-{entry[TOC_TIME]}"

    def stored_span(self, rel):
        """(offset, size) of member `rel`'s bytes in the archive file when stored uncompressed, else None."""
        entry = self._directory.get(rel)
        if entry is None or entry[TOC_METHOD] != STORED:
            return None
        offset = entry[TOC_HEADER_OFFSET]
        header = posix.pread(self.descriptor(), LOCAL_HEADER_SIZE, offset)
        if len(header) != LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
            raise OSError(errno.EIO, f"bad local header of {self.prefix}{rel}")
        name_size, extra_size = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
        return offset + LOCAL_HEADER_SIZE + name_size + extra_size, entry[TOC_SIZE]

    def copy_stored(self, rel, fd):
        """Copy member `rel` into descriptor `fd` by the kernel when it is stored uncompressed (True);
        False, with nothing written, when it is compressed and must be read()."""
        span = self.stored_span(rel)
        if span is None:
            return False
        from __amber_memfd__ import send_span

        send_span(self.descriptor(), fd, *span)
        return True

    def read(self, rel):
        if rel in self.dirs:
            raise IsADirectoryError(errno.EISDIR, posix.strerror(errno.EISDIR), self.prefix + rel)
        if rel not in self._directory:
            raise FileNotFoundError(errno.ENOENT, posix.strerror(errno.ENOENT), self.prefix + rel)
        try:
            return self._read_member(self.archive, self._directory[rel])
        except ImportError as exc:  # zipimport's word for a damaged member (CRC, inflate, offsets)
            raise OSError(errno.EIO, f"{exc}; copy the file again", self.prefix + rel) from None


def _read_only(path):
    return OSError(errno.EROFS, posix.strerror(errno.EROFS), _fspath(path))


def install(archive):
    """Serve paths under `archive` from it: open() now, the os functions once os is imported."""
    import zipimport

    directory = zipimport._zip_directory_cache.get(archive)
    if directory is None:
        directory = zipimport._read_directory(archive)
    fs = ArchiveFS(archive, directory, zipimport._get_data)
    _wrap_open(fs)
    _wrap_file_finder_hook(fs, zipimport.zipimporter)
    after_import("os", lambda: __import__("__amber_vfs_os__").wrap(fs))
    global filesystem
    filesystem = fs
    return fs


def same_identity(wrapper, real):
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = real.__name__, real.__name__, real.__doc__
    wrapper.__wrapped__ = real


def _wrap_open(fs):
    real_open = io.open

    def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
        rel = fs.relative(file)
        if rel is None:
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        if _WRITE_MODES.intersection(mode):
            raise _read_only(file)
        raw = _ArchiveBytes(fs.read(rel), _fspath(file), rel, "rb")
        if "b" in mode:
            return raw
        text = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)
        text.mode = mode
        return text

    same_identity(open, real_open)
    builtins.open = io.open = open
    # tokenize (and so linecache) keeps its own reference to open, taken when the
    # interpreter imported it at start-up.
    tokenize = sys.modules.get("tokenize")
    if tokenize is not None and getattr(tokenize, "_builtin_open", None) is real_open:
        tokenize._builtin_open = open


def _wrap_file_finder_hook(fs, zipimporter):
    """The path hook of FileFinder also answers for directories inside the archive, with the archive's
    importer.

    The path finder never asks it there (zipimporter comes first in sys.path_hooks), but some import
    machinery picks "the FileFinder hook" out of sys.path_hooks and calls it for its own package
    directories: ansible's collection loader does (by `'FileFinder' in repr(hook)`, requiring exactly
    one), and a real FileFinder, which lists directories through posix, finds nothing in an archive.
    The wrapper keeps the hook's name, so such code still finds exactly one."""
    positions = [i for i, hook in enumerate(sys.path_hooks) if "FileFinder" in getattr(hook, "__qualname__", "")]
    if not positions:
        return
    position = positions[0]
    real = sys.path_hooks[position]

    def path_hook_for_FileFinder(path):
        rel = fs.listable(path)
        if rel is None:
            return real(path)
        if rel not in fs.dirs:
            raise ImportError("only directories are supported", path=path)
        return zipimporter(path)

    same_identity(path_hook_for_FileFinder, real)
    path_hook_for_FileFinder.__qualname__ = real.__qualname__
    sys.path_hooks[position] = path_hook_for_FileFinder


