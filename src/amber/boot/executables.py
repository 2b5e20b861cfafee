"""Programs shipped inside the archive, started with subprocess, os.exec* or os.posix_spawn (runs inside the binary).

A package may carry a program and run it by path, e.g.
`subprocess.run([os.path.join(os.path.dirname(__file__), "bin", "tool")])`.
That path lies inside the binary, where no kernel can execute it. Instead the
program's bytes go to a sealed memory file and the child executes
/proc/self/fd/N, with argv[0] still the archive path; where memory files
cannot be executed (no /proc, no memfd, vm.memfd_noexec=2) the program runs
from the extraction cache. Nothing is written to a temporary directory, so a
noexec /tmp does not matter.

Each program gets one memory file per process, reused by later starts. For
subprocess the descriptor is passed to the child (pass_fds), because a `#!`
script's interpreter opens /proc/self/fd/N after exec; an ELF program needs
it only until exec.
"""

import os

_fds = {}  # archive name -> sealed memfd (close-on-exec in this process)
_programs = None


class Executables:
    def __init__(self, fs, executables, policy="auto"):
        self.fs = fs
        self.executables = executables  # archive names carrying an executable mode
        self.policy = policy  # AMBER_NATIVE: "disk" runs programs from the extraction cache only

    def member(self, path):
        """The archive name when `path` names a program inside the binary, else None. A bare name
        (no slash) finds a wheel's script program (`bin/<name>`) first, as in an activated venv."""
        if isinstance(path, int):
            return None
        if isinstance(path, str) and "/" not in path and f"bin/{path}" in self.executables:
            return f"bin/{path}"
        rel = self.fs.relative(path)
        return rel if rel is not None and rel in self.executables else None

    def runnable(self, rel):
        """(path the kernel can execute, descriptor the child must keep or None)."""
        fd = _fds.get(rel)
        if fd is None and self.policy != "disk":
            from __amber_memfd__ import sealed_copy

            fd = sealed_copy(self.fs, rel)
            if fd >= 0:
                _fds[rel] = fd
        if fd is not None and fd >= 0:
            return f"/proc/self/fd/{fd}", fd
        return self.cache_path(rel), None

    def cache_path(self, rel):
        """Program `rel` as a file of the extraction cache (where memory files cannot run)."""
        from __amber_cache__ import CacheError, materialize_file

        try:
            return materialize_file(rel, self.fs.read(rel))
        except CacheError as exc:
            raise PermissionError(13, f"cannot run {self.fs.prefix}{rel}: {exc}") from None


def _first_arg(args):
    if isinstance(args, (str, bytes, os.PathLike)):
        return args
    return args[0] if args else None


def wrap_subprocess(programs):
    """subprocess.Popen (so run/call/check_output too) of an archive path runs the program from memory."""
    import subprocess

    real_execute_child = subprocess.Popen._execute_child

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                       creationflags, shell, *rest):
        if not shell:
            rel = programs.member(executable if executable is not None else _first_arg(args))
            if rel is not None:
                if isinstance(args, (str, bytes, os.PathLike)):
                    args = [args]
                executable, fd = programs.runnable(rel)
                if fd is not None:
                    pass_fds = tuple(sorted({*pass_fds, fd}))
        return real_execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env,
                                  startupinfo, creationflags, shell, *rest)

    subprocess.Popen._execute_child = _execute_child


def wrap_os(programs):
    """os.execv/execve (and so every os.exec*) and os.posix_spawn of an archive path."""
    real_execv, real_execve = os.execv, os.execve

    def runnable(path, keep_for_interpreter):
        rel = programs.member(path)
        if rel is None:
            return path
        path, fd = programs.runnable(rel)
        if fd is not None and keep_for_interpreter:
            os.set_inheritable(fd, True)  # this process is replaced: a #! interpreter may open it
        return path

    def execv(path, argv):
        return real_execv(runnable(path, True), argv)

    def execve(path, argv, env):
        return real_execve(runnable(path, True), argv, env)

    wrappers = [(execv, real_execv, "execv"), (execve, real_execve, "execve")]
    if hasattr(os, "posix_spawn"):
        real_spawn = os.posix_spawn

        def posix_spawn(path, argv, env, **kwargs):
            return real_spawn(runnable(path, False), argv, env, **kwargs)

        wrappers.append((posix_spawn, real_spawn, "posix_spawn"))
    for wrapper, real, name in wrappers:
        wrapper.__name__ = wrapper.__qualname__ = name
        wrapper.__doc__, wrapper.__wrapped__ = real.__doc__, real
        setattr(os, name, wrapper)


def wrap(module_name, fs, executables, policy="auto"):
    """Called right after `os` or `subprocess` is first imported: wrap its program starters (and tell the
    C file layer who serves posix_spawn() from C code where memory files cannot run)."""
    global _programs
    if _programs is None:
        _programs = Executables(fs, executables, policy)
        from __amber_native__ import register_loaders

        register_loaders(programs=_programs.cache_path)
    (wrap_os if module_name == "os" else wrap_subprocess)(_programs)
