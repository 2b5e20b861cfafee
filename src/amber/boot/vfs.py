"""Files inside the binary, as the boot code and the import system see them (runs inside the binary).

Code shipped in a wheel often reads files next to its own module:
`open(os.path.join(os.path.dirname(__file__), "data.txt"))`, `os.listdir` of
its package directory, `os.path.exists(...)`. Inside an amber binary
`__file__` is `<binary>/<path in archive>`, a path no kernel knows. The
runtime's C file layer (runtime/fs/) answers such paths for every caller of
libc's open/stat/opendir/access/realpath, the interpreter's own os and io
functions included, so nothing in Python wraps them.

What stays here is what C cannot do: `ArchiveFS`, the archive's tree as the
native loader, the program runner and the extraction cache read it (member
sizes, copies by the C file layer into a descriptor); importlib.resources answering with
real paths (`pathlib.Path` under the binary) instead of zipfile.Path, so that
`importlib.resources.as_file` (certifi.where()) copies nothing to a
temporary file; and FileFinder's path hook answering archive directories.
"""

import errno
import posix
import sys

_normpath = posix._path_normpath
_fspath = posix.fspath

# Where the builder puts amber's own files in the archive; the builder imports these names from here
# (this module is standard library only, so the host imports it as amber.boot.vfs).
SYSTEM_LIBRARY_DIR = ".amber/lib"  # sonames the wheels expect from the system, bundled from the build machine
EXTRACT_LIST_DIR = ".amber/extract"  # one listing per extracted distribution, named by its cache key
WARM_LIST = ".amber/warm"  # the shared objects every start loads, one per line (builder/startup.py)

# The fields of zipimport's toc entry of a member (its directory maps names to these tuples):
# (path, method, compressed size, size, local header offset, DOS time, DOS date, crc32).
TOC_METHOD, TOC_SIZE, TOC_TIME, TOC_DATE, TOC_CRC = 1, 3, 5, 6, 7
STORED = 0

filesystem = None  # the installed ArchiveFS


class ArchiveFS:
    """The read-only file tree of one archive, keyed by paths relative to it."""

    def __init__(self, archive, directory, read_member):
        self.archive = archive
        self.prefix = archive + "/"
        self._directory = directory  # member name -> toc entry (zipimport's view)
        self._read_member = read_member
        self._fd = None
        self._dirs = None
        self._children = None

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

    def compressed(self, rel):
        """Whether member `rel` must be decompressed to be read (deflate or zstd)."""
        return self._directory[rel][TOC_METHOD] != STORED

    def fingerprint(self, rel):
        """What the index says of member `rel`: size, CRC-32, DOS date and time (no byte of it is read)."""
        entry = self._directory[rel]
        return f"{entry[TOC_SIZE]}-{entry[TOC_CRC]:08x}-{entry[TOC_DATE]}-{entry[TOC_TIME]}"

    def copy_into(self, rel, fd):
        """Write member `rel` into descriptor `fd` and rewind it: decompressed and checked by the runtime's C
        file layer (a stored member copied by the kernel), without the GIL, no byte passing through Python.
        A first run's background thread writes the extraction cache so while the app starts (cache.warm)."""
        import _amber_fs

        try:
            _amber_fs.fill(rel, fd)
        except OSError as exc:
            why = "damaged member; copy the file again" if exc.errno == errno.EIO else posix.strerror(exc.errno)
            raise OSError(exc.errno, why, self.prefix + rel) from None
        posix.lseek(fd, 0, 0)
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


def install(archive):
    """The archive's tree for the boot code, and the import system's views of it."""
    import zipimport

    directory = zipimport._zip_directory_cache.get(archive)
    if directory is None:
        directory = zipimport._read_directory(archive)
    fs = ArchiveFS(archive, directory, zipimport._get_data)
    _wrap_file_finder_hook(fs, zipimport.zipimporter)
    _wrap_resource_reader(fs, zipimport.zipimporter)
    global filesystem
    filesystem = fs
    return fs


def same_identity(wrapper, real):
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = real.__name__, real.__name__, real.__doc__
    wrapper.__wrapped__ = real


def _wrap_resource_reader(fs, zipimporter):
    """importlib.resources of a package inside the binary: real paths, not zipfile.Path.

    zipimport's reader answers with zipfile.Path objects, which `importlib.resources.as_file` must copy
    to a temporary file before C code (OpenSSL given certifi.where(), a library given a data file) can
    open them. Under the C file layer `<binary>/<package>` is a path every libc call understands, so the
    reader answers with `pathlib.Path`s there, and as_file gives them as they are."""
    real = zipimporter.get_resource_reader

    def get_resource_reader(self, fullname):
        reader = real(self, fullname)
        if self.archive != fs.archive or reader is None:
            return reader
        return _PathReader(reader)

    same_identity(get_resource_reader, real)
    zipimporter.get_resource_reader = get_resource_reader


class _PathReader:
    """zipimport's ZipReader, but files() is the package's real path under the binary."""

    def __init__(self, reader):
        self._reader = reader

    def files(self):
        import pathlib

        return pathlib.Path(self._reader.archive, self._reader.prefix)

    def open_resource(self, resource):
        return self.files().joinpath(resource).open("rb")

    def resource_path(self, resource):
        raise FileNotFoundError(resource)  # as TraversableResources says: files() is the way

    def is_resource(self, path):
        return self.files().joinpath(path).is_file()

    def contents(self):
        return (item.name for item in self.files().iterdir())


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


