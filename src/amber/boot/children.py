"""Children that run this binary as `sys.executable` get a Python interpreter, not the app.

An app binary is also its own interpreter: `sys.executable` is the binary, and
multiprocessing (spawn, forkserver, the resource tracker), concurrent.futures
and `subprocess.run([sys.executable, "-m", ...])` start it with interpreter
arguments. The launcher reads those arguments as a python would only when the
environment holds `AMBER_INTERPRETER` (see launcher.c), a variable it removes
from its own environment at once.

This module sets `AMBER_INTERPRETER=<sys.executable>` in the environment of the
children that may run this binary as a python: those whose argv[0] is
`sys.executable` and whose program is the file at `sys.executable`, and those
whose arguments mention `sys.executable` (`/bin/sh -c '<binary> module.py'`, as
ansible and task runners start an interpreter; `/usr/bin/env <binary> -c ...`).
The value is a request to exactly that binary, and the launcher grants it only
to a command line a python runs code from (`-c`, `-m`, a `.py` script): the same
binary started with the app's own arguments (`jupyter` exec'ing the absolute
path of `jupyter-nbconvert`, which is this binary) runs the app, its script
chosen by argv[0] as links choose it. Any other program ignores the variable.
The process-starting primitives every stdlib path goes through are wrapped
(`_posixsubprocess.fork_exec` for subprocess and multiprocessing's
`spawnv_passfds`, `os.posix_spawn[p]` for subprocess's fast path,
`os.execv[e]` under every `os.exec*`/`os.spawn*`, and `os.system`).

__amber_boot__ imports this module only when a module providing one of the
primitives is first imported (`__amber_hooks__.after_import`), so a hello world does not import it.
"""

import posix
import sys

VARIABLE = "AMBER_INTERPRETER"
_PREFIX = (VARIABLE + "=").encode()


def _may_run_self(program, argv):
    """True when exec'ing `program` with `argv` may run sys.executable as a python: argv[0] is
    sys.executable and the program is that file, or an argument mentions sys.executable (a shell's
    command string, env's program). The launcher decides from the arguments it gets in the end."""
    executable = sys.executable
    if not executable:
        return False
    try:
        args = [_decode(arg) for arg in argv]
    except (TypeError, ValueError):
        return False
    if any(executable in arg for arg in args[1:]):
        return True
    if not args or args[0] != executable:
        return False
    try:
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


def _marked_list(env_list):
    """fork_exec's environment (a list of b"K=V", None = inherit) with the variable set."""
    if env_list is None:
        import os

        env_list = [key + b"=" + value for key, value in os.environb.items()]
    entry = _PREFIX + sys.executable.encode(sys.getfilesystemencoding(), "surrogateescape")
    return [item for item in env_list if not bytes(item).startswith(_PREFIX)] + [entry]


def _marked_mapping(env):
    """An exec/posix_spawn environment (a mapping, None = inherit) with the variable set."""
    import os

    marked = dict(os.environ if env is None else env)
    for key in [k for k in marked if _decode(k) == VARIABLE]:
        del marked[key]
    marked[VARIABLE] = sys.executable
    return marked


def _wrap_fork_exec():
    import _posixsubprocess

    real = _posixsubprocess.fork_exec

    def fork_exec(args, executable_list, close_fds, pass_fds, cwd, env, *rest):
        if args is not None and any(_may_run_self(program, args) for program in executable_list):
            env = _marked_list(env)
        return real(args, executable_list, close_fds, pass_fds, cwd, env, *rest)

    fork_exec.__wrapped__ = real
    _posixsubprocess.fork_exec = fork_exec


def _wrap_os():
    import os

    def wrap_spawn(real):
        def posix_spawn(path, argv, env, *args, **kwargs):
            if _may_run_self(path, argv):
                env = _marked_mapping(env)
            return real(path, argv, env, *args, **kwargs)

        posix_spawn.__name__ = posix_spawn.__qualname__ = real.__name__
        posix_spawn.__wrapped__ = real
        return posix_spawn

    real_execv, real_execve = os.execv, os.execve

    def execv(path, argv):
        if _may_run_self(path, argv):
            return real_execve(path, argv, _marked_mapping(None))
        return real_execv(path, argv)

    def execve(path, argv, env):
        if not isinstance(path, int) and _may_run_self(path, argv):
            env = _marked_mapping(env)
        return real_execve(path, argv, env)

    execv.__wrapped__, execve.__wrapped__ = real_execv, real_execve
    # os.execl*/execvp*/spawn* look these names up in os at call time.
    os.execv, os.execve = execv, execve
    if hasattr(os, "posix_spawn"):
        os.posix_spawn = wrap_spawn(os.posix_spawn)
    # posix_spawnp searches PATH; _may_run_self only matches an argv[0] that is
    # sys.executable (absolute), which posix_spawnp runs as that very path.
    if hasattr(os, "posix_spawnp"):
        os.posix_spawnp = wrap_spawn(os.posix_spawnp)
    os.system = _marked_system(os.system)


def _marked_system(real):
    """os.system runs `/bin/sh -c command` with the process's own C environment, which os.environ does
    not reach: the variable is put there for the call when the command mentions sys.executable."""

    def system(command):
        executable = sys.executable
        try:
            mentions = bool(executable) and executable in _decode(command)
        except (TypeError, ValueError):
            mentions = False
        if not mentions:
            return real(command)
        posix.putenv(VARIABLE, executable)
        try:
            return real(command)
        finally:
            posix.unsetenv(VARIABLE)

    system.__name__ = system.__qualname__ = real.__name__
    system.__doc__, system.__wrapped__ = real.__doc__, real
    return system


WRAPPERS = {"_posixsubprocess": _wrap_fork_exec, "os": _wrap_os}


def wrap(name):
    """Wrap the primitives of module `name` (one of WRAPPERS), which has just been imported."""
    WRAPPERS[name]()
