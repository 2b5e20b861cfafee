"""Locked inputs and --exclude without the runtime: option merging, lock parsing, drift, name matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from amber import targets
from amber.builder.exclude import Exclusion, check_all_matched, check_names, imports_of, member_matches, prune_site
from amber.builder.lock import Inputs, check_installed, find_lock, lock_pins, requirements_member
from amber.builder.project import BuildFlags, BuildOptions, load_project, merge_options
from amber.builder.resolve import InstalledDist
from amber.errors import AmberError

BASE = '[project]\nname = "My_App"\nversion = "1"\n'


def project(tmp_path: Path, text: str):
    (tmp_path / "pyproject.toml").write_text(text)
    return load_project(tmp_path)


def test_lock_options_from_tool_amber_and_flags(tmp_path: Path):
    p = project(tmp_path, BASE + '[tool.amber]\nlocked = true\nrequirements = "pins.txt"\n'
                                 'exclude = ["unittest", "pydoc_data"]\n')
    options = merge_options(p, BuildFlags())
    assert options.locked is True
    assert options.requirements == tmp_path / "pins.txt"  # relative to the project
    assert options.exclude == ["unittest", "pydoc_data"]
    options = merge_options(p, BuildFlags(requirements="other.txt", exclude=["ensurepip", "unittest"]))
    assert options.requirements == Path.cwd() / "other.txt"  # a flag is relative to the current directory
    assert options.exclude == ["unittest", "pydoc_data", "ensurepip"]  # flags add to the table, once each
    plain = merge_options(project(tmp_path, BASE), BuildFlags())
    assert (plain.locked, plain.requirements, plain.exclude) == (False, None, [])


@pytest.mark.parametrize("text, message", [
    ('[tool.amber]\nexclude = "unittest"\n', "exclude must be a list"),
    ('[tool.amber]\nexclude = ["unittest", 3]\n', "exclude must be a list of strings"),
    ('[tool.amber]\nlocked = "yes"\n', "locked must be true or false"),
    ('[tool.amber]\nrequirements = ["a.txt"]\n', "requirements must be a string"),
])
def test_malformed_lock_options(tmp_path: Path, text: str, message: str):
    with pytest.raises(AmberError, match=message):
        project(tmp_path, BASE + text)


PYLOCK = '''lock-version = "1.0"
created-by = "test"
[[packages]]
name = "Six"
version = "1.16.0"
[[packages]]
name = "from-git"
vcs = { type = "git", url = "x", commit-id = "0" }
[[packages]]
name = "six"
version = "1.17.0"
marker = "python_version >= '3.14'"
'''
UV_LOCK = '''version = 1
revision = 3
[[package]]
name = "dep"
version = "0.3"
source = { directory = "../dep" }
[[package]]
name = "Six"
version = "1.16.0"
'''


def test_pylock_pins_and_lock_choice(tmp_path: Path):
    assert find_lock(tmp_path) is None
    (tmp_path / "pylock.toml").write_text(PYLOCK)
    assert find_lock(tmp_path) == tmp_path / "pylock.toml"
    assert lock_pins(tmp_path / "pylock.toml") == {"six": {"1.16.0", "1.17.0"}, "from-git": {""}}
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    assert find_lock(tmp_path) == tmp_path / "uv.lock"  # uv can check its own lock against pyproject.toml
    assert lock_pins(tmp_path / "uv.lock") == {"six": {"1.16.0"}, "dep": {"0.3"}}
    (tmp_path / "pylock.toml").write_text("[[packages]]\nname = 'x'\n")
    with pytest.raises(AmberError, match="not a PEP 751 lock file"):
        lock_pins(tmp_path / "pylock.toml")
    (tmp_path / "pylock.toml").write_text("[[packages]\n")
    with pytest.raises(AmberError, match="not a valid pylock.toml"):
        lock_pins(tmp_path / "pylock.toml")
    (tmp_path / "uv.lock").write_text("[[package]]\nname = 'x'\n")
    with pytest.raises(AmberError, match="not a uv lock file"):
        lock_pins(tmp_path / "uv.lock")


def dist(name: str, version: str) -> InstalledDist:
    return InstalledDist(name, version, ("py3-none-any",), f"{name}-{version}.dist-info")


def test_installed_versions_must_be_the_locks(tmp_path: Path):
    p = project(tmp_path, BASE)
    messages: list[str] = []
    inputs = Inputs(lock="pylock.toml", pins={"six": {"1.16.0"}, "from-git": {""}})
    check_installed(inputs, p, [dist("My_App", "1"), dist("six", "1.16.0"), dist("from_git", "0.1")], messages.append)
    assert messages == [] and not inputs.stale
    drifted = [dist("my-app", "1"), dist("Six", "1.17.0"), dist("click", "8.1.8")]
    check_installed(inputs, p, drifted, messages.append)
    assert inputs.stale
    assert messages == ["amber: warning: pylock.toml does not satisfy the project's requirements; the resolver "
                        "added Six 1.17.0 (pylock.toml has 1.16.0), click 8.1.8"]
    with pytest.raises(AmberError, match=r"added Six 1.17.0 .*: regenerate the lock, or build without --locked"):
        check_installed(Inputs(lock="uv.lock", locked=True, pins={"six": {"1.16.0"}}), p, drifted)
    check_installed(Inputs(), p, drifted)  # no lock: whatever the resolver picked


def test_requirements_record_leaves_out_the_project(tmp_path: Path):
    p = project(tmp_path, BASE)
    member = requirements_member(Inputs(lock="uv.lock"), p, [dist("Zope.Interface", "7"), dist("my_app", "1"),
                                                             dist("Click", "8.1.8")], "3.13.15",
                                 BuildOptions(target=targets.AARCH64_GNU))
    assert member.name == ".amber/requirements.lock"
    lines = member.data.decode().splitlines()
    assert lines[0] == ("# Installed by amber build for CPython 3.13.15 on aarch64-linux-gnu, manylinux_2_28, "
                        "pins from uv.lock.")
    assert lines[2:] == ["click==8.1.8", "zope-interface==7"]


def test_exclude_name_matching():
    assert member_matches("unittest/mock.pyc", "unittest")
    assert member_matches("json.py", "json") and member_matches("json.pyc", "json")
    assert member_matches("_yaml.cpython-313-x86_64-linux-gnu.so", "_yaml")
    assert member_matches("email/mime/text.pyc", "email.mime")
    assert not member_matches("unittestx/a.pyc", "unittest")
    assert not member_matches("jsonschema.py", "json")
    assert not member_matches("email/mime.pyc", "email.mime.text")
    assert not member_matches("pkg/_yaml.cpython-313-x86_64-linux-gnu.so", "_yaml")


def test_exclude_refuses_bad_and_needed_names():
    needed = {"encodings", "encodings.utf_8", "os", "zipimport"}
    check_names(["unittest", "PyYAML", "email.mime", "zope-interface"], needed)
    with pytest.raises(AmberError, match="cannot exclude encodings: the binary's start-up code needs encodings"):
        check_names(["encodings"], needed)
    with pytest.raises(AmberError, match="is not a distribution, package or module name"):
        check_names(["../etc"], needed)
    with pytest.raises(AmberError, match="--exclude nope, nada: no installed distribution"):
        check_all_matched(Exclusion(["unittest", "nope", "nada"], matched={"unittest"}))


def test_exclude_prunes_a_distribution_or_a_module_from_site(tmp_path: Path, monkeypatch):
    site = tmp_path / "site"
    files = {
        "yaml/__init__.py": "", "yaml/composer.py": "", "_yaml.cpython-313-x86_64-linux-gnu.so": "",
        "PyYAML-6.0.dist-info/METADATA": "Name: PyYAML\nVersion: 6.0\n",
        "PyYAML-6.0.dist-info/RECORD": "yaml/__init__.py,,\nyaml/composer.py,,\n"
                                       "_yaml.cpython-313-x86_64-linux-gnu.so,,\nPyYAML-6.0.dist-info/RECORD,,\n",
        "six.py": "", "six-1.16.0.dist-info/METADATA": "Name: six\nVersion: 1.16.0\n",
        "six-1.16.0.dist-info/RECORD": "six.py,,\n",
        "my_app/__init__.py": "", "my_app/tests/test_x.py": "",
        "my_app-1.dist-info/METADATA": "Name: my_app\nVersion: 1\n",
    }
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    monkeypatch.setattr("amber.builder.exclude.startup_modules", lambda runtime, boot: {"os"})
    exclusion = prune_site(site, ["pyyaml", "six", "my_app.tests", "unittest"], "My-App", Path("/runtime"))
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert left == ["my_app-1.dist-info/METADATA", "my_app/__init__.py"]  # six is a distribution too: all of it
    assert exclusion.matched == {"pyyaml", "six", "my_app.tests"}  # unittest is for the stdlib step
    assert exclusion.modules["pyyaml"] == {"yaml", "_yaml"}
    assert exclusion.module_of("yaml.composer") == "pyyaml" and exclusion.module_of("yamlx") is None
    with pytest.raises(AmberError, match="cannot exclude my_app: it is the project being built"):
        prune_site(site, ["my_app"], "My-App", Path("/runtime"))


def test_imports_of_a_module():
    source = b"import os.path, json as j\nfrom email import mime\nfrom . import sibling\nfrom x import *\n"
    assert imports_of(source) == {"os.path", "json", "email", "email.mime", "x"}
    assert imports_of(b"def broken(:\n") == set()
