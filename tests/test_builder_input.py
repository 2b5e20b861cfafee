"""Bad input to `amber build` (issue #8, item 5): entry points that are not in the build and a
missing uv are one `amber: ...` line, exit 1, no file in dist/ and no temporary directory left
behind; hostile wheels (path traversal, absolute paths, symlinks) write nothing outside."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]


def hello_project(tmp_path: Path, scripts: str | None = None, dependencies: str | None = None) -> Path:
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    text = (project / "pyproject.toml").read_text()
    if scripts is not None:
        text = text.split("[project.scripts]")[0] + "[project.scripts]\n" + scripts
    if dependencies is not None:
        text = text.replace('requires-python = ">=3.11"', f'requires-python = ">=3.11"\ndependencies = {dependencies}')
    (project / "pyproject.toml").write_text(text)
    return project


def build_error(project: Path, tmp_path: Path, code: str | None = None) -> str:
    """Run amber build (optionally through `code` instead of the CLI); assert the failure contract."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmpdir))
    argv = [sys.executable, "-c", code, str(project)] if code else [*AMBER, "build", str(project)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("amber: "), result.stderr
    assert not (project / "dist").exists() or not any((project / "dist").iterdir())
    assert list(tmpdir.iterdir()) == []  # every temporary directory removed
    return lines[0]


def test_entry_point_missing_from_the_build(runtime: Path, tmp_path: Path):
    project = hello_project(tmp_path, scripts='hello = "hello.nothere:main"\n')
    assert "module hello.nothere is not in the built packages" in build_error(project, tmp_path)
    shutil.rmtree(project)
    project = hello_project(tmp_path, scripts='hello = "hello.cli:nothere"\n')
    assert "hello.cli defines no nothere" in build_error(project, tmp_path)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def hostile_wheel(directory: Path, name: str, entry: zipfile.ZipInfo, data: bytes) -> Path:
    """A wheel whose one extra member is `entry` (a traversal name, an absolute path, a symlink)."""
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    files = {f"{name}/__init__.py": b"", f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
             "Version: 1.0\n".encode(),
             f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
             b"Tag: py3-none-any\n"}
    record = [_record_line(n, d) for n, d in files.items()] + [_record_line(entry.filename, data),
                                                              f"{name}-1.0.dist-info/RECORD,,"]
    with zipfile.ZipFile(wheel, "w") as zf:
        for member_name, member_data in files.items():
            zf.writestr(member_name, member_data)
        zf.writestr(entry, data)
        zf.writestr(f"{name}-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
def test_hostile_wheels_write_nothing_outside(runtime: Path, tmp_path: Path, kind: str):
    """uv, which installs every wheel, drops members with a traversal or absolute name (and their
    RECORD lines) and writes a symlink member as a regular file; amber then ships only what is
    inside site-packages, and no symlink (site_files refuses one)."""
    victim = tmp_path / "victim"
    victim.mkdir()
    if kind == "traversal":
        entry = zipfile.ZipInfo("../../../../../../../../" + str(victim / "escaped.py").lstrip("/"))
    elif kind == "absolute":
        entry = zipfile.ZipInfo(str(victim / "absolute.py"))
    else:
        entry = zipfile.ZipInfo("evil/link")
        entry.create_system = 3
        entry.external_attr = 0o120777 << 16  # a symlink pointing outside
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    data = str(victim).encode() if kind == "symlink" else b"print('escaped')\n"
    wheel = hostile_wheel(wheels, "evil", entry, data)
    project = hello_project(tmp_path, dependencies=f'["evil @ {wheel.as_uri()}"]')
    out = subprocess.run([*AMBER, "build", str(project)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert list(victim.iterdir()) == []
    with zipfile.ZipFile(project / "dist" / "hello") as zf:
        names = {i.filename: i for i in zf.infolist()}
    assert not any(".." in n.split("/") or n.startswith("/") or "escaped" in n or "absolute" in n for n in names)
    if kind == "symlink":
        link = names["evil/link"]
        assert (link.external_attr >> 16) & 0o170000 == 0o100000  # a regular file, not a link


def test_uv_missing_is_one_line(runtime: Path, tmp_path: Path):
    project = hello_project(tmp_path)
    code = ("import sys\nsys.modules['uv'] = None  # as if the uv package were not installed\n"
            "from amber.cli import main\nsys.exit(main(['build', sys.argv[1]]))\n")
    assert "uv is not installed" in build_error(project, tmp_path, code)
