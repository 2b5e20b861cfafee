"""The os functions of the archive file system (runs inside the binary): os.stat, lstat, fstat, listdir,
scandir and access answer for paths under the binary from the archive (`__amber_vfs__.ArchiveFS`).

`__amber_vfs__` wraps builtins.open at start and has this module imported right after the app first
imports os (a hello world never does, and so never loads this code).
"""


from __amber_vfs__ import fd_members, same_identity


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


def wrap(fs):
    import os

    real_stat, real_lstat = os.stat, os.lstat
    real_listdir, real_scandir, real_access, real_fstat = os.listdir, os.scandir, os.access, os.fstat

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
        rel = fd_members.get(fd)
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
        return not (mode & os.X_OK) or rel in fs.dirs or rel in fs.executables

    for wrapper, real in ((stat, real_stat), (lstat, real_lstat), (listdir, real_listdir),
                          (scandir, real_scandir), (access, real_access), (fstat, real_fstat)):
        same_identity(wrapper, real)
    os.stat, os.lstat, os.fstat, os.listdir, os.scandir, os.access = stat, lstat, fstat, listdir, scandir, access
