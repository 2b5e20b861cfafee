"""Children that run this binary as `sys.executable` get a Python interpreter, not the app.

An app binary is also its own interpreter: `sys.executable` is the binary, and
multiprocessing (spawn, forkserver, the resource tracker), concurrent.futures
and `subprocess.run([sys.executable, "-m", ...])` start it with interpreter
arguments. The launcher reads those arguments as a python would only when the
environment holds `AMBER_INTERPRETER` (see launcher.c), a variable it removes
from its own environment at once.

This module puts the variable into the environment of exactly those children
whose argv[0] is `sys.executable` and whose program is the file at
`sys.executable`: the process-starting primitives every stdlib path goes through
are wrapped (`_posixsubprocess.fork_exec` for subprocess and multiprocessing's
`spawnv_passfds`, `os.posix_spawn[p]` for subprocess's fast path, `os.execv[e]`
under every `os.exec*`/`os.spawn*`). Any other program (a shell, /usr/bin/env,
the host's python3) and the app started by another name (`sys.argv[0]`, a PATH
name) get the environment unchanged, so the variable never reaches a grandchild.

__amber_boot__ imports this module only when a module providing one of the
primitives is first imported (`AfterImport`), so a hello world does not import it.
"""

import posix
import sys

VARIABLE = "AMBER_INTERPRETER"
_ENTRY = (VARIABLE + "=1").encode()
_PREFIX = (VARIABLE + "=").encode()


def _is_self(program, argv0):
    """True when exec'ing `program` with this argv[0] means "run sys.executable as python"."""
    executable = sys.executable
    if not executable or argv0 is None:
        return False
    try:
        if _decode(argv0) != executable:
            return False
        mine = posix.stat(executable)
        theirs = posix.stat(program)
    except (OSError, TypeError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _decode(path):
    """A path-like argument as str, the way os.fsdecode would (posix has no fsdecode)."""
    path = posix.fspath(path)
    if isinstance(path, bytes):
        return path.decode(sys.getfilesystemencoding(), "surrogateescape")
    return path


def _first(argv):
    try:
        return argv[0]
    except (IndexError, KeyError, TypeError):
        return None


def _marked_list(env_list):
    """fork_exec's environment (a list of b"K=V", None = inherit) with the variable set."""
    if env_list is None:
        import os

        env_list = [key + b"=" + value for key, value in os.environb.items()]
    return [entry for entry in env_list if not bytes(entry).startswith(_PREFIX)] + [_ENTRY]


def _marked_mapping(env):
    """An exec/posix_spawn environment (a mapping, None = inherit) with the variable set."""
    import os

    marked = dict(os.environ if env is None else env)
    for key in [k for k in marked if _decode(k) == VARIABLE]:
        del marked[key]
    marked[VARIABLE] = "1"
    return marked


def _wrap_fork_exec():
    import _posixsubprocess

    real = _posixsubprocess.fork_exec

    def fork_exec(args, executable_list, close_fds, pass_fds, cwd, env, *rest):
        argv0 = _first(args)
        for program in executable_list:
            if _is_self(program, argv0):
                env = _marked_list(env)
                break
        return real(args, executable_list, close_fds, pass_fds, cwd, env, *rest)

    fork_exec.__wrapped__ = real
    _posixsubprocess.fork_exec = fork_exec


def _wrap_os():
    import os

    def wrap_spawn(real):
        def posix_spawn(path, argv, env, *args, **kwargs):
            if _is_self(path, _first(argv)):
                env = _marked_mapping(env)
            return real(path, argv, env, *args, **kwargs)

        posix_spawn.__name__ = posix_spawn.__qualname__ = real.__name__
        posix_spawn.__wrapped__ = real
        return posix_spawn

    real_execv, real_execve = os.execv, os.execve

    def execv(path, argv):
        if _is_self(path, _first(argv)):
            return real_execve(path, argv, _marked_mapping(None))
        return real_execv(path, argv)

    def execve(path, argv, env):
        if not isinstance(path, int) and _is_self(path, _first(argv)):
            env = _marked_mapping(env)
        return real_execve(path, argv, env)

    execv.__wrapped__, execve.__wrapped__ = real_execv, real_execve
    # os.execl*/execvp*/spawn* look these names up in os at call time.
    os.execv, os.execve = execv, execve
    if hasattr(os, "posix_spawn"):
        os.posix_spawn = wrap_spawn(os.posix_spawn)
    # posix_spawnp searches PATH; _is_self only matches an argv[0] that is
    # sys.executable (absolute), which posix_spawnp runs as that very path.
    if hasattr(os, "posix_spawnp"):
        os.posix_spawnp = wrap_spawn(os.posix_spawnp)


WRAPPERS = {"_posixsubprocess": _wrap_fork_exec, "os": _wrap_os}


def wrap(name):
    """Wrap the primitives of module `name` (one of WRAPPERS), which has just been imported."""
    WRAPPERS[name]()
