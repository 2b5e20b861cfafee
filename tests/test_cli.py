"""The `amber` command line: runtime subcommands and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers.proc import run

AMBER = [sys.executable, "-m", "amber"]


def test_help_lists_the_runtime_commands():
    out = run([*AMBER, "runtime", "--help"])
    assert out.returncode == 0
    for action in ("build", "path", "list"):
        assert action in out.stdout


def test_unknown_python_is_a_one_line_error():
    out = run([*AMBER, "runtime", "path", "--python", "2.7"])
    assert out.returncode == 1
    assert out.stderr.startswith("amber: no runtime recipe for Python '2.7'")
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_list_with_an_empty_cache(tmp_path: Path):
    out = run([*AMBER, "runtime", "list"], env={"AMBER_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0
    assert "no runtime is cached" in out.stderr


@pytest.mark.runtime
def test_path_and_list_name_the_cached_runtime(runtime: Path):
    out = run([*AMBER, "runtime", "path"])
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == runtime
    listing = run([*AMBER, "runtime", "list"])
    assert str(runtime) in listing.stdout and "3.13.15" in listing.stdout
    assert "glibc>=GLIBC_2.17" in listing.stdout or "glibc>=GLIBC_2.1" in listing.stdout


@pytest.mark.runtime
def test_cached_runtime_directory_layout(runtime: Path):
    root = runtime.parent.parent
    assert (root / "bin" / "python3").resolve() == runtime
    assert (root / "include" / "python3.13" / "Python.h").is_file()
    assert (root / "include" / "python3.13" / "pyconfig.h").is_file()
    meta = (root / "runtime.json").read_text()
    assert '"python_version": "3.13.15"' in meta
    assert (root / "build.log").stat().st_size > 0


def test_interrupt_exits_130(tmp_path: Path):
    code = ("import amber.cli as c, sys\n"
            "def boom(args): raise KeyboardInterrupt\n"
            "p = c.build_parser(); a = p.parse_args(['runtime', 'list']); a.func = boom\n"
            "c.build_parser = lambda: type('P', (), {'parse_args': lambda self, argv=None: a})()\n"
            "sys.exit(c.main([]))\n")
    out = run([sys.executable, "-c", code])
    assert out.returncode == 130
    assert out.stderr.strip() == "amber: interrupted"
