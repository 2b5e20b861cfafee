"""Native code from the archive (issue #4), end to end: one app carrying every kind of native code.

The `nativezoo` fixture bundles numpy (vendored OpenBLAS), lxml, cryptography, pydantic-core,
orjson, psycopg2-binary and pillow (vendored .libs), gevent + greenlet (C++: libstdc++),
matplotlib (fonts for FreeType), requests + certifi (a CA bundle for OpenSSL), a ctypes
library and two programs (an ELF and a `#!` script) inside its own package. It runs on the
host with a noexec TMPDIR and a read-only HOME, in an empty chroot holding only glibc (with
and without /proc), and 16 times at once on an empty cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers.mounts import tmpfs
from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
EXPECTED = {
    "certifi": {"bundle_inside": True, "ca_certs": True, "requests": True},
    "cryptography": {"fernet": "secret"},
    "ctypes": {"answer": 42, "cffi": 63, "find_library": True, "name": "nativezoo/libanswer.so"},
    "gevent": {"greenlet": True, "results": [0, 1, 4, 9]},
    "lxml": {"xpath": ["1", "2"], "xslt": "<n>2</n>"},
    "matplotlib": {"font_inside": True, "png": True},
    "numpy": {"core_file": "numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so",
              "inverse": 0.5, "matmul": 1134.0},
    "orjson": {"roundtrip": {"a": [1, 2.5, None]}},
    "pillow": {"JPEG": [16, 8, True], "PNG": [16, 8, True], "WEBP": [16, 8, True]},
    "programs": {"program": "42", "script": "hello from amber", "wheel_script": "shout: x", "which": True},
    "psycopg2": {"libpq": True, "module": "2.9.13"},
    "pydantic": {"coerced": 3, "rejected": True},
}
PATHS = {"certifi", "matplotlib"}  # C code opens their files by path: a CA bundle, fonts


@pytest.fixture(scope="module")
def zoo(runtime: Path, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("zoo") / "nativezoo"
    shutil.copytree(FIXTURES / "nativezoo", project)
    package = project / "src" / "nativezoo"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", package / "libanswer.so", package / "answer.c"], check=True)
    subprocess.run(["cc", "-o", package / "bin" / "answer-tool", package / "bin" / "answer-tool.c"], check=True)
    out = run([*AMBER, "build", project], timeout=1200)
    assert out.returncode == 0, out.stderr
    return project / "dist" / "nativezoo"


def report(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "OK", result.stdout
    return json.loads(lines[-2])


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def cache_entries(extract: Path) -> tuple[list[set[str]], dict[str, int]]:
    """What an extraction cache holds: per extracted distribution the top-level names of its entry, and
    the shared objects the loader keeps on disk (an entry of one file each: archive path -> size)."""
    extracted, kept = [], {}
    for entry in extract.iterdir():
        files = [p for p in entry.rglob("*") if p.is_file() and p.name != ".amber-entry"]
        if len(files) == 1 and ".so" in files[0].name:
            kept[str(files[0].relative_to(entry))] = files[0].stat().st_size
        else:
            extracted.append({p.name for p in entry.iterdir() if p.name != ".amber-entry"})
    return extracted, kept


@pytest.fixture
def noexec_dir(tmp_path: Path):
    """A small tmpfs mounted noexec (root only), removed afterwards."""
    with tmpfs(tmp_path / "noexec", "noexec,size=64m") as scratch:
        yield scratch


def test_build_reports_extraction_system_libraries_and_programs(zoo: Path):
    info = json.loads(run([*AMBER, "inspect", "--json", zoo]).stdout)
    assert info["extract"] == []  # the C file layer reads the CA bundle and the fonts from the archive
    assert {lib["soname"] for lib in info["system_libraries"]} >= {"libstdc++.so.6", "libgcc_s.so.1"}
    assert info["programs"] == ["bin/zoo-shout", "nativezoo/bin/answer-tool", "nativezoo/bin/greet.sh"]
    # The reported baseline is what the ELF files inside really need (the test's cc-built program
    # links this machine's glibc), never below the runtime's own 2.17.
    from amber.builder.native_scan import glibc_needed

    tool = glibc_needed((zoo.parent.parent / "src" / "nativezoo" / "bin" / "answer-tool").read_bytes())
    assert tuple(int(x) for x in info["glibc"].split(".")) >= max(tool, (2, 28))


def test_runs_with_noexec_tmp_and_read_only_home_writing_only_the_cache(zoo: Path, noexec_dir: Path, tmp_path: Path):
    home = noexec_dir / "home"
    home.mkdir()
    home.chmod(0o555)
    cache, mpl = tmp_path / "cache", tmp_path / "mpl"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(noexec_dir), "LC_ALL": "C.UTF-8",
           "AMBER_CACHE": str(cache), "MPLCONFIGDIR": str(mpl)}
    assert report(run([zoo, "all"], env=env, cwd=noexec_dir)) == EXPECTED
    assert files_under(noexec_dir) == ["home"]  # nothing in TMPDIR, HOME or the working directory
    extracted, kept = cache_entries(cache / "extract")
    assert extracted == []  # no distribution: OpenSSL and FreeType read the archive
    # Shared objects of 64 KiB or more (zstd members: a decompression per start would cost more) are kept
    # in the cache, the rest come from memory files.
    assert "numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so" in kept
    assert any(name.startswith("numpy.libs/libscipy_openblas") for name in kept)
    assert min(kept.values()) >= 64 << 10
    # A second run reuses the entries (nothing rewritten) and still passes.
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert report(run([zoo, "paths"], env=env, cwd=noexec_dir)).keys() == PATHS
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before


def test_large_objects_come_from_memory_when_the_cache_cannot_execute_or_is_declined(zoo: Path, noexec_dir: Path,
                                                                                     tmp_path: Path):
    """The cache keeps large shared objects only where it can serve code: on a noexec file system, or with
    AMBER_NATIVE=memory, memory files serve them and nothing is written; a misspelt policy is an error."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    numpy_only = {"numpy": EXPECTED["numpy"]}
    assert report(run([zoo, "numpy"], env=dict(env, AMBER_CACHE=str(noexec_dir / "cache")))) == numpy_only
    assert cache_entries(noexec_dir / "cache" / "extract") == ([], {})
    assert report(run([zoo, "numpy"], env=dict(env, AMBER_NATIVE="memory"))) == numpy_only
    assert not (tmp_path / ".cache").exists()
    assert report(run([zoo, "numpy"], env=env)) == numpy_only
    assert cache_entries(tmp_path / ".cache" / "amber" / "extract")[1]
    bad = run([zoo, "numpy"], env=dict(env, AMBER_NATIVE="disc"))
    assert bad.returncode == 1
    assert bad.stderr == "amber: AMBER_NATIVE='disc' is not one of: auto, memory, disk\n"


