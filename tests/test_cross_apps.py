"""`amber build --target aarch64-linux-gnu` on this x86_64 machine (issue #15): aarch64 wheels from uv, the
.pyc compiled by this machine's runtime, the aarch64 runtime shipped; the binaries run under emulation in an
empty aarch64 root (Debian's arm64 C library only, /tmp a noexec tmpfs: conftest.arm_root)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from amber import debian_packages, targets
from amber.elf import ElfFile
from helpers.apps import (
    build_for,
    check_damaged_is_one_line,
    check_hello_runs,
    nativezoo_for,
    run_nativezoo,
    serve_flask_page,
)
from helpers.build import AMBER, copy_fixture
from helpers.chroot import Chroot
from helpers.proc import run

pytestmark = pytest.mark.runtime
TARGET = targets.AARCH64_GNU
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def aarch64_runtime(runtime: Path) -> Path:
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=TARGET)


@pytest.fixture(scope="module")
def hello(aarch64_runtime: Path, tmp_path_factory) -> tuple[Path, str]:
    return build_for(TARGET, copy_fixture("hello", tmp_path_factory.mktemp("hello")))


def test_hello_is_an_aarch64_program_that_says_so(hello: tuple[Path, str]):
    binary, log = hello
    elf = ElfFile(binary.read_bytes())
    assert (elf.machine, elf.interpreter, elf.glibc_needed <= (2, 17)) == (183, "/lib/ld-linux-aarch64.so.1", True)
    assert "amber: runs on aarch64 Linux with glibc 2.17 or newer" in log
    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    assert info["target"] == TARGET.name


def test_hello_runs_in_an_empty_aarch64_root(hello: tuple[Path, str], arm_root: Chroot):
    check_hello_runs(arm_root, hello[0])


def test_a_damaged_aarch64_binary_is_one_line(hello: tuple[Path, str], arm_root: Chroot):
    check_damaged_is_one_line(arm_root, hello[0])


def test_two_aarch64_builds_are_byte_identical(hello: tuple[Path, str], tmp_path: Path):
    again, _ = build_for(TARGET, copy_fixture("hello", tmp_path))
    assert again.read_bytes() == hello[0].read_bytes()


def test_the_flask_example_serves_its_page_under_emulation(aarch64_runtime: Path, tmp_path: Path,
                                                            arm_root: Chroot):
    project = tmp_path / "flask-hello"
    shutil.copytree(EXAMPLES / "flask-hello", project)
    binary, _ = build_for(TARGET, project)
    arm_root.add(binary, "/srv/flask-hello", 0o755)
    page = serve_flask_page(arm_root, "/srv/flask-hello")
    assert "Hello, 127.0.0.1!" in page and "from one amber binary" in page


def test_native_code_of_every_kind_loads_from_memory_under_emulation(aarch64_runtime: Path, tmp_path: Path,
                                                                       arm_root: Chroot):
    """numpy with its vendored OpenBLAS, lxml, cryptography, pydantic-core, orjson, pillow: aarch64 wheels
    loaded from memory; a ctypes/cffi library and a program compiled for aarch64 here; libstdc++ taken from
    Debian's arm64 package (the root has none); certifi's CA bundle read by OpenSSL from the archive."""
    from test_native import EXPECTED

    binary, log = build_for(TARGET, nativezoo_for(TARGET, tmp_path), timeout=1500)
    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    bundled = {lib["soname"] for lib in info["system_libraries"]}
    assert {"libstdc++.so.6", "libgcc_s.so.1"} <= bundled, log
    shell = debian_packages.unpacked(TARGET, f"{TARGET.name}-dash", ("dash",), "bin/dash")
    report = run_nativezoo(arm_root, binary, shell / "bin" / "dash", "cross")
    expected = {name: EXPECTED[name] for name in report}
    expected["numpy"] = dict(expected["numpy"], core_file=expected["numpy"]["core_file"].replace("x86_64", "aarch64"))
    assert report == expected


def failed_build_with(dependency: Path, tmp_path: Path) -> list[str]:
    """stderr lines of `amber build --target aarch64-linux-gnu` of hello depending on `dependency` (a path)."""
    project = copy_fixture("hello", tmp_path / "app")
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace(
        'requires-python = ">=3.11"', f'requires-python = ">=3.11"\ndependencies = ["cext @ {dependency.as_uri()}"]'))
    out = run([*AMBER, "build", project, "--target", TARGET.name], timeout=600)
    assert out.returncode == 1
    return out.stderr.strip().splitlines()


def test_a_c_sdist_for_another_cpu_is_one_line_naming_it(aarch64_runtime: Path, tmp_path: Path):
    """A dependency with no aarch64 wheel, only C sources: uv builds it here, for this machine's CPU."""
    lines = failed_build_with(copy_fixture("cext", tmp_path), tmp_path)
    assert lines == ["amber: cext: no wheel for aarch64-linux-gnu exists, and building it from source here gave "
                     "cext-0.1-cp313-cp313-linux_x86_64.whl (code for this machine); pin a version that ships "
                     "aarch64 manylinux wheels"]


def test_a_wheel_for_another_cpu_is_one_line_naming_it(aarch64_runtime: Path, tmp_path: Path):
    """A dependency whose only wheel is an x86_64 one."""
    from helpers.build import manylinux_wheel

    lines = failed_build_with(manylinux_wheel(copy_fixture("cext", tmp_path), tmp_path / "wheel"), tmp_path)
    assert lines == ["amber: cext-0.1-cp313-cp313-manylinux_2_17_x86_64.whl: the wheel is not for aarch64-linux-gnu; "
                     "use a manylinux wheel for aarch64"], lines
