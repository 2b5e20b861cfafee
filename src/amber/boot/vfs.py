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

import builtins
import errno
import io
import os
import stat as _stat

_WRITE_MODES = frozenset("wax+")
_SYS_MEMFD_CREATE = 319  # x86_64; glibc 2.17 has no memfd_create() wrapper
_MFD_CLOEXEC, _MFD_ALLOW_SEALING = 1, 2
filesystem = None  # the installed ArchiveFS
_fd_members = {}  # descriptor handed out by fileno() -> archive-relative name, for os.fstat


def _anonymous_fd(label, sealable=False):
    """A descriptor of an anonymous in-memory file (memfd), else of an unlinked temporary file."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        flags = _MFD_CLOEXEC | (_MFD_ALLOW_SEALING if sealable else 0)
        fd = libc.syscall(_SYS_MEMFD_CREATE, label.encode()[:240], flags)
        if fd >= 0:
            return fd
    except (OSError, AttributeError, ImportError):
        pass
    import tempfile

    with tempfile.TemporaryFile() as tmp:
        return os.dup(tmp.fileno())


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
            fd = _anonymous_fd("amber:" + self._rel)
            view = self.getbuffer()
            try:
                written = 0
                while written < len(view):
                    written += os.write(fd, view[written:])
            finally:
                view.release()
            os.lseek(fd, self.tell(), os.SEEK_SET)
            self._fd = fd
            _fd_members[fd] = self._rel
        return self._fd

    def close(self):
        if self._fd is not None:
            _fd_members.pop(self._fd, None)
            os.close(self._fd)
            self._fd = None
        super().close()


class _DirEntry:
    """What os.scandir yields, for a member of the archive."""

    __slots__ = ("name", "path", "_fs", "_rel")

    def __init__(self, fs, directory_path, rel, name):
        self.name = name
        self.path = directory_path + ("" if directory_path.endswith("/") else "/") + name
        self._fs = fs
        self._rel = rel

    def is_dir(self, *, follow_symlinks=True):
        return self._rel in self._fs.dirs

    def is_file(self, *, follow_symlinks=True):
        return self._rel not in self._fs.dirs

    def is_symlink(self):
        return False

    def is_junction(self):
        return False

    def stat(self, *, follow_symlinks=True):
        return self._fs.stat(self._rel)

    def inode(self):
        return self._fs.inode(self._rel)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"<DirEntry {self.name!r}>"


class _ScandirIterator:
    def __init__(self, entries):
        self._entries = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._entries)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._entries = iter(())


class ArchiveFS:
    """The read-only file tree of one archive, keyed by paths relative to it."""

    def __init__(self, archive, directory, read_member):
        self.archive = archive
        self.prefix = archive + "/"
        self._directory = directory  # member name -> toc entry (zipimport's view)
        self._read_member = read_member
        self.dirs = {""}
        self._children = None
        for name in directory:
            if name.endswith("/"):
                self.dirs.add(name[:-1])
        real = os.stat(archive)
        self._real = real

    # -- paths ---------------------------------------------------------------
    def relative(self, path):
        """The archive-relative name for `path`, or None when it is not inside the archive."""
        if isinstance(path, int):
            return None
        try:
            path = os.fspath(path)
        except TypeError:
            return None
        if isinstance(path, bytes):
            if not path.startswith(self.prefix.encode()):
                return None
            path = os.fsdecode(path)
        elif not path.startswith(self.prefix):
            return None
        rel = os.path.normpath(path)[len(self.prefix):] if len(path) > len(self.prefix) else ""
        if rel.startswith("..") or rel.startswith("/"):
            return None  # normalised out of the archive: a real path again
        return "" if rel == "." else rel

    def listable(self, path):
        """Like relative(), but the binary's own path lists the archive root.

        stat() of the binary stays the real file (it must stay executable), yet
        os.listdir/os.walk of a top-level module's directory should work.
        """
        try:
            if os.fspath(path) in (self.archive, self.archive.encode()):
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
        real = self._real
        if rel in self.dirs:
            mode, size = _stat.S_IFDIR | 0o555, 0
        elif rel in self._directory:
            mode, size = _stat.S_IFREG | 0o444, self._directory[rel][3]
        else:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.prefix + rel)
        times = (real.st_atime, real.st_mtime, real.st_ctime)
        return os.stat_result((mode, self.inode(rel), real.st_dev, 1, real.st_uid, real.st_gid, size, *times))

    def listdir(self, rel):
        if rel not in self.dirs:
            if rel in self._directory:
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), self.prefix + rel)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.prefix + rel)
        if self._children is None:
            children = {d: [] for d in self.dirs}
            for name in self._directory:
                parent, _, leaf = name.rstrip("/").rpartition("/")
                if leaf and parent in children:
                    children[parent].append(leaf)
            self._children = children
        return list(self._children[rel])

    def read(self, rel):
        if rel in self.dirs:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.prefix + rel)
        if rel not in self._directory:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.prefix + rel)
        return self._read_member(self.archive, self._directory[rel])


def _read_only(path):
    return OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))


def install(archive):
    """Wrap the os/io functions so that paths under `archive` are served from it."""
    import zipimport

    directory = zipimport._zip_directory_cache.get(archive)
    if directory is None:
        directory = zipimport._read_directory(archive)
    fs = ArchiveFS(archive, directory, zipimport._get_data)

    real_open = io.open
    real_stat, real_lstat = os.stat, os.lstat
    real_listdir, real_scandir, real_access, real_fstat = os.listdir, os.scandir, os.access, os.fstat

    def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
        rel = fs.relative(file)
        if rel is None:
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        if _WRITE_MODES.intersection(mode):
            raise _read_only(file)
        raw = _ArchiveBytes(fs.read(rel), os.fspath(file), rel, "rb")
        if "b" in mode:
            return raw
        text = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)
        text.mode = mode
        return text

    def stat(path, *, dir_fd=None, follow_symlinks=True):
        rel = fs.relative(path) if dir_fd is None else None
        if rel is None:
            return real_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        return fs.stat(rel)

    def lstat(path, *, dir_fd=None):
        rel = fs.relative(path) if dir_fd is None else None
        if rel is None:
            return real_lstat(path, dir_fd=dir_fd)
        return fs.stat(rel)

    def fstat(fd):
        rel = _fd_members.get(fd)
        return real_fstat(fd) if rel is None else fs.stat(rel)

    def listdir(path="."):
        rel = fs.listable(path)
        if rel is None:
            return real_listdir(path)
        names = fs.listdir(rel)
        return [os.fsencode(n) for n in names] if isinstance(os.fspath(path), bytes) else names

    def scandir(path="."):
        rel = fs.listable(path)
        if rel is None:
            return real_scandir(path)
        base = os.fspath(path)
        base = os.fsdecode(base) if isinstance(base, bytes) else base
        entries = [_DirEntry(fs, base, f"{rel}/{name}" if rel else name, name) for name in fs.listdir(rel)]
        return _ScandirIterator(entries)

    def access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True):
        rel = fs.relative(path) if dir_fd is None else None
        if rel is None:
            return real_access(path, mode, dir_fd=dir_fd, effective_ids=effective_ids,
                               follow_symlinks=follow_symlinks)
        if not fs.exists(rel):
            return False
        if mode & os.W_OK:
            return False
        return not (mode & os.X_OK) or rel in fs.dirs

    for wrapper, real in ((open, real_open), (stat, real_stat), (lstat, real_lstat), (listdir, real_listdir),
                          (scandir, real_scandir), (access, real_access), (fstat, real_fstat)):
        wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = real.__name__, real.__name__, real.__doc__
        wrapper.__wrapped__ = real
    builtins.open = io.open = open
    os.stat, os.lstat, os.fstat, os.listdir, os.scandir, os.access = stat, lstat, fstat, listdir, scandir, access
    global filesystem
    filesystem = fs
    return fs
