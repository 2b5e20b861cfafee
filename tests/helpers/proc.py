"""Running real processes in tests."""

from __future__ import annotations

import subprocess


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def nomemfd(where) -> str:
    """tests/helpers/nomemfd.c compiled into `where`: `[nomemfd, "kill"|"enosys", program, ...]` runs a program
    whose memfd_create() kills it or fails with ENOSYS."""
    from pathlib import Path

    binary = Path(where) / "nomemfd"
    if not binary.exists():
        subprocess.run(["cc", "-O2", "-o", binary, Path(__file__).parent / "nomemfd.c"], check=True)
    return str(binary)
