"""The extraction cache: archive files materialized once on disk for code that needs real paths.

Runs inside the binary. Most of an app is read straight from the archive, but
some files must exist as real files: a certificate bundle handed to OpenSSL by
path, fonts that FreeType opens, and native code when the kernel cannot load it
from memory (no /proc, no memfd, or memfd execution forbidden). Such files are
written once into a content-addressed entry, `<cache>/extract/<key>/`, keeping
their archive-relative layout, and every later run reuses the entry.

Because an entry feeds code into the process, it is handled with suspicion:
- the extract directory and each entry must be real directories (not
  symlinks) owned by the user and not writable by group or others, and no
  directory above them may be writable by others without the sticky bit;
  anything else is refused with a message, never "repaired";
- an entry is built in a private temporary directory and renamed into place
  only when complete, so concurrent first runs see nothing or everything; the
  loser of the rename race uses the winner's entry;
- an entry lists the size and modification time of every file it holds; each
  run that uses it compares them (one lstat per file, no read) and rebuilds an
  entry that differs, so a damaged or tampered file is never used.
"""

import errno
import os
import stat
import sys
import time

MARKER = ".amber-entry"  # "<size> <mtime_ns> <relative path>" per file; written last
USE_STAMP_INTERVAL = 86400  # the marker's mtime is the entry's last use, refreshed at most daily
HINT = "set AMBER_CACHE to a directory you own"


class CacheError(Exception):
    """The extraction cache cannot be used; the message says why and what to do."""


def cache_root():
    """amber's cache directory, for the binaries and for `amber` alike (amber.paths uses this one):
    `$AMBER_CACHE`, else `$XDG_CACHE_HOME/amber`, else `~/.cache/amber`; `~` is expanded and the
    result made absolute, so that `AMBER_CACHE='~/c'` names one directory for both."""
    env = os.environ
    if env.get("AMBER_CACHE"):
        return os.path.abspath(os.path.expanduser(env["AMBER_CACHE"]))
    if env.get("XDG_CACHE_HOME"):
        return os.path.join(os.path.abspath(os.path.expanduser(env["XDG_CACHE_HOME"])), "amber")
    home = env.get("HOME")
    if not home:
        try:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError):
            home = None
    if not home:
        raise CacheError(f"no cache directory: HOME is not set; {HINT}")
    return os.path.join(home, ".cache", "amber")


def extract_root():
    """`<cache_root()>/extract`: where binaries materialize files."""
    return os.path.join(cache_root(), "extract")


def _refuse(path, why):
    raise CacheError(f"refusing to use the cache directory {path}: {why}; {HINT}")


