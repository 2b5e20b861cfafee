"""`amber build --target x86_64-linux-musl` (issue #16): musllinux wheels from uv, the musl runtime shipped, native
code loaded from memory under musl's loader; the binaries run in empty roots holding nothing but Debian's musl
package (1.2.3, the oldest the runtime supports, or 1.2.5 as current Alpine has it), /proc and a noexec /tmp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from amber import targets
from amber.elf import ElfFile
from helpers.apps import (
    build_for,
    check_damaged_is_one_line,
    check_hello_runs,
    nativezoo_for,
    run_nativezoo,
    serve_flask_page,
    static_shell,
)
from helpers.build import AMBER, copy_fixture
from helpers.chroot import Chroot
from helpers.proc import run

pytestmark = pytest.mark.runtime
TARGET = targets.X86_64_MUSL
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def hello(musl_runtime: Path, tmp_path_factory) -> tuple[Path, str]:
    return build_for(TARGET, copy_fixture("hello", tmp_path_factory.mktemp("hello")))


def test_hello_is_a_musl_program_that_says_so(hello: tuple[Path, str]):
    binary, log = hello
    elf = ElfFile(binary.read_bytes())
    assert (elf.machine, elf.interpreter, elf.needed, elf.glibc_needed) == (
        62, "/lib/ld-musl-x86_64.so.1", ["libc.so"], None)
    assert "amber: runs on x86_64 Linux (musl) with musl 1.2.3 or newer" in log
    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    assert (info["target"], info["libc"], info["glibc"], info["platform"]) == (
        TARGET.name, "musl 1.2.3", None, "musllinux_1_2")


def test_hello_runs_on_the_oldest_musl(hello: tuple[Path, str], musl_root: Chroot):
    """Arguments, sys.executable, exit codes and a traceback through a script link, with musl 1.2.3 alone."""
    check_hello_runs(musl_root, hello[0])


LIBC_VER = ["/app/hello", "-c", "import platform, sys; print(*platform.libc_ver(), platform.libc_ver(sys.executable))"]


def test_platform_names_the_musl_it_runs_on(hello: tuple[Path, str], musl_root: Chroot, current_musl_root: Chroot):
    """platform.libc_ver() of the binary: musl and its version, read from the loader it runs under (CPython
    would scan the whole 33 MB file and answer ("libc", ""))."""
    for root, version in ((musl_root, "1.2.3"), (current_musl_root, "1.2.5")):
        root.add(hello[0], "/app/hello", 0o755)
        out = root.run(LIBC_VER, env={"AMBER_INTERPRETER": "1"})
        assert out.stdout.split() == ["musl", version, "('musl',", f"'{version}')"], out.stderr


def test_a_damaged_musl_binary_is_one_line(hello: tuple[Path, str], musl_root: Chroot):
    check_damaged_is_one_line(musl_root, hello[0])


def test_two_musl_builds_are_byte_identical(hello: tuple[Path, str], tmp_path: Path):
    again, _ = build_for(TARGET, copy_fixture("hello", tmp_path))
    assert again.read_bytes() == hello[0].read_bytes()


def test_multiprocessing_spawns_children_under_musl(musl_runtime: Path, tmp_path: Path, musl_root: Chroot):
    """Pools, a Process with a Queue, a Manager and a process pool executor, children started as sys.executable
    that load markupsafe's musllinux C extension from the archive too (the root has the /dev/shm of every
    system, and busybox's env)."""
    binary, _ = build_for(TARGET, copy_fixture("procs", tmp_path))
    musl_root.add(binary, "/app/procs", 0o755)
    musl_root.mount_tmpfs("/dev/shm")  # musl's sem_open (multiprocessing's locks) keeps semaphores there
    musl_root.add(static_shell(TARGET), "/usr/bin/env", 0o755)  # the pool's workers start a grandchild through env
    out = musl_root.run(["/app/procs", "pools", "spawn"], env={"PATH": "/app"}, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    report = json.loads(out.stdout)
    assert [w["square"] for w in report["pool"]] == [0, 1, 4]
    assert (report["process"][0], report["process_exitcode"], list(report["manager"])) == ("hi", 0, ["k"])
    for worker in report["pool"] + report["executor"]:
        assert (worker["executable"], worker["speedups"], worker["escape"]) == ("/app/procs", True, "&lt;b&gt;")
    assert list((musl_root.root / "tmp").iterdir()) == []


def test_the_flask_example_serves_its_page_on_musl(musl_runtime: Path, tmp_path: Path, current_musl_root: Chroot):
    project = tmp_path / "flask-hello"
    shutil.copytree(EXAMPLES / "flask-hello", project)
    binary, _ = build_for(TARGET, project)
    current_musl_root.add(binary, "/srv/flask-hello", 0o755)
    page = serve_flask_page(current_musl_root, "/srv/flask-hello")
    assert "Hello, 127.0.0.1!" in page and "from one amber binary" in page


def test_musllinux_native_code_loads_from_memory(musl_runtime: Path, tmp_path: Path, current_musl_root: Chroot):
    """numpy with its vendored OpenBLAS and libstdc++, lxml, cryptography, pydantic-core, orjson, psycopg2 with
    libpq: musllinux wheels whose vendored libraries musl's loader finds under their rewritten names; a ctypes/cffi
    library and a program compiled for musl here; certifi's CA bundle read by OpenSSL from the archive. The
    build measures the musl these wheels need: 1.2.4, for their packed relative relocations."""
    from test_native import EXPECTED

    # gevent's dependency zope.interface has no musllinux wheel for CPython 3.13 (the build refuses it by name)
    project = nativezoo_for(TARGET, tmp_path, drop=("gevent==26.9.0",))
    binary, log = build_for(TARGET, project, timeout=1500)
    assert "amber: runs on x86_64 Linux (musl) with musl 1.2.4 or newer" in log
    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    assert info["libc"] == "musl 1.2.4" and info["system_libraries"] == []
    report = run_nativezoo(current_musl_root, binary, static_shell(TARGET), "musl")
    expected = {name: EXPECTED[name] for name in report}
    expected["numpy"] = dict(expected["numpy"], core_file=expected["numpy"]["core_file"].replace("-gnu", "-musl"))
    assert report == expected
    # AMBER_NATIVE=disk: no memory file at all, so an object that needs archive libraries is written with them to
    # one cache entry, in the archive's layout, where musl's loader finds them by name
    assert run_nativezoo(current_musl_root, binary, static_shell(TARGET), "musl", native="disk") == expected
    cores = (current_musl_root.root / "home" / ".cache" / "amber").rglob("numpy/_core/_multiarray_umath.*.so")
    assert any(list((core.parents[2] / "numpy.libs").glob("libscipy_openblas64_*.so")) for core in cores), \
        "numpy's core and its OpenBLAS in one cache entry"


def test_a_dependency_with_glibc_wheels_only_is_one_line(musl_runtime: Path, tmp_path: Path):
    """onnxruntime ships manylinux wheels and no sdist: no musllinux wheel exists, and the error says which
    target would take it."""
    project = copy_fixture("hello", tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace(
        'requires-python = ">=3.11"', 'requires-python = ">=3.11"\ndependencies = ["onnxruntime==1.23.2"]'))
    out = run([*AMBER, "build", project, "--target", TARGET.name], timeout=600)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "amber: onnxruntime: no wheel for x86_64-linux-musl (musllinux_1_2_x86_64) exists (its Linux wheels: "), lines
    assert lines[0].endswith("; build for x86_64-linux-gnu, or pin a version that ships musllinux wheels for x86_64")


