"""End-to-end checks of the built runtime file: portability, behaviour as python3, TLS, venv."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amber.archive.format import TAIL_SIZE, read_trailer
from amber.runtime import validate
from helpers.proc import run
from helpers.tls import CLIENT, SERVER, make_tls_ca

pytestmark = pytest.mark.runtime

SMOKE = ("import ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, hashlib, uuid, readline, curses, json, asyncio, "
         "multiprocessing")


def test_links_only_glibc_and_needs_nothing_above_2_17(runtime: Path):
    facts = validate.elf_facts(runtime)
    assert set(facts["needed"]) <= validate.GLIBC_LIBRARIES
    assert facts["glibc_versions"], "no versioned glibc symbols found"
    assert validate._version_tuple(facts["glibc_versions"][-1]) <= (2, 17)
    ldd = run(["ldd", runtime])
    libs = [line.split()[0] for line in ldd.stdout.splitlines() if line.strip()]
    for lib in libs:
        assert lib.startswith(("linux-vdso", "/lib64/ld-linux")) or lib in validate.GLIBC_LIBRARIES, lib


def test_exports_only_the_c_api(runtime: Path):
    exported = validate.elf_facts(runtime)["exported"]
    assert "PyObject_GetAttr" in exported
    assert not [s for s in exported if s.startswith(("SSL_", "EVP_", "ffi_", "sqlite3_", "lzma_", "BZ2_"))]
    # and libc's file functions of the C file layer (runtime/amber_fs.c), which every loaded object binds to
    assert set(exported) >= validate.INTERPOSED


def test_is_one_file_with_the_stdlib_inside(runtime: Path, clean_env):
    trailer = read_trailer(runtime.read_bytes()[-TAIL_SIZE:])
    assert trailer is not None and trailer.flags == 0
    out = run([runtime, "-I", "-c", "import sys, encodings, json; print(sys.path); print(encodings.__file__); "
               "print(json.__file__)"], env=clean_env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert str(runtime) in eval(lines[0])
    assert lines[1] == f"{runtime}/encodings/__init__.py"  # the source's path where the archive has it
    assert lines[2].startswith(f"{runtime}/json/")


def test_smoke_imports_and_plain_python_behaviour(runtime: Path, tmp_path: Path, clean_env):
    out = run([runtime, "-c", SMOKE + "; import sys; print(sys.version_info[:2], sys.argv[1:])", "a", "b"],
              env=clean_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(3, 13) ['a', 'b']"
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint('script', __name__, sys.argv[1:])\nsys.exit(7)\n")
    out = run([runtime, script, "x"], env=clean_env)
    assert (out.returncode, out.stdout.strip()) == (7, "script __main__ ['x']")
    out = run([runtime, "-m", "json.tool"], input='{"b": 1, "a": [1, 2]}', env=clean_env)
    assert out.returncode == 0 and '"a": [' in out.stdout
    out = run([runtime, "-c", "raise SystemExit(3)"], env=clean_env)
    assert out.returncode == 3


def test_tracebacks_show_source_lines_from_the_archive(runtime: Path, clean_env):
    out = run([runtime, "-c", "import json; json.loads('{bad')"], env=clean_env)
    assert out.returncode == 1
    assert f'File "{runtime}/json/decoder.py"' in out.stderr
    assert "obj, end = self.scan_once(s, idx)" in out.stderr


def test_pythonpath_is_honoured_like_python3(runtime: Path, tmp_path: Path, clean_env):
    (tmp_path / "extra_mod.py").write_text("VALUE = 42\n")
    env = dict(clean_env, PYTHONPATH=str(tmp_path))
    out = run([runtime, "-c", "import extra_mod; print(extra_mod.VALUE)"], env=env)
    assert out.stdout.strip() == "42", out.stderr
    out = run([runtime, "-I", "-c", "import extra_mod"], env=env)
    assert out.returncode == 1 and "ModuleNotFoundError" in out.stderr


def test_sysconfig_describes_an_ordinary_install(runtime: Path, clean_env):
    code = ("import sysconfig, json; v = sysconfig.get_config_vars(); "
            "print(json.dumps({k: v.get(k) for k in ('CC', 'LDSHARED', 'AR', 'EXT_SUFFIX')}))")
    out = run([runtime, "-c", code], env=clean_env)
    assert out.returncode == 0, out.stderr
    import json

    values = json.loads(out.stdout)
    assert values["CC"].split()[0] == "cc"
    assert "zig" not in out.stdout and ".cache/amber" not in out.stdout
    assert values["EXT_SUFFIX"] == ".cpython-313-x86_64-linux-gnu.so"


def test_runs_alone_in_an_empty_chroot(runtime: Path, chroot):
    python = chroot.add_runtime(runtime, "/opt/app")
    out = chroot.run([python, "-c", SMOKE + "; print('ok', len(uuid.uuid4().hex))"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 32"
    assert not (chroot.root / "usr").exists()


def test_runs_in_a_chroot_with_proc_mounted_and_via_path(runtime: Path, chroot):
    chroot.add_runtime(runtime, "/")
    chroot.mount_proc()
    out = chroot.run(["python3", "-c", "import sys, sqlite3; print(sys.executable, sqlite3.sqlite_version)"],
                     env={"PATH": "/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["/bin/python3", "3.46.1"]


@pytest.fixture(scope="module")
def tls_ca(tmp_path_factory) -> dict[str, Path]:
    return make_tls_ca(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("bundle", [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
])
def test_finds_the_ca_bundle_of_each_distribution(runtime: Path, chroot, tls_ca, bundle):
    python = chroot.add_runtime(runtime, "/usr/local")
    chroot.add(tls_ca["ca_cert"], bundle)
    code = "import ssl; print(len(ssl.create_default_context().get_ca_certs()))"
    out = chroot.run([python, "-c", code])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_tls_handshake_with_a_local_server(runtime: Path, tls_ca, clean_env):
    """The runtime's OpenSSL verifies a chain and talks TLS to the host's Python."""
    server = subprocess.Popen([sys.executable, "-c", SERVER, tls_ca["server_cert"], tls_ca["server_key"]],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        out = run([runtime, "-c", CLIENT, port, tls_ca["ca_cert"]], env=clean_env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["TLSv1.3", "hello", "amber"]
    finally:
        server.wait(timeout=30)


def test_venv_with_pip(runtime: Path, tmp_path: Path, clean_env):
    venv = tmp_path / "venv"
    out = run([runtime, "-m", "venv", venv], env=clean_env, timeout=600)
    assert out.returncode == 0, out.stderr
    python = venv / "bin" / "python"
    out = run([python, "-c", "import sys; print(sys.prefix, sys.base_prefix, sys.executable)"], env=clean_env)
    prefix, base_prefix, executable = out.stdout.split()
    assert prefix == str(venv) and executable == str(python)
    assert base_prefix == str(runtime.parent.parent)
    out = run([venv / "bin" / "pip", "--version"], env=clean_env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("pip ") and str(venv) in out.stdout


def _read_until(fd: int, needle: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen; got {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("term", ["xterm-256color", "dumb"])
def test_repl_in_a_terminal_without_terminfo(runtime: Path, chroot, term):
    """The interactive REPL works in a chroot that has no terminfo database at all."""
    python = chroot.add_runtime(runtime, "/usr/local")
    master, slave = pty.openpty()
    proc = subprocess.Popen([python], stdin=slave, stdout=slave, stderr=slave, preexec_fn=chroot.enter,
                            env={"TERM": term, "PATH": "/bin", "LANG": "C.UTF-8"}, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    try:
        _read_until(master, b">>> ")
        os.write(master, b"6 * 7\r")
        _read_until(master, b"42")
        os.write(master, b"exit()\r")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_the_bare_runtime_reads_its_stdlib_files_like_an_installed_python(runtime: Path, clean_env):
    """The C file layer makes the archive's files real to the interpreter's own os and io calls: listing
    the stdlib next to os.__file__, reading a source, inspect.getsource of a frozen module's function."""
    code = ("import inspect, json, os, sys; d = os.path.dirname(os.__file__); "
            "print(d == sys.executable == sys._stdlib_dir, sorted(os.listdir(os.path.join(d, 'json')))[:2], "
            "os.path.isdir(os.path.join(d, 'json')), open(json.__file__).read().startswith('r\"\"\"JSON'), "
            "inspect.getsource(os.path.join).splitlines()[0])")
    out = run([runtime, "-I", "-c", code], env=clean_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True ['__init__.py', '__init__.pyc'] True True def join(a, *p):"
