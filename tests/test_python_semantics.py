"""Issue #5 items 1-3: an app binary behaves like python for its children, signals, exit codes and stdio.

One fixture app (`tests/fixtures/procs`, with markupsafe's C extension so that
relaunched children need the native loader too) is built once with `amber build`;
every test runs the real binary and, where "like CPython" is the claim, the
runtime itself used as python3 on the same input.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
AMBER = [sys.executable, "-m", "amber"]
VARIABLE = "AMBER_INTERPRETER"
INFO_SCRIPT = FIXTURES / "procs" / "src" / "procs" / "info.py"
WAIT_CODE = "import os, time; print('ready', os.getpid(), flush=True); time.sleep(120)"
COUNT_CODE = "for i in range(200000): print(i)"


@pytest.fixture(scope="module")
def procs(runtime: Path, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("procs") / "procs"
    shutil.copytree(FIXTURES / "procs", project)
    out = run([*AMBER, "build", project], timeout=900)
    assert out.returncode == 0, out.stderr
    return project / "dist" / "procs"


def run_json(cmd, **kwargs) -> dict:
    out = run(cmd, **kwargs)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- item 1: sys.executable is the binary, and its children get a python ----------------------------


def test_app_runs_in_the_started_process_as_sys_executable(procs: Path, clean_env):
    proc = subprocess.Popen([procs, "info"], env=clean_env, stdout=subprocess.PIPE, text=True)
    report = json.loads(proc.communicate(timeout=60)[0])
    assert proc.returncode == 0
    assert report["pid"] == proc.pid  # no launcher parent
    assert report["ppid"] == os.getpid()
    assert report["executable"] == str(procs)
    assert report["leaked"] == []


def test_interpreter_options_typed_by_the_user_belong_to_the_app(procs: Path, clean_env):
    out = run([procs, "-c", "import os", "-m", "x"], env=clean_env)
    assert out.returncode == 2, out.stderr
    assert json.loads(out.stdout) == {"usage": True, "argv": ["-c", "import os", "-m", "x"]}
    info = run_json([procs, "info", "-c", "pass", "-I"], env=clean_env)
    assert info["args_ascii"] == ["'-c'", "'pass'", "'-I'"]


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_multiprocessing_and_process_pools(procs: Path, clean_env, method: str):
    report = run_json([procs, "pools", method], env=clean_env, timeout=300)
    parent = report["parent"]
    workers = report["pool"] + report["executor"]
    assert [w["square"] for w in report["pool"]] == [0, 1, 4]
    assert [w["square"] for w in report["executor"]] == [0, 1]
    for worker in workers:
        assert worker["pid"] != parent
        assert worker["executable"] == str(procs)
        assert worker["leaked"] == []
        assert worker["speedups"] is True  # the child loaded the C extension from the archive
        assert worker["escape"] == "&lt;b&gt;"
    for worker in report["pool"]:
        assert worker["grandchild"] == []
    value, pid, leaked = report["process"]
    assert (value, leaked, report["process_exitcode"]) == ("hi", [], 0)
    assert pid != parent
    manager_pid, manager_leaked = report["manager"]["k"]
    assert manager_pid != parent and manager_leaked == []
    tracker = report["tracker"]
    if method != "fork":  # spawn and forkserver register their semaphores
        assert tracker is not None
        assert tracker["cmdline"][0] == str(procs)
        assert tracker["cmdline"][-2] == "-c"
        assert tracker["cmdline"][-1].startswith("from multiprocessing.resource_tracker import main")


def test_sys_executable_relaunch_with_m_and_c(procs: Path, clean_env, tmp_path: Path):
    env = dict(clean_env, PATH="/usr/bin:/bin")
    script = tmp_path / "task.py"
    script.write_text("import sys, procs.work as w; print(w.leaked(), sys.argv[1:], __name__)\n")
    report = run_json(["./procs", "relaunch", str(script)], env=env, cwd=procs.parent, timeout=300)
    child = json.loads(report["m"]["out"])
    assert child["name"] == "__main__"
    assert child["argv"] == ["x", "-c", "y"]
    assert child["executable"] == str(procs)
    assert child["file"].startswith(f"{procs}/procs/child.py")
    assert child["escape"] == "&lt;i&gt;"
    assert child["leaked"] == [] and child["grandchild"] == []
    assert report["c"] == {"code": 0, "out": "[]", "err": ""}
    assert report["nested"]["out"] == "42", report["nested"]
    assert "import time:" in report["flags"]["err"] and "procs.work" in report["flags"]["err"]
    assert report["posix_spawn"] == {"code": 0, "out": "[]", "err": ""}
    assert report["spawnv"] == 7
    # programs that are not this binary never see the variable
    assert report["env"]["code"] == 0 and "HOME=" in report["env"]["out"]
    assert VARIABLE not in report["env"]["out"]
    assert VARIABLE not in report["shell"]["out"] and "HOME=" in report["shell"]["out"]
    assert report["host_python"] == {"code": 0, "out": "[]", "err": ""}
    # the app started by its argv[0] (not as sys.executable) is the app again
    again = json.loads(report["argv0"]["out"])
    assert again["argv0"] == "./procs"
    assert again["args_ascii"] == ["'-c'", "'pass'"]
    script = json.loads(report["script"]["out"])
    assert (script["argv0"], script["args_ascii"], script["leaked"]) == (str(procs), ["'-c'", "'pass'"], [])
    reloaded = json.loads(report["reloader"]["out"])
    assert (reloaded["argv0"], reloaded["args_ascii"], reloaded["leaked"]) == ("./procs", ["'x'"], [])
    assert reloaded["utf8_mode"] == 1  # options before the script stay in force
    # sys.executable given the app's own arguments runs the app's script, not a python
    by_name = json.loads(report["self_with_app_args"]["out"])
    assert (by_name["argv0"], by_name["args_ascii"], by_name["leaked"]) == (
        str(procs), ["'--to'", "'html'"], [])
    # through a shell: a python command line gets a python, the app's arguments the app
    assert report["shell_python"] == {"code": 0, "out": "[]", "err": ""}
    shell_app = json.loads(report["shell_app"]["out"])
    assert (shell_app["argv0"], shell_app["args_ascii"], shell_app["leaked"]) == (str(procs), ["'x'"], [])
    assert report["shell_script"] == {"code": 0, "out": "[] [] __main__", "err": ""}
    assert report["system"] == 3


def test_a_link_named_python_is_the_interpreter(procs: Path, clean_env, tmp_path: Path):
    for name in ("python", "python3", "python3.13"):
        link = tmp_path / name
        link.symlink_to(procs)
        out = run([link, "-c", "import sys, procs.work as w; print(w.__name__, sys.argv, w.leaked())"],
                  env=clean_env)
        assert (out.returncode, out.stdout.strip()) == (0, "procs.work ['-c'] []"), out.stderr
    # any other name is the app (its default script), whatever the arguments look like
    other = tmp_path / "pythonic"
    other.symlink_to(procs)
    out = run([other, "-c", "pass"], env=clean_env)
    assert out.returncode == 2 and json.loads(out.stdout)["usage"] is True, out.stderr


# -- item 2: the documented way into the interpreter ------------------------------------------------


def test_debug_interpreter_variable(procs: Path, clean_env):
    env = dict(clean_env, **{VARIABLE: "1"})
    code = ("import json, os, sys, markupsafe, procs.work as w; "
            "print(json.dumps([w.__file__, markupsafe._escape_inner.__module__, sys.argv, w.leaked(), "
            "sys.executable, sys.path[0]]))")
    file, escape_module, argv, leaked, executable, path0 = run_json([procs, "-c", code], env=env)
    assert file.startswith(f"{procs}/procs/work.py")
    assert escape_module == "markupsafe._speedups"
    assert argv == ["-c"] and leaked == [] and executable == str(procs)
    assert path0 == ""  # -c puts the current directory first, as CPython does

    child = run_json([procs, "-m", "procs.child", "arg"], env=env)
    assert child["argv"] == ["arg"] and child["leaked"] == []

    out = run([procs, "-"], env=env, input="import procs.work\nprint(procs.work.__name__)\n")
    assert (out.returncode, out.stdout.strip()) == (0, "procs.work"), out.stderr
    out = run([procs, "-q", "-i", "-c", "x = 21"], env=env, input="print(x * 2)\nexit(4)\n")
    assert out.returncode == 4, out.stderr
    assert "42" in out.stdout
    out = run([procs, "-X", "importtime", "-c", "import procs.work"], env=env)
    assert out.returncode == 0 and "import time:" in out.stderr and "procs.work" in out.stderr
    assert run([procs, "-c", "raise SystemExit(5)"], env=env).returncode == 5
    assert run([procs, procs, "exit", "3"], env=env).returncode == 3  # the binary as script: the app
    out = run([procs, "-c", "import procs.nope"], env=env)
    assert out.returncode == 1 and "ModuleNotFoundError: No module named 'procs.nope'" in out.stderr
    out = run([procs, "-E", "-c", "import sys; print(sys.flags.ignore_environment)"], env=env)
    assert out.stdout.strip() == "1"


def test_variable_other_than_on_runs_the_app_and_is_removed(procs: Path, clean_env):
    for value in ("0", ""):
        info = run_json([procs, "info"], env=dict(clean_env, **{VARIABLE: value}))
        assert info["leaked"] == []
        assert info["argv0"] == str(procs)


# -- item 3: process semantics of plain Python ------------------------------------------------------


def test_exit_codes(procs: Path, clean_env):
    assert run([procs, "exit", "3"], env=clean_env).returncode == 3
    assert run([procs, "exit", "0"], env=clean_env).returncode == 0
    out = run([procs, "raise"], env=clean_env)
    assert out.returncode == 1
    assert out.stderr.rstrip().endswith("RuntimeError: procs failed on purpose")
    assert f'File "{procs}/procs/cli.py"' in out.stderr


def _signalled(cmd, sig: int, env) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), proc.stderr.read()
        os.kill(int(line.split()[1]), sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_the_app_as_they_end_python(procs: Path, runtime: Path, clean_env, sig: int):
    app_code, app_err = _signalled([procs, "wait"], sig, clean_env)
    py_code, py_err = _signalled([runtime, "-c", WAIT_CODE], sig, clean_env)
    assert app_code == py_code == -sig
    if sig == signal.SIGINT:  # the traceback first, then death by SIGINT (a shell shows 130)
        assert app_err.rstrip().endswith("KeyboardInterrupt")
        assert py_err.rstrip().endswith("KeyboardInterrupt")
    else:
        assert app_err == py_err == ""


def test_sigint_status_seen_by_a_shell_is_130(procs: Path, clean_env):
    shell = subprocess.Popen(["/bin/sh", "-c", '"$1" wait; echo "status=$?"', "sh", procs], env=clean_env,
                             stdout=subprocess.PIPE, text=True)
    try:
        ready = shell.stdout.readline().split()
        assert ready[0] == "ready"
        os.kill(int(ready[1]), signal.SIGINT)  # the app alone, as a terminal's ^C reaches it
        out, _ = shell.communicate(timeout=60)
    finally:
        shell.kill()
        shell.wait()
    assert out.strip() == "status=130"


def _broken_pipe(cmd, env) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"0\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=60), err


def test_sigpipe_as_in_python(procs: Path, runtime: Path, clean_env):
    app_code, app_err = _broken_pipe([procs, "count", "200000"], clean_env)
    py_code, py_err = _broken_pipe([runtime, "-c", COUNT_CODE], clean_env)
    assert app_code == py_code == 1  # not killed by SIGPIPE: CPython ignores it and raises BrokenPipeError
    assert app_err.rstrip().splitlines()[-1] == py_err.rstrip().splitlines()[-1] == \
        "BrokenPipeError: [Errno 32] Broken pipe"
    out = subprocess.run(["/bin/sh", "-c", f'"{procs}" count 200000 | head -1'], env=clean_env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "0\n"


LOCALES = [{"LC_ALL": "C"}, {"LANG": "C"}, {"LC_ALL": "C.UTF-8"}, {"LC_ALL": "POSIX", "LC_CTYPE": "C"}]


@pytest.mark.parametrize("locale_env", LOCALES, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_stdio_locale_argv_and_environment_as_in_cpython(procs: Path, runtime: Path, tmp_path: Path,
                                                         locale_env: dict):
    env = {b"PATH": b"/usr/bin:/bin", b"HOME": str(tmp_path).encode(), b"PROCS_VALUE": b"caf\xe9 \xff",
           **{k.encode(): v.encode() for k, v in locale_env.items()}}
    args = [b"\xff\xferaw", "é".encode(), b"plain", b"-c"]

    def collect(cmd, stdout=subprocess.PIPE):
        proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    app = json.loads(collect([procs, b"info", *args]))
    python = json.loads(collect([runtime, INFO_SCRIPT, *args]))
    assert {k: app[k] for k in python} == python
    assert app["args"] == [a.hex() for a in args]  # the bytes survive exactly
    assert app["stdout"][2:] == [False, False]  # a pipe: block buffered

    # a terminal: line buffered, same as python
    def on_tty(cmd):
        master, slave = pty.openpty()
        try:
            subprocess.run(cmd, env=env, stdout=slave, stderr=subprocess.PIPE, timeout=60, check=True)
            os.close(slave)
            data = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(master)
        return json.loads(data)

    app_tty = on_tty([procs, b"info"])
    python_tty = on_tty([runtime, INFO_SCRIPT])
    assert app_tty["stdout"] == python_tty["stdout"]
    assert app_tty["stdout"][2] is True


def test_relaunch_alone_in_an_empty_chroot(procs: Path, chroot):
    """No /proc, no python, no shell: the binary still finds itself and relaunches as python."""
    chroot.add(procs, "/app/procs", mode=0o755)
    code = ("import subprocess, sys; "
            "r = subprocess.run([sys.executable, '-c', 'import procs.work as w, sys; print(w.leaked(), sys.argv)'], "
            "capture_output=True, text=True); print(sys.executable, r.returncode, r.stdout.strip(), r.stderr)")
    out = chroot.run(["/app/procs", "-c", code], env={VARIABLE: "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "/app/procs 0 [] ['-c']"
    out = chroot.run(["/app/procs", "exit", "9"], env={})
    assert out.returncode == 9, out.stderr


def test_debug_variable_gives_the_interactive_repl_on_a_terminal(procs: Path, clean_env):
    """The 3.13 REPL (_pyrepl, from the archive) on a pseudo-terminal, with the app's packages."""
    import select
    import time

    master, slave = pty.openpty()
    env = dict(clean_env, TERM="xterm", **{VARIABLE: "1"})
    proc = subprocess.Popen([procs], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""

    def pump(until: bytes, seconds: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + seconds
        while until not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    return

    try:
        pump(b">>> ")
        os.write(master, b"import procs.work; print(procs.work.__name__, 6 * 7)\r")
        pump(b"procs.work 42")
        os.write(master, b"exit(6)\r")
        assert proc.wait(timeout=30) == 6
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    assert b"procs.work 42" in seen