def _chroot_env() -> dict[str, str]:
    return {"PATH": "/bin", "HOME": "/home", "MPLCONFIGDIR": "/home/mpl", "TMPDIR": "/tmp"}


def _prepare_chroot(chroot, zoo: Path) -> None:
    chroot.add(zoo, "/app/nativezoo", 0o755)
    chroot.add(Path("/bin/dash") if Path("/bin/dash").exists() else Path("/bin/sh"), "/bin/sh", 0o755)
    (chroot.root / "home").mkdir()
    tmp = chroot.root / "tmp"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,mode=1777,size=16m", "tmpfs", str(tmp)], check=True)
    chroot.mounts.append(tmp)


def test_runs_in_an_empty_chroot_with_noexec_tmp(zoo: Path, chroot):
    """Only glibc's files: libstdc++/libgcc_s come from the binary, native code (AMBER_NATIVE=memory: all
    of it) from memory."""
    _prepare_chroot(chroot, zoo)
    chroot.mount_proc()
    env = dict(_chroot_env(), AMBER_NATIVE="memory")
    assert report(chroot.run(["/app/nativezoo", "all"], env=env, timeout=300)) == EXPECTED
    assert files_under(chroot.root / "tmp") == []
    assert not (chroot.root / "home" / ".cache").exists()  # native code and the CA bundle stayed in memory


def test_without_proc_native_code_comes_from_the_cache(zoo: Path, chroot):
    """No /proc, so no /proc/self/fd/N to dlopen: the extraction cache serves native code too."""
    _prepare_chroot(chroot, zoo)
    assert report(chroot.run(["/app/nativezoo", "all"], env=_chroot_env(), timeout=300)) == EXPECTED
    cached = files_under(chroot.root / "home" / ".cache" / "amber" / "extract")
    assert any(name.endswith("_multiarray_umath.cpython-313-x86_64-linux-gnu.so") for name in cached)
    assert any(name.endswith(".amber/lib/libstdc++.so.6") for name in cached)
    assert files_under(chroot.root / "tmp") == []


