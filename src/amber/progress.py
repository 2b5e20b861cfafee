"""Progress display and logged subprocesses for long builds.

A runtime build runs hundreds of commands for twenty minutes. The user sees one
status line (stage, library, elapsed time); every byte of output goes to a log
file, and a failure prints the log's path with its last 30 lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from amber.errors import AmberError

TAIL_LINES = 30


class BuildLog:
    """Runs commands with their output appended to one log file."""

    def __init__(self, path: Path, quiet: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", errors="replace")
        self.quiet = quiet
        self.started = time.monotonic()
        self._status = None
        self._console = None
        self._stage = ""
        if not quiet and sys.stderr.isatty():
            from rich.console import Console

            self._console = Console(stderr=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        self._file.close()

    def write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}:{seconds % 60:02d}"

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Show `name` as the current stage while the block runs."""
        self._stage = name
        self.write(f"\n==== {name} ====\n")
        began = time.monotonic()
        if self._console is not None:
            if self._status is None:
                self._status = self._console.status(name)
                self._status.start()
            self._status.update(f"[bold]{name}[/] ({self._elapsed()} elapsed)")
        elif not self.quiet:
            print(f"amber: {name} ...", file=sys.stderr, flush=True)
        yield
        took = time.monotonic() - began
        self.write(f"==== {name}: done in {took:.1f}s ====\n")
        if self._console is not None:
            self._console.print(f"[green]✓[/] {name} [dim]({took:.0f}s)[/]")

    def run(self, cmd: Sequence[str | os.PathLike[str]], cwd: Path, env: dict[str, str] | None = None,
            stdout: Path | None = None) -> None:
        """Run `cmd`, streaming its output into the log (or its stdout into `stdout`).

        A failure raises AmberError with the log's path and its last lines.
        """
        argv = [str(c) for c in cmd]
        self.write(f"$ (cd {cwd} && {' '.join(argv)}){' > ' + str(stdout) if stdout else ''}\n")
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        out_file = stdout.open("w") if stdout else None
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=out_file or subprocess.PIPE, stderr=subprocess.PIPE if out_file else subprocess.STDOUT,
                text=True, errors="replace",
            )
        except OSError as exc:
            raise AmberError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        finally:
            if out_file:
                out_file.close()
        stream = proc.stderr if out_file else proc.stdout
        assert stream is not None
        last_tick = 0.0
        for line in stream:
            self._file.write(line)
            tail.append(line)
            now = time.monotonic()
            if self._status is not None and now - last_tick > 1:
                self._status.update(f"[bold]{self._stage}[/] ({self._elapsed()} elapsed)")
                last_tick = now
        code = proc.wait()
        self._file.flush()
        if code != 0:
            raise AmberError(
                f"{self._stage}: '{' '.join(argv[:3])}' failed with exit code {code}; "
                f"full log: {self.path}\n--- last {TAIL_LINES} lines ---\n{''.join(tail).rstrip()}"
            )
