"""Shared fixtures: the built runtime (built once, cached by recipe hash) and chroots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.chroot import Chroot, empty_root


@pytest.fixture(scope="session")
def runtime() -> Path:
    """The runtime file for the default Python (builds it on first use: minutes)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True)


@pytest.fixture(scope="session")
def hello_binary(runtime: Path, tmp_path_factory) -> Path:
    """The hello fixture built once for the whole run (tests that only run it share it; tests that
    modify a binary copy it first)."""
    from helpers.build import build_fixture

    return build_fixture("hello", tmp_path_factory.mktemp("hello"))


@pytest.fixture
def chroot(tmp_path: Path):
    """An empty root file system holding only glibc's files (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("chroot tests need root")
    root = Chroot(tmp_path / "root")
    try:
        yield root
    finally:
        root.cleanup()


@pytest.fixture(scope="session")
def emulated():
    """The kernel runs aarch64 programs through qemu-aarch64-static while the tests last (binfmt_misc; needs
    root): an emulated program's children (multiprocessing, subprocess, bundled programs) run too."""
    from amber import targets
    from amber.runtime.emulation import kernel_runs

    if os.geteuid() != 0:
        pytest.skip("registering qemu with binfmt_misc needs root")
    with kernel_runs(targets.AARCH64_GNU):
        yield


@pytest.fixture
def arm_root(tmp_path: Path, emulated) -> Chroot:
    """An empty aarch64 root: Debian's arm64 libc6 and nothing else, /proc, /tmp a noexec tmpfs."""
    from amber import targets

    with empty_root(tmp_path / "arm-root", targets.AARCH64_GNU) as root:
        yield root


@pytest.fixture(scope="session")
def musl_runtime(runtime: Path) -> Path:
    """The x86_64 musl runtime (scripts/test builds it before the tests: minutes)."""
    from amber import targets
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=targets.X86_64_MUSL)


# The musl roots: Debian 12's musl 1.2.3 (the oldest the runtime supports, as the build machine's apt gives it)
# and Debian 13's musl 1.2.5 (emulation.CURRENT_MUSL_SUITE), which musllinux wheels built with packed relative
# relocations (DT_RELR) need.


@pytest.fixture
def musl_root(tmp_path: Path) -> Chroot:
    """An empty root holding Debian's musl 1.2.3 package only, /proc, /tmp a noexec tmpfs."""
    from amber import targets

    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    with empty_root(tmp_path / "musl-root", targets.X86_64_MUSL) as root:
        yield root


@pytest.fixture
def current_musl_root(tmp_path: Path) -> Chroot:
    """An empty root holding Debian 13's musl 1.2.5 package only, /proc, /tmp a noexec tmpfs."""
    from amber import targets

    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    from amber.runtime.emulation import CURRENT_MUSL_SUITE

    with empty_root(tmp_path / "musl-current-root", targets.X86_64_MUSL, CURRENT_MUSL_SUITE) as root:
        yield root


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment, so the host's Python variables cannot leak in."""
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8"}


def pytest_collection_modifyitems(items):
    """A test that needs the runtime, even through another fixture, carries the `runtime` marker, so that
    `scripts/test --fast` (-m "not runtime and not compat") leaves out everything that could build it."""
    for item in items:
        if "runtime" in getattr(item, "fixturenames", ()) and item.get_closest_marker("runtime") is None:
            item.add_marker(pytest.mark.runtime)
