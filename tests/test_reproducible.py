"""Two builds of the same inputs are byte-identical: another directory, another user, another environment.

The second build runs as a freshly created system user, with its own HOME (so
its own, empty uv cache), a copy of the runtime under another cache path, a
different umask, time zone, locale, hash seed and SOURCE_DATE_EPOCH, from a
project copy at another path. Anything of that reaching the binary changes
its sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
# How this machine reaches the package index (CA bundle, proxies, mirrors): passed on, it changes no byte.
NETWORK_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "NO_PROXY", "ALL_PROXY", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
                "UV_NATIVE_TLS", "UV_SYSTEM_CERTS")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def other_user():
    """A throw-away system user and a world-readable scratch directory; both removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating a user needs root")
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("runuser")):
        pytest.skip("useradd/userdel/runuser are not installed")
    name = f"amberrepro{os.getpid() % 100000}"
    base = Path(tempfile.mkdtemp(prefix="amber-repro-"))
    base.chmod(0o755)
    home = base / "home"
    subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh",
                    name], check=True, capture_output=True)
    try:
        home.mkdir()
        shutil.chown(home, name, name)
        yield name, base, home
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def amber_for(user: str) -> list[str]:
    """A command that runs this checkout's amber as `user`, or a skip.

    Our interpreter may live where others cannot read it (a pyenv under /root), so
    the first one the user can execute is taken, with amber and its pure-Python
    dependencies put on sys.path by code (PYTHONPATH would reach uv's build backends).
    """
    import packaging
    import uv

    import amber

    paths = list(dict.fromkeys(str(Path(m.__file__).parent.parent) for m in (amber, packaging, uv)))
    code = f"import sys; sys.path[:0] = {paths!r}; from amber.cli import main; sys.exit(main())"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in dict.fromkeys([sys.executable, f"/usr/bin/python{version}", "/usr/bin/python3"]):
        probe = run(["runuser", "-u", user, "--", python, "-c", code, "--version"])
        if probe.returncode == 0:
            return [python, "-c", code]
    pytest.skip(f"no Python that {user} may run can import amber")


def test_rebuild_elsewhere_as_another_user_is_byte_identical(runtime: Path, tmp_path: Path, other_user):
    name, base, home = other_user
    first_project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", first_project)
    first = tmp_path / "first"
    out = run([*AMBER, "build", first_project, "-o", first], timeout=600)
    assert out.returncode == 0, out.stderr

    # The other user's world: a copy of the runtime under another cache path, the project elsewhere.
    cache = base / "cache"
    runtime_root = runtime.parent.parent
    shutil.copytree(runtime_root, cache / "runtimes" / runtime_root.name, symlinks=True,
                    ignore=shutil.ignore_patterns("build.log"))
    project = base / "src" / "another-checkout"
    shutil.copytree(FIXTURES / "hello", project)
    for path in [base / "src", *(base / "src").rglob("*")]:
        shutil.chown(path, name, name)
    second = base / "src" / "out" / "app"
    env = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}", f"AMBER_CACHE={cache}", "LC_ALL=C",
           "TZ=Pacific/Kiritimati", "PYTHONHASHSEED=4242", "SOURCE_DATE_EPOCH=1700000000", f"TMPDIR={home}",
           *(f"{k}={v}" for k, v in os.environ.items() if k in NETWORK_VARS)]
    script = 'umask 027; exec "$@"'
    out = run(["runuser", "-u", name, "--", *env, "sh", "-c", script, "sh", *amber_for(name), "build", project,
               "-o", second], timeout=900)
    assert out.returncode == 0, out.stderr
    assert second.stat().st_uid != 0  # really built by the other user

    assert sha256(second) == sha256(first)
    data = first.read_bytes()
    for leak in (str(tmp_path), "amber-build-", str(runtime_root), "/.cache/uv"):
        assert leak.encode() not in data, f"{leak} is written into the binary"


def test_what_an_earlier_build_left_in_the_tree_does_not_leak(runtime: Path, tmp_path: Path):
    """setuptools reuses build/lib: a module deleted since the last build must not be shipped."""
    fresh = tmp_path / "fresh"
    shutil.copytree(FIXTURES / "hello", fresh)
    assert run([*AMBER, "build", fresh, "-o", tmp_path / "fresh.bin"], timeout=600).returncode == 0
    used = tmp_path / "used"
    shutil.copytree(FIXTURES / "hello", used)
    (used / "src" / "hello" / "leftover.py").write_text("GONE = True\n")
    assert run([*AMBER, "build", used, "-o", tmp_path / "before.bin"], timeout=600).returncode == 0
    (used / "src" / "hello" / "leftover.py").unlink()
    out = run([*AMBER, "build", used, "-o", tmp_path / "after.bin"], timeout=600)
    assert out.returncode == 0, out.stderr
    import zipfile

    assert "hello/leftover.py" in zipfile.ZipFile(tmp_path / "before.bin").namelist()
    assert "hello/leftover.py" not in zipfile.ZipFile(tmp_path / "after.bin").namelist()
    assert sha256(tmp_path / "after.bin") == sha256(tmp_path / "fresh.bin")
