"""Building the test fixtures (tests/fixtures/<name>) with `amber build`, as a user would."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from helpers.proc import run

FIXTURES = Path(__file__).parent.parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]


def copy_fixture(name: str, where: Path) -> Path:
    """A fresh copy of fixture `name` at `where/name` (builds write dist/ into the project)."""
    target = where / name
    shutil.copytree(FIXTURES / name, target)
    return target


def build_fixture(name: str, where: Path, *flags: str, timeout: int = 900) -> Path:
    """`amber build` of a copy of fixture `name`: the binary's path (the build must succeed)."""
    project = copy_fixture(name, where)
    out = run([*AMBER, "build", project, *flags], timeout=timeout)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def manylinux_wheel(project: Path, where: Path, platform: str = "manylinux_2_17_x86_64", ldflags: str = "") -> Path:
    """The wheel of `project` (with C extensions, linked with `ldflags`), compiled in an `amber venv` against the
    runtime's headers and tagged `platform`, as auditwheel would after checking it (amber build takes manylinux
    wheels only)."""
    import base64
    import hashlib
    import zipfile

    venv = where / "venv"
    out = run([*AMBER, "venv", venv], timeout=600)
    assert out.returncode == 0, out.stderr
    out = run([venv / "bin" / "python", "-m", "pip", "wheel", "-q", "--no-deps", project, "-w", where],
              env={"PATH": "/usr/bin:/bin", "HOME": str(where), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                   "LDFLAGS": ldflags}, timeout=600)
    assert out.returncode == 0, out.stderr
    (built,) = where.glob("*-linux_x86_64.whl")
    tagged = where / built.name.replace("linux_x86_64", platform)
    with zipfile.ZipFile(built) as source, zipfile.ZipFile(tagged, "w", zipfile.ZIP_DEFLATED) as target:
        wheel_name = next(n for n in source.namelist() if n.endswith(".dist-info/WHEEL"))
        record_name = wheel_name.replace("/WHEEL", "/RECORD")
        wheel = source.read(wheel_name).decode().replace("-linux_x86_64", f"-{platform}").encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(wheel).digest()).rstrip(b"=").decode()
        record = "".join(f"{wheel_name},sha256={digest},{len(wheel)}\n" if line.startswith(wheel_name + ",") else line
                         for line in source.read(record_name).decode().splitlines(keepends=True))
        for name in source.namelist():
            data = {wheel_name: wheel, record_name: record.encode()}.get(name) or source.read(name)
            target.writestr(source.getinfo(name), data)
    built.unlink()
    return tagged


def compile_c(source: Path, output: Path, target, *flags: str) -> Path:
    """`source` compiled with zig cc for `target` (an amber.targets.Target), as the runtime builds compile:
    a test's own C library or program for another CPU than this machine's."""
    import subprocess

    from amber.paths import cache_root
    from amber.runtime.toolchain import zig_binary

    subprocess.run([zig_binary(), "cc", "-target", target.zig_target, *flags, "-o", output, source], check=True,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": str(output.parent),
                                             "ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "toolchain" / "zig-cache")})
    return output
