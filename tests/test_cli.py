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


def test_interrupt_exits_130(monkeypatch, capsys):
    from amber import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_runtime_list", interrupted)
    assert cli.main(["runtime", "list"]) == 130
    assert capsys.readouterr().err.strip() == "amber: interrupted"


def test_build_without_a_runtime_says_how_to_get_one(tmp_path: Path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n[project.scripts]\np = "p:main"\n')
    out = run([*AMBER, "build", project], env={"AMBER_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert out.stderr.strip() == ("amber: no amber runtime for Python 3.13.15 is built yet: run "
                                  "'amber runtime build --python 3.13' first (about 20 minutes, once)")
    assert not (project / "dist").exists()


@pytest.mark.runtime
def test_a_reader_that_goes_away_stops_amber_without_a_traceback(runtime: Path):
    """`amber inspect BINARY | head -1`: the write into the closed pipe ends amber as it ends cat (status 141)."""
    import os
    import subprocess

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before amber writes a byte
    try:
        proc = subprocess.run([*AMBER, "inspect", str(runtime)], stdout=write_end, stderr=subprocess.PIPE,
                              timeout=120)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, b"")
