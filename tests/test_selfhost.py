"""Self-hosting (issue #5, item 5): `amber build` on amber's own repository writes one file that,
with no Python on PATH and an empty HOME, builds a working binary from its own runtime, with
the uv inside it; the result runs in an empty chroot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile
from helpers.proc import run

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).parent.parent
AMBER = [sys.executable, "-m", "amber"]


@pytest.fixture(scope="module")
def self_built(runtime: Path, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("selfhost")
    repo = work / "amber"
    # The repository as committed files would give it (no .venv, caches or build output).
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", ".fuzz", "dist", "build", "*.egg-info",
                                                               "__pycache__", ".pytest_cache", ".ruff_cache"))
    out = run([*AMBER, "build", repo], timeout=900)
    assert out.returncode == 0, out.stderr
    binary = repo / "dist" / "amber"
    assert binary.is_file()
    return binary


def bare_env(tmp_path: Path) -> dict[str, str]:
    """No Python (nor anything else) on PATH, an empty HOME: the self-built amber brings all it needs."""
    (tmp_path / "empty-bin").mkdir()
    (tmp_path / "home").mkdir()
    env = {"PATH": str(tmp_path / "empty-bin"), "HOME": str(tmp_path / "home"), "LC_ALL": "C.UTF-8"}
    # The machine's network settings (a CA bundle for a TLS proxy) are not Python: keep them.
    env.update({k: v for k, v in os.environ.items() if k in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY",
                                                             "https_proxy", "NO_PROXY", "no_proxy")})
    return env


def test_self_built_amber_builds_an_app_without_python(self_built: Path, tmp_path: Path, chroot):
    env = bare_env(tmp_path)
    version = run([self_built, "--version"], env=env)
    assert version.returncode == 0 and version.stdout.startswith("amber "), version.stderr
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "tests" / "fixtures" / "hello", project)
    out = run([self_built, "build", project], env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    app = project / "dist" / "hello"
    # It wrote its runtime into the (empty) HOME's cache from its own bytes: no build, no zig.
    runtimes = list((tmp_path / "home" / ".cache" / "amber" / "runtimes").iterdir())
    assert len(runtimes) == 1 and "restored from" in (runtimes[0] / "build.log").read_text()
    chroot.add(app, "/app/hello", 0o755)
    result = chroot.run(["/app/hello", "from", "self-built"], env={})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == ["from", "self-built"]
    # Same inputs, same bytes as the amber installed from source builds.
    reference = run([*AMBER, "build", project, "-o", tmp_path / "reference"], timeout=900)
    assert reference.returncode == 0, reference.stderr
    assert app.read_bytes() == (tmp_path / "reference").read_bytes()


def test_self_built_amber_says_what_building_a_runtime_needs(self_built: Path, tmp_path: Path):
    out = run([self_built, "runtime", "build", "--force"], env=bare_env(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("amber: building a runtime needs")


def test_inspect_of_the_self_built_amber(self_built: Path):
    info = json.loads(run([*AMBER, "inspect", "--json", self_built]).stdout)
    names = {d["name"].lower() for d in info["distributions"]}
    assert {"amber", "uv", "rich", "packaging"} <= names and "ziglang" not in names
    assert "bin/uv" in info["programs"]
    print(f"\nself-built amber: {self_built.stat().st_size / 1e6:.1f} MB")
    assert subprocess.run([self_built, "--help"], capture_output=True).returncode == 0


def test_amber_installed_in_an_amber_venv_builds_the_same_bytes(runtime: Path, tmp_path: Path):
    """`amber venv`, then amber itself installed there with pip: the tool running on the very runtime
    it ships builds what the amber installed on the host's Python builds."""
    venv = tmp_path / "venv"
    assert run([*AMBER, "venv", venv]).returncode == 0
    install = run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", ROOT],
                  timeout=900)
    assert install.returncode == 0, install.stderr
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "tests" / "fixtures" / "hello", project)
    inside = run([venv / "bin" / "amber", "build", project, "-o", tmp_path / "inside"], timeout=900,
                 env={**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"})
    assert inside.returncode == 0, inside.stderr
    outside = run([*AMBER, "build", project, "-o", tmp_path / "outside"], timeout=900)
    assert outside.returncode == 0, outside.stderr
    assert (tmp_path / "inside").read_bytes() == (tmp_path / "outside").read_bytes()


def test_self_built_amber_builds_for_aarch64(self_built: Path, tmp_path: Path, arm_root):
    """The x86_64 dist/amber, with no Python on PATH, builds an aarch64 app (the aarch64 runtime from the
    cache `scripts/test` filled: a self-built amber carries only its own CPU's runtime)."""
    from amber.paths import cache_root

    env = dict(bare_env(tmp_path), AMBER_CACHE=str(cache_root()))
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "tests" / "fixtures" / "hello", project)
    out = run([self_built, "build", project, "--target", "aarch64-linux-gnu"], env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    arm_root.add(project / "dist" / "hello", "/app/hello", 0o755)
    result = arm_root.run(["/app/hello", "from", "x86_64"], env={})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == ["from", "x86_64"]


def test_amber_built_for_aarch64_builds_for_aarch64_under_emulation(runtime: Path, tmp_path: Path, emulated):
    """`amber build --target aarch64-linux-gnu` of amber itself: that aarch64 dist/amber, run under emulation
    with an empty HOME (its runtime comes from its own bytes), builds hello for its own CPU, byte for byte
    what this machine's amber builds for aarch64."""
    from amber.runtime.build import build_runtime
    from amber.runtime.emulation import sysroot

    arm = targets.AARCH64_GNU
    build_runtime(quiet=True, target=arm)
    repo = tmp_path / "amber"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", ".fuzz", "dist", "build", "*.egg-info",
                                                               "__pycache__", ".pytest_cache", ".ruff_cache"))
    out = run([*AMBER, "build", repo, "--target", arm.name], timeout=900)
    assert out.returncode == 0, out.stderr
    amber_arm = repo / "dist" / "amber"
    assert ElfFile(amber_arm.read_bytes()[:64]).machine == arm.elf_machine
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "tests" / "fixtures" / "hello", project)
    # Not in a chroot (uv needs the network and this machine's CA settings): the loader and C library come
    # from QEMU_LD_PREFIX, which qemu reads in every emulated process.
    env = dict(bare_env(tmp_path), QEMU_LD_PREFIX=str(sysroot(arm)))
    out = run([amber_arm, "build", project], env=env, timeout=1200)
    assert out.returncode == 0, out.stderr
    assert "runs on aarch64 Linux" in out.stderr
    runtimes = list((tmp_path / "home" / ".cache" / "amber" / "runtimes").iterdir())
    assert len(runtimes) == 1 and "restored from" in (runtimes[0] / "build.log").read_text()
    app = project / "dist" / "hello"
    result = run([app, "emulated"], env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["argv"] == ["emulated"], result.stderr
    reference = run([*AMBER, "build", project, "--target", arm.name, "-o", tmp_path / "reference"], timeout=900)
    assert reference.returncode == 0, reference.stderr
    assert app.read_bytes() == (tmp_path / "reference").read_bytes()
