"""Shared fixtures: the built runtime (built once, cached by recipe hash) and chroots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.chroot import Chroot


@pytest.fixture(scope="session")
def runtime() -> Path:
    """The runtime file for the default Python (builds it on first use: minutes)."""
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True)


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


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment, so the host's Python variables cannot leak in."""
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8"}