def _check_private(path, st=None):
    """`path` must be a real directory, ours, not writable by group or others."""
    st = st or os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        _refuse(path, "it is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        _refuse(path, "it is not a directory")
    if st.st_uid != os.geteuid():
        _refuse(path, f"it is owned by uid {st.st_uid}, not by uid {os.geteuid()}")
    if st.st_mode & 0o022:
        _refuse(path, f"it is writable by others (mode {stat.S_IMODE(st.st_mode):o})")


def _check_ancestors(path):
    """No directory above `path` may let others swap it out (writable by others without sticky bit)."""
    parent = os.path.dirname(path)
    while True:
        st = os.stat(parent)
        if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
            _refuse(path, f"{parent} is writable by everyone")
        if st.st_mode & 0o020 and st.st_uid != os.geteuid() and not st.st_mode & stat.S_ISVTX:
            _refuse(path, f"{parent} is writable by another group")
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


_prepared = set()  # extract directories already made and checked by this process


def prepare_root():
    """The extract directory, created private (0700) if missing, checked once per process (every
    run: numpy's four large objects and its extracted distributions ask for it again and again)."""
    root = extract_root()
    if root in _prepared:
        return root
    try:
        os.makedirs(os.path.dirname(root), mode=0o700, exist_ok=True)
        _private_directory(root)
        _check_ancestors(root)
    except OSError as exc:
        raise CacheError(f"cannot use the cache directory {root}: {exc.strerror}; {HINT}") from None
    _prepared.add(root)
    return root


def files_directory():
    """`<extract root>/files`, private: where AMBER_NATIVE=disk has the C file layer write the members C
    code opens (runtime/fs/archive.c names them by CRC-32, size and leaf, and checks owner and size)."""
    root = prepare_root()
    directory = os.path.join(root, "files")
    try:
        _private_directory(directory)
    except OSError as exc:
        raise CacheError(f"cannot use the cache directory {directory}: {exc.strerror}; {HINT}") from None
    return directory


def _private_directory(path):
    """`path` made a private directory if missing, and checked (_check_private)."""
    try:  # noqa: SIM105 (see _entry_is_complete)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    _check_private(path)


BYTECODE_DIR = "bytecode"  # <extract root>/bytecode/<magic>/: code compiled from the archive's sources
_bytecode_directory = []  # this process's, once made and checked


def compiled(pathname, source, compile_source):
    """The code of a module the archive holds as source only (`compile_source(pathname, source)`, zipimport's
    compiler): read from `<extract root>/bytecode/<magic>/`, where the first import on this machine wrote it,
    as CPython's own __pycache__ keeps what it compiled. A file is named by the source's hash (the one of
    hash-based .pyc files), its size and the optimization level; its header repeats magic and hash, and one
    that does not match or does not load is compiled and written again. The cache not usable: compiled.

    zipimport has read the source by then. Finding the file from the archive's index instead (before the
    source is read) would mean wrapping zipimport's `_get_module_code`, which every import calls twice:
    about 1 µs each, 1 ms of a Django start, for the few imports that come here."""
    import _imp
    import marshal
    from _frozen_importlib_external import _RAW_MAGIC_NUMBER, MAGIC_NUMBER

    digest = _imp.source_hash(_RAW_MAGIC_NUMBER, source)
    header = MAGIC_NUMBER + b"\x03\x00\x00\x00" + digest  # a checked hash-based .pyc's
    try:
        directory = _bytecode_directory[0] if _bytecode_directory else _make_bytecode_directory(MAGIC_NUMBER)
    except (CacheError, OSError):
        return compile_source(pathname, source)
    path = os.path.join(directory, f"{digest.hex()}-{len(source)}-{sys.flags.optimize}.pyc")
    code = _read_code(path, header)
    if code is not None:
        _imp._fix_co_filename(code, pathname)  # the file was compiled for wherever a binary was then
        return code
    code = compile_source(pathname, source)
    tmp = _temporary(os.path.dirname(os.path.dirname(directory)), digest.hex())
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(header + marshal.dumps(code))
        os.replace(tmp, path)
    except OSError:
        try:  # noqa: SIM105 (see _entry_is_complete)
            os.unlink(tmp)
        except OSError:
            pass
    return code


def _make_bytecode_directory(magic):
    """`<extract root>/bytecode/<magic>/`, made private if missing. Its top directory's mtime is its last use
    for `amber cache clean --older-than`, refreshed at most daily (the files are written a level down)."""
    top = os.path.join(prepare_root(), BYTECODE_DIR)
    directory = os.path.join(top, magic.hex())
    for path in (top, directory):
        _private_directory(path)
    if time.time() - os.stat(top).st_mtime > USE_STAMP_INTERVAL:
        os.utime(top)
    _bytecode_directory.append(directory)
    return directory


def _read_code(path, header):
    """The code object of the file at `path` if it starts with `header` and loads; else None."""
    import marshal

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as f:
        data = f.read()
    if data[:len(header)] != header:
        return None
    try:
        code = marshal.loads(memoryview(data)[len(header):])
    except (ValueError, EOFError, TypeError):
        return None
    return code if type(code) is type(_read_code.__code__) else None


def _entry_is_complete(entry, expected):
    """True when `entry` holds exactly the files `expected` (relative paths) as recorded; False when
    missing or different. Raises CacheError for an entry that is not safely ours."""
    try:
        st = os.lstat(entry)
    except FileNotFoundError:
        return False
    _check_private(entry, st)
    try:
        fd = os.open(os.path.join(entry, MARKER), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # an entry without its marker was never completed
    with open(fd, "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").splitlines()
        marker_mtime = os.fstat(fd).st_mtime
    recorded = set()
    for line in lines:
        size, mtime, rel = line.split(" ", 2)
        try:
            st = os.lstat(os.path.join(entry, rel))
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != int(size) or st.st_mtime_ns != int(mtime):
            return False
        recorded.add(rel)
    if recorded != set(expected):
        return False
    if time.time() - marker_mtime > USE_STAMP_INTERVAL:  # `amber cache clean --older-than` reads this
        try:  # noqa: SIM105 (contextlib: 5 ms more for a binary that imports nothing else of it)
            os.utime(os.path.join(entry, MARKER))
        except OSError:
            pass
    return True


def _remove_tree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)  # entries are 0700 directories of ours: nothing to chmod


def _write_files(directory, files, read, copy=None):
    """Write `files` ({relative path: (archive name, executable)}) into the new private `directory`:
    each by copy(name, fd) when given and it can (a kernel copy), else as read(name)."""
    for rel in sorted(files):
        name, executable = files[rel]
        with open(_create(directory, rel, executable), "wb") as f:
            if copy is None or not copy(name, f.fileno()):
                f.write(read(name))


def _create(directory, rel, executable):
    """A new file `rel` under `directory` (its parents made), open for writing: its descriptor."""
    parent = os.path.dirname(rel)
    if parent:
        os.makedirs(os.path.join(directory, parent), mode=0o700, exist_ok=True)
    return os.open(os.path.join(directory, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                   0o500 if executable else 0o400)


def _write_marker(directory, files):
    """The entry's list of what it holds, written last: size and mtime of each file, as written."""
    lines = []
    for rel in sorted(files):
        st = os.lstat(os.path.join(directory, rel))
        lines.append(f"{st.st_size} {st.st_mtime_ns} {rel}\n")
    fd = os.open(os.path.join(directory, MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
    with open(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("".join(lines))


def _temporary(root, key):
    return os.path.join(root, f".tmp-{key[:16]}-{os.getpid()}-{os.urandom(4).hex()}")


def materialize(key, files, read, copy=None, written=None):
    """The directory `<extract root>/<key>` holding `files`, written now if no complete copy exists.

    files: {relative path on disk: (archive member name, executable?)}; read(name) -> bytes;
    copy(name, fd) -> whether it wrote the member into fd itself (optional); written: a temporary
    directory of the extract root that already holds the files (warm()'s), to complete and install.
    Raises CacheError (with a one-line reason) when the cache cannot be used.
    """
    root = prepare_root()
    entry = os.path.join(root, key)
    tmp = written or _temporary(root, key)
    try:
        if _entry_is_complete(entry, files):
            return entry
        if written is None:
            os.mkdir(tmp, 0o700)
            _write_files(tmp, files, read, copy)
        _write_marker(tmp, files)
        for _attempt in range(3):
            try:
                os.rename(tmp, entry)
                return entry
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            if _entry_is_complete(entry, files):  # a concurrent run finished first
                return entry
            # A stale or damaged entry: move it aside (atomically) and retry.
            aside = os.path.join(root, f".stale-{key[:16]}-{os.getpid()}-{os.urandom(4).hex()}")
            try:
                os.rename(entry, aside)
            except FileNotFoundError:
                continue
            _remove_tree(aside)
        raise CacheError(f"cannot install {entry}: it keeps changing under us; {HINT}")
    except OSError as exc:
        raise CacheError(f"cannot extract into {root}: {exc.strerror or exc}; {HINT}") from None
    finally:
        if os.path.lexists(tmp):
            _remove_tree(tmp)


def materialize_file(name, data, executable=True):
    """Archive member `name` alone in its own entry (keyed by its bytes): the path of the file."""
    # The built-in HACL* SHA-256, not hashlib: hashlib imports _hashlib, a shared object that may be
    # the very file being materialized here.
    from _sha2 import sha256

    key = sha256(data).hexdigest()
    return os.path.join(materialize(key, {name: (name, executable)}, lambda _name: data), name)


def keep_member(fs, name):
    """Archive member `name` (a shared object) alone in its own entry, written on first use: the file's path.

    The key comes from what the archive's index says of the member (fingerprint: name, size, CRC-32,
    time), so a warm start reads none of its bytes, unlike materialize_file's digest of them. A cache
    whose file system is mounted noexec cannot serve code: CacheError, and memory serves it. A member
    warm() found in place is not looked at again; one it has the runtime write ahead is waited for.
    """
    if name in _kept:
        return _kept[name]
    if name in _ahead:
        path = _finish(name, fs)
        if path is not None:
            return path
    entry = _member_entry(fs, name)
    path = os.path.join(materialize(os.path.basename(entry), {name: (name, True)}, fs.read, fs.copy_into), name)
    _kept[name] = path
    return path


def _member_entry(fs, name):
    """The entry directory that holds member `name` alone (it may not exist yet)."""
    from _sha2 import sha256  # not hashlib: see materialize_file

    root = prepare_root()  # materialize() asks again: answered from _prepared
    if os.statvfs(root).f_flag & os.ST_NOEXEC:
        raise CacheError(f"{root} is on a file system mounted noexec; {HINT}")
    key = sha256(f"{name}\0{fs.fingerprint(name)}".encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(root, key)


_kept = {}  # archive name -> its cache file, complete when last looked at (this process)
_ahead = {}  # archive name -> (its place in the runtime's list, temporary directory, descriptor, entry)


def warm(fs, names):
    """The first run's head start: have the runtime's C file layer write the shared objects `names` (every
    start loads them: builder/startup.py) into their cache entries on a thread of its own, in that order,
    while the app runs its Python code up to their imports. Decompressing OpenSSL's 5.9 MB or OpenBLAS's
    25 MB costs 6 to 25 ms; on another core, most of it is done by the time they are imported.

    That thread runs no Python: a Python thread doing the same fought the main thread for the GIL at every
    step and made first runs slower, not faster. Here the main thread makes each temporary entry and its
    file (`.tmp-*`, as materialize does), the C thread decompresses into it (`_amber_fs.fill_ahead`), and
    keep_member, at the import, waits for it if need be (`_amber_fs.filled`, without the GIL) and installs
    the entry; an import that comes before the thread started on its member writes it itself
    (`_amber_fs.claim`), so numpy's own extension is decompressed while the thread does OpenBLAS. The
    interpreter installs the rest at exit, so none is left half-written; a fork's child forgets them (the
    parent installs them). A warm start finds every entry in place (the checks keep_member would make,
    once) and starts nothing. Any failure is left to the import to meet."""
    import _amber_fs

    missing = []
    for name in names:
        try:
            entry = _member_entry(fs, name)
            if _entry_is_complete(entry, {name: (name, True)}):
                _kept[name] = os.path.join(entry, name)
            else:
                missing.append((name, entry))
        except (CacheError, OSError):
            return  # the cache cannot serve: each import finds out, and why
    started = []
    for name, entry in missing:
        tmp = _temporary(os.path.dirname(entry), os.path.basename(entry))
        try:
            os.mkdir(tmp, 0o700)
            fd = _create(tmp, name, True)
        except OSError:
            _remove_tree(tmp)
            continue
        _ahead[name] = (len(started), tmp, fd, entry)
        started.append((name, fd))
    if not started:
        return
    import atexit
    import posix

    _amber_fs.fill_ahead([name for name, _fd in started], [fd for _name, fd in started])
    posix.register_at_fork(after_in_child=_ahead.clear)
    atexit.register(lambda: [_finish(name) for name in list(_ahead)])


def _finish(name, fs=None):
    """The cache file of `name` once its file is written and its entry installed; None if that failed. The
    C thread writes it, or, for an import (`fs`) that comes before the thread started on it, the caller."""
    import _amber_fs

    number, tmp, fd, entry = _ahead.pop(name)
    if fs is not None and _amber_fs.claim(number):
        try:
            fs.copy_into(name, fd)
            status = 0
        except OSError:
            status = -1
    else:
        status = _amber_fs.filled(number)  # waits for it without the GIL
    os.close(fd)
    if status != 0:
        _remove_tree(tmp)
        return None
    try:
        path = os.path.join(materialize(os.path.basename(entry), {name: (name, True)}, None, written=tmp), name)
    except CacheError:
        return None
    _kept[name] = path
    return path
