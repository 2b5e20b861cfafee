"""Real tools, first try (issue #20) under pytest: popular command line tools from PyPI, each built into one file
from a wrapper project that only pins it, used as their users use them in a Python-less chroot.

Each tool of tests/realapps/ is built with plain `amber build` and its commands run in a root holding glibc's
files, /proc and a noexec /tmp (plus what the tool cannot do without, e.g. ansible's /bin/sh); every check must
pass. The builds take minutes, so only `AMBER_COMPAT=all` runs them, with the whole compatibility suite;
`tests/realapps/run.py` runs the same code and writes the real tools section of docs/compat.md. The wrapper
projects are checked in every run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from realapps import run as realapps

pytestmark = pytest.mark.compat
FULL = os.environ.get("AMBER_COMPAT") == "all"
PIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+$")


@pytest.mark.runtime
@pytest.mark.root
@pytest.mark.skipif(not FULL, reason="AMBER_COMPAT=all runs it")
@pytest.mark.parametrize("tool", list(realapps.TOOLS))
def test_tool_works_in_an_empty_chroot(tool: str, runtime: Path, tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    result = realapps.run_tool(tool, tmp_path, log=lambda _message: None)
    assert not result.build_error, result.report()
    assert [c.name for c in result.checks] == [c.name for c in realapps.TOOLS[tool].checks], result.report()
    failed = [c.name for c in result.checks if not c.ok]
    assert not failed, f"{tool}: {len(failed)} of {len(result.checks)} checks failed: {failed}\n\n{result.report()}"
    assert result.ok


def test_wrappers_pin_everything_and_export_the_scripts_run_uses():
    """Each tool directory is a wrapper project whose every dependency is an exact pin (the tool's among them),
    whose scripts are the ones TOOLS links and calls, and whose default script names the binary."""
    directories = sorted(p.name for p in realapps.HERE.iterdir() if (p / "pyproject.toml").is_file())
    assert directories == sorted(realapps.TOOLS)
    for name, tool in realapps.TOOLS.items():
        project = realapps.project(name)
        assert project["project"]["name"] == f"realapp-{name}"
        dependencies = project["project"]["dependencies"]
        assert all(PIN_RE.match(d) for d in dependencies), (name, [d for d in dependencies if not PIN_RE.match(d)])
        pins = realapps.pinned_versions(name)
        assert len(pins) == len(dependencies), (name, "a distribution pinned twice")
        assert tool.dist in pins, (name, tool.dist)
        scripts = project["project"]["scripts"]
        assert sorted(scripts) == sorted(tool.scripts), name
        default = project.get("tool", {}).get("amber", {}).get("entry") or (
            next(iter(scripts)) if len(scripts) == 1 else None)
        assert default == tool.binary, (name, default, tool.binary)
        called = {c.argv[0] for c in tool.checks if isinstance(c, realapps.Command | realapps.Serve)}
        assert called <= set(tool.scripts), (name, called - set(tool.scripts))
        assert set(tool.needs) <= set(realapps.NEEDS), name


def test_the_docs_section_is_replaced_between_its_markers(tmp_path: Path):
    doc = tmp_path / "compat.md"
    doc.write_text("# Compatibility suite\n\ntext\n")
    result = realapps.ToolResult("black", "1.0", Path("black"), 3.0, 42_000_000, [],
                                 checks=[realapps.CheckResult("version", "black --version", True)])
    realapps.write_section(realapps.markdown([result], 60), doc)
    once = doc.read_text()
    assert once.startswith("# Compatibility suite\n\ntext\n\n" + realapps.BEGIN + "\n## Real tools\n")
    assert "| black | 1.0 | 3 s | 42.0 MB | - | 1/" in once
    realapps.write_section(realapps.markdown([result], 60), doc)
    assert doc.read_text() == once
    assert once.count(realapps.BEGIN) == once.count(realapps.END) == 1


def test_a_failed_check_names_the_error_line():
    output = "Traceback (most recent call last):\n  File \"x.py\", line 1\nlocale.Error: unsupported locale setting\n"
    assert realapps.key_line(output) == "locale.Error: unsupported locale setting"
    assert realapps.key_line("") == "(no output)"