@pytest.fixture(scope="module")
def aarch64_musl_runtime(runtime: Path) -> Path:
    from amber.runtime.build import build_runtime

    return build_runtime(quiet=True, target=targets.AARCH64_MUSL)


@pytest.fixture
def aarch64_musl_root(tmp_path: Path, emulated) -> Chroot:
    """An empty aarch64 root holding Debian 13's musl:arm64 only (1.2.5), its programs run by qemu."""
    from amber.runtime.emulation import CURRENT_MUSL_SUITE
    from helpers.chroot import empty_root

    with empty_root(tmp_path / "arm-musl-root", targets.AARCH64_MUSL, CURRENT_MUSL_SUITE) as root:
        yield root


def test_aarch64_musl_apps_run_under_emulation(aarch64_musl_runtime: Path, tmp_path: Path,
                                               aarch64_musl_root: Chroot):
    """Cross-built from this x86_64 machine: hello with its exit codes, and nativezoo's musllinux aarch64 wheels
    (numpy, lxml, cryptography, pydantic-core, orjson, psycopg2) loaded from memory under musl's loader."""
    from test_native import EXPECTED

    target = targets.AARCH64_MUSL
    hello, log = build_for(target, copy_fixture("hello", tmp_path / "hello"))
    assert "runs on aarch64 Linux (musl) with musl 1.2.3 or newer" in log
    assert ElfFile(hello.read_bytes()).interpreter == "/lib/ld-musl-aarch64.so.1"
    check_hello_runs(aarch64_musl_root, hello)

    project = nativezoo_for(target, tmp_path / "zoo", drop=("gevent==26.9.0", "matplotlib==3.11.2"))
    binary, _ = build_for(target, project, timeout=1500)
    report = run_nativezoo(aarch64_musl_root, binary, static_shell(target), "musl")
    expected = {name: EXPECTED[name] for name in report}
    expected["numpy"] = dict(expected["numpy"],
                             core_file=expected["numpy"]["core_file"].replace("x86_64-linux-gnu", target.multiarch))
    assert report == expected