def test_sixteen_concurrent_first_runs_share_one_cache(zoo: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(cache),
           "MPLCONFIGDIR": str(tmp_path / "mpl"), "LC_ALL": "C.UTF-8"}
    # matplotlib builds its font list once; build it first so 16 runs do not race on *its* cache.
    (tmp_path / "mpl").mkdir()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: run([zoo, "paths"], env=env, timeout=600), range(16)))
    for result in results:
        assert report(result) == {name: EXPECTED[name] for name in PATHS}
    names = sorted(p.name for p in (cache / "extract").iterdir())
    assert not any(n.startswith(".") for n in names)  # no temp dir left
    extracted, kept = cache_entries(cache / "extract")
    assert extracted == []
    assert kept  # the large shared objects (_ssl, matplotlib's and pillow's) raced for their entries


def test_forced_extraction_without_a_usable_cache_names_amber_cache(runtime: Path, tmp_path: Path):
    project = tmp_path / "hello"
    shutil.copytree(FIXTURES / "hello", project)
    out = run([*AMBER, "build", project, "--extract", "hello", "-o", tmp_path / "forced"])
    assert out.returncode == 0, out.stderr
    # An unwritable XDG_CACHE_HOME (a file where a directory should be: unusable even for root).
    (tmp_path / "not-a-dir").write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "not-a-dir")}
    result = run([tmp_path / "forced", "world"], env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("amber: cannot extract hello:") and "AMBER_CACHE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    env["AMBER_CACHE"] = str(tmp_path / "cache")
    result = run([tmp_path / "forced", "world"], env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "extract").is_dir()


def test_too_little_address_space_is_an_error_not_a_crash(zoo: Path, tmp_path: Path):
    """Under an RLIMIT_AS a hello world fits in but numpy/OpenBLAS do not: the app fails with
    Python's error (exit 1), never a signal."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))  # numpy+OpenBLAS and the rest need ~290 MB

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(tmp_path / "cache"),
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    result = subprocess.run([zoo, "all"], env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "OK" not in result.stdout


def test_disk_mode_runs_everything_without_one_memory_file(zoo: Path, tmp_path: Path):
    """AMBER_NATIVE=disk: C extensions, vendored libraries, ctypes/cffi libraries, programs and the files C code
    opens (the CA bundle, the fonts) all come from the extraction cache; a seccomp filter kills the process at
    its first memfd_create(), so passing proves there is none (the hosts this mode is for flag them)."""
    from helpers.proc import nomemfd

    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(cache),
           "MPLCONFIGDIR": str(tmp_path / "mpl"), "LC_ALL": "C.UTF-8", "AMBER_NATIVE": "disk"}
    assert report(run([nomemfd(tmp_path), "kill", zoo, "all"], env=env, timeout=300)) == EXPECTED
    _extracted, kept = cache_entries(cache / "extract")
    assert any(name.startswith("orjson/") for name in kept)  # small objects too: nothing from memory
    assert any(p.name.endswith("-cacert.pem") for p in (cache / "extract" / "files").iterdir())


@pytest.mark.parametrize("policy", [1, 2])
def test_kernel_memfd_exec_policies(zoo: Path, tmp_path: Path, policy: int):
    """vm.memfd_noexec (Linux 6.3+, per PID namespace): 1 makes memfds noexec unless asked with
    MFD_EXEC, which the loader does; 2 forbids executable memfds, so the cache serves native code."""
    if os.geteuid() != 0 or not Path("/proc/sys/vm/memfd_noexec").exists() or not shutil.which("unshare"):
        pytest.skip("needs root, Linux 6.3+ and unshare")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMBER_CACHE": str(tmp_path / "cache"),
           "MPLCONFIGDIR": str(tmp_path / "mpl"), "LC_ALL": "C.UTF-8", "AMBER_NATIVE": "memory"}
    script = f'echo {policy} > /proc/sys/vm/memfd_noexec && exec "$0" all'
    result = run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, zoo], env=env, timeout=300)
    assert report(result) == EXPECTED
    native_in_cache = [n for n in files_under(tmp_path / "cache") if n.endswith("_multiarray_umath"
                                                                                ".cpython-313-x86_64-linux-gnu.so")]
    assert bool(native_in_cache) == (policy == 2)
