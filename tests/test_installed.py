"""Issue #20 items 1-3 and 7: a binary imitates an installed environment where real tools look.

The `installed` fixture carries a package whose `__init__` is compiled beside its `.py` (as mypyc
compiles black), one whose `__init__` is only a shared object, a wheel data file (`share/...`, as
jupyter ships its templates) and a script that reports what it sees: the extension `__init__`, every
stat field (sphinx and Jinja2 read the _ns times), the data file under `sys.prefix` and sysconfig's
"data" path, and the frozen standard library modules' `__file__` and source. Item 4 (children that run
the binary by path) is in test_python_semantics.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURE = Path(__file__).parent / "fixtures" / "installed"
EXPECTED = {
    "extpkg": [True, "__init__.cpython-313-x86_64-linux-gnu.so", "helper", True],
    "onlyext": [42, "data", "__init__.cpython-313-x86_64-linux-gnu.so"],
    "stat": {"missing": [], "ns_matches_float": True, "blocks": True, "scandir_same": True, "pathlib_same": True,
             "lstat_same": True},
    "prefix": [True, True, True, "installed under the prefix", ["installed"]],
    "stdlib": [True, True, True, "def join(a, *p):", True],
}


@pytest.fixture(scope="module")
def installed(runtime: Path, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("installed") / "installed"
    shutil.copytree(FIXTURE, project)
    include = runtime.parent.parent / "include" / "python3.13"
    suffix = ".cpython-313-x86_64-linux-gnu.so"
    for package in ("extpkg", "onlyext"):
        source = project / "src" / package / "__init__.c"
        subprocess.run(["cc", "-shared", "-fPIC", f"-I{include}", "-o", source.with_name(f"__init__{suffix}"),
                        source], check=True)
    out = run([Path(sysconfig.get_path("scripts")) / "amber", "build", project], timeout=900)
    assert out.returncode == 0, out.stderr
    return project / "dist" / "installed"


def test_the_binary_looks_installed(installed: Path, clean_env):
    out = run([installed], env=clean_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == EXPECTED


@pytest.mark.root
def test_the_binary_looks_installed_in_an_empty_chroot(installed: Path, chroot):
    chroot.add(installed, "/app/installed", mode=0o755)
    chroot.mount_proc()  # the shared objects load from memory files, named through /proc/self/fd
    out = chroot.run(["/app/installed"], env={})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == EXPECTED


def test_tracebacks_through_frozen_modules_show_their_source(installed: Path, clean_env):
    """A frozen module's code names its file in the binary, so a traceback through it shows the line."""
    code = "import os; os.environ['AMBER_NO_SUCH_VARIABLE']"
    out = run([installed, "-c", code], env=dict(clean_env, AMBER_INTERPRETER="1"))
    assert out.returncode == 1
    assert f'File "{installed}/os.py", line ' in out.stderr, out.stderr
    assert "raise KeyError(key) from None" in out.stderr, out.stderr
