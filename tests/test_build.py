"""`amber build` end to end: real projects, real uv, real binaries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from helpers.build import AMBER, copy_fixture
from helpers.proc import run

pytestmark = pytest.mark.runtime



def test_build_writes_dist_script_and_says_what_it_built(runtime: Path, tmp_path: Path):
    project = copy_fixture("hello", tmp_path)
    out = run([*AMBER, "build", project], timeout=600)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == project / "dist" / "hello"
    assert "glibc 2.17 or newer" in out.stderr and "amber: entry point hello; also " in out.stderr


def test_hello_runs_its_entry_point_with_the_users_argv(hello_binary: Path, clean_env):
    out = run([hello_binary, "-c", "foo", "--version"], env=clean_env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["argv"] == ["-c", "foo", "--version"]
    assert result["file"] == f"{hello_binary}/hello/cli.py"  # the source's path, as installed (its .pyc runs)
    assert result["path0"] == str(hello_binary)
    assert result["flags_isolated"] == 1


def test_site_builtins_are_there_without_site(hello_binary: Path, clean_env):
    code = ("import builtins; print([type(getattr(builtins, n)).__name__ for n in "
            "('exit', 'quit', 'help', 'copyright', 'credits', 'license')]); print(license)")
    out = run([hello_binary, "-c", code], env=dict(clean_env, AMBER_INTERPRETER="1"))
    assert out.returncode == 0, out.stderr
    kinds, text = out.stdout.splitlines()
    assert kinds == "['Quitter', 'Quitter', '_Helper', '_Printer', '_Printer', '_Printer']"
    assert text == "See https://www.python.org/psf/license/"  # as CPython prints it without a LICENSE file


def test_start_up_imports_only_what_it_uses(hello_binary: Path, clean_env):
    """A start that loads nothing native imports no os (site's _Printer would) and none of the loader's
    helpers; loading a shared object from memory needs neither ctypes nor its sysconfig and threading."""
    heavy = ("os", "ctypes", "sysconfig", "threading", "struct", "mmap", "importlib", "__amber_children__")
    code = f"import sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    env = dict(clean_env, AMBER_INTERPRETER="1")
    out = run([hello_binary, "-c", code], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    out = run([hello_binary, "-c", "import _ssl, unicodedata; " + code], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['__amber_children__', 'mmap', 'os', 'struct']"


def test_exit_codes_and_tracebacks(hello_binary: Path, tmp_path: Path, clean_env):
    link = tmp_path / "hello-fail"
    link.symlink_to(hello_binary)
    assert run([link], env=clean_env).returncode == 3
    assert run([link], env=dict(clean_env, HELLO_EXIT="0")).returncode == 0
    out = run([link], env=dict(clean_env, HELLO_EXIT="-1"))
    assert out.returncode == 1
    assert "RuntimeError: boom from hello" in out.stderr
    assert f'File "{hello_binary}/hello/cli.py"' in out.stderr
    assert 'raise RuntimeError("boom from hello")' in out.stderr


def test_links_named_like_other_scripts_run_them(hello_binary: Path, tmp_path: Path, clean_env):
    shout = tmp_path / "hello-shout"
    os.link(hello_binary, shout)
    out = run([shout, "quiet", "please"], env=clean_env)
    assert out.stdout.strip() == "QUIET PLEASE"
    other = tmp_path / "whatever"
    other.symlink_to(hello_binary)
    assert json.loads(run([other], env=clean_env).stdout)["argv"] == []


def test_environment_cannot_change_what_runs(hello_binary: Path, tmp_path: Path, clean_env):
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "json.py").write_text("raise SystemExit('hijacked')\n")
    env = dict(clean_env, PYTHONPATH=str(evil), PYTHONHOME=str(evil), PYTHONSTARTUP=str(evil / "json.py"),
               PYTHONINSPECT="1")
    out = run([hello_binary, "x"], env=env, cwd=evil)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["argv"] == ["x"]


def test_runs_alone_in_an_empty_chroot(hello_binary: Path, chroot):
    chroot.add(hello_binary, "/app/hello", mode=0o755)
    evil = chroot.write("/app/json.py", "raise SystemExit('hijacked')\n")
    out = chroot.run(["/app/hello", "in", "chroot"], env={"PYTHONPATH": str(evil.parent.relative_to(chroot.root))})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["argv"] == ["in", "chroot"]


def test_rebuild_is_byte_identical(hello_binary: Path, tmp_path: Path):
    first = hashlib.sha256(hello_binary.read_bytes()).hexdigest()
    project = copy_fixture("hello", tmp_path)
    out = run([*AMBER, "build", project, "-o", tmp_path / "again"], timeout=600)
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256((tmp_path / "again").read_bytes()).hexdigest() == first


def test_explicit_entry_and_no_sources(runtime: Path, tmp_path: Path, clean_env):
    project = copy_fixture("hello", tmp_path)
    out = run([*AMBER, "build", project, "--entry", "hello.cli:shout", "--no-sources", "-o", tmp_path / "s"],
              timeout=600)
    assert out.returncode == 0, out.stderr
    assert run([tmp_path / "s", "a"], env=clean_env).stdout.strip() == "A"
    import zipfile

    names = zipfile.ZipFile(tmp_path / "s").namelist()
    assert "hello/cli.pyc" in names and "hello/cli.py" not in names
    assert "json/__init__.pyc" in names and not [n for n in names if n.endswith(".py")]  # stdlib sources too
    # without a source, a module's __file__ is its .pyc (sourceless, as in a zip of .pyc files)
    code = "import json, hello.cli; print(json.__file__.rsplit('/', 2)[-2:], hello.cli.__file__.rsplit('/', 1)[-1])"
    out = run([tmp_path / "s", "-c", code], env=dict(clean_env, AMBER_INTERPRETER="1"))
    assert out.stdout.strip() == "['json', '__init__.pyc'] cli.pyc", out.stderr


def _amber_build_error(project: Path, *extra) -> str:
    out = run([*AMBER, "build", project, *extra], timeout=600)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amber: "), out.stderr
    assert not list(project.glob("dist/*")) if project.is_dir() else True
    return lines[0]


def write_project(root: Path, pyproject: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    return root


def test_bad_input_gives_one_line_errors(runtime: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no pyproject.toml" in _amber_build_error(empty)
    assert "not valid TOML" in _amber_build_error(write_project(tmp_path / "bad", "[project\nname=1"))
    assert "no [project] table" in _amber_build_error(write_project(tmp_path / "noproj", "[tool.x]\na = 1\n"))
    project = copy_fixture("hello", tmp_path / "h")
    assert "unknown entry point 'nope'" in _amber_build_error(project, "--entry", "nope")
    assert "unsupported --platform" in _amber_build_error(project, "--platform", "win32")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory is needed")
    assert "cannot write" in _amber_build_error(project, "-o", blocked / "sub" / "app")


def test_no_scripts_and_unresolvable_dependency(runtime: Path, tmp_path: Path):
    noscripts = copy_fixture("hello", tmp_path / "n")
    text = (noscripts / "pyproject.toml").read_text()
    (noscripts / "pyproject.toml").write_text(text.split("[project.scripts]")[0])
    assert "declares no [project.scripts]" in _amber_build_error(noscripts)
    missing = copy_fixture("hello", tmp_path / "m")
    text = (missing / "pyproject.toml").read_text()
    (missing / "pyproject.toml").write_text(
        text.replace('requires-python = ">=3.11"', 'requires-python = ">=3.11"\n'
                     'dependencies = ["amber-no-such-package-xyz==1.0"]'))
    message = _amber_build_error(missing)
    assert "resolving and installing the dependencies failed" in message
    assert "amber-no-such-package-xyz" in message


def test_bundled_example_builds_and_runs_in_a_chroot(runtime: Path, tmp_path: Path, chroot):
    """README's first command: the example, built, copied alone into an empty root."""
    project = tmp_path / "hello"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "hello", project)
    out = run([*AMBER, "build", project], timeout=600)
    assert out.returncode == 0, out.stderr
    binary = project / "dist" / "hello-amber"
    chroot.add(binary, "/usr/local/bin/hello-amber", mode=0o755)
    chroot.mount_proc()  # as on any server: the _ssl shared module is loaded from memory through /proc/self/fd
    result = chroot.run(["hello-amber", "chroot"], env={"PATH": "/usr/local/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Hello, chroot!"
    assert lines[1].split() == ["binary:", "/usr/local/bin/hello-amber"]
    assert "OpenSSL 3.5.7" in result.stdout and "glibc" in result.stdout


def test_zip_unsafe_code_works_unchanged(runtime: Path, tmp_path: Path, clean_env):
    project = copy_fixture("zipunsafe", tmp_path)
    out = run([*AMBER, "build", project], timeout=600)
    assert out.returncode == 0, out.stderr
    result = run([project / "dist" / "zipunsafe"], env=clean_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {
        "open": ["alpha", "beta"],
        "listdir": ["nested", "words.txt"],
        "exists": [True, True],
        "walk": ["config.json", "words.txt"],
        "glob": ["config.json"],
        "pathlib": 42,
        "resources": ["alpha", "beta"],
        "get_data": '{"answer": 42}',
        "version": "2.5.1",
        "entry_points": ["zipunsafe"],
        "files": ["zipunsafe/data/words.txt"],
        "write": "Read-only file system",
        "file": True,
        "fstat": 11,
        "distributions": ["zipunsafe"],
        "getsource": "def main():",
        "linecache": "beta\n",
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fetch(url: str, deadline: float) -> str:
    import time
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("flags", [(), ("--trim", "--compress")], ids=["default", "trim-compress"])
def test_flask_example_serves_its_page_alone_in_a_chroot(runtime: Path, tmp_path: Path, chroot, flags):
    """The issue's example: Flask templates and static files from the archive, embedded gunicorn; and the
    same app trimmed and compressed, which must pass the same checks."""
    import signal
    import subprocess
    import time

    project = tmp_path / "flask-hello"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "flask-hello", project)
    out = run([*AMBER, "build", project, *flags], timeout=900)
    assert out.returncode == 0, out.stderr
    assert "flask 3.1.2" in out.stderr.lower() and "gunicorn 23.0.0" in out.stderr.lower()
    chroot.add(project / "dist" / "flask-hello", "/srv/flask-hello", mode=0o755)
    # /proc as on any real system: werkzeug imports unicodedata, a shared module loaded from memory
    # through /proc/self/fd (without /proc it comes from the extraction cache: tests/test_native.py)
    chroot.mount_proc()
    port = _free_port()
    server = subprocess.Popen(["/srv/flask-hello", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                              preexec_fn=chroot.enter, env={"PATH": "/srv"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        page = _fetch(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        assert "Hello, 127.0.0.1!" in page and "from one amber binary" in page
        css = _fetch(f"http://127.0.0.1:{port}/static/style.css", time.monotonic() + 10)
        assert "#c47a00" in css
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert '"GET / HTTP/1.1" 200' in output


def test_other_build_backend(runtime: Path, tmp_path: Path, clean_env):
    """Any PEP 517 backend: the hello fixture built with hatchling instead of setuptools."""
    project = copy_fixture("hello", tmp_path)
    text = (project / "pyproject.toml").read_text()
    text = text.replace('requires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"',
                        'requires = ["hatchling"]\nbuild-backend = "hatchling.build"')
    (project / "pyproject.toml").write_text(text + '\n[tool.hatch.build.targets.wheel]\npackages = ["src/hello"]\n')
    out = run([*AMBER, "build", project, "--entry", "hello-shout", "-o", tmp_path / "shout"], timeout=600)
    assert out.returncode == 0, out.stderr
    assert run([tmp_path / "shout", "hatch"], env=clean_env).stdout.strip() == "HATCH"


def test_dependency_that_needs_a_c_compiler_is_named(runtime: Path, tmp_path: Path):
    project = copy_fixture("hello", tmp_path / "app")
    cext = copy_fixture("cext", tmp_path)
    text = (project / "pyproject.toml").read_text()
    dependency = f'dependencies = ["cext @ {cext.as_uri()}"]'
    (project / "pyproject.toml").write_text(text.replace('requires-python = ">=3.11"',
                                                         f'requires-python = ">=3.11"\n{dependency}'))
    message = _amber_build_error(project)
    assert message.startswith("amber: cext 0.1: no manylinux wheel for x86_64-linux-gnu exists")


def test_inspect_lists_runtime_scripts_and_distributions(hello_binary: Path, tmp_path: Path):
    out = run([*AMBER, "inspect", "--json", hello_binary, "--sbom", tmp_path / "sbom.json"])
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["kind"], info["python_version"], info["glibc"], info["entry"]) == ("app", "3.13.15", "2.17", "hello")
    assert sorted(info["scripts"]) == ["hello", "hello-fail", "hello-shout"]
    assert [(d["name"], d["version"], d["native"]) for d in info["distributions"]] == [("hello", "1.0", False)]
    assert info["distributions"][0]["files"] >= 4 and info["stdlib_size"] > 10_000_000
    assert info["interpreter_size"] + info["archive_size"] == info["size"] == hello_binary.stat().st_size
    sbom = json.loads((tmp_path / "sbom.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5"
    assert {"name": "hello", "version": "1.0", "type": "library", "purl": "pkg:pypi/hello@1.0"} in sbom["components"]
    text = run([*AMBER, "inspect", hello_binary]).stdout
    assert "entry:    hello" in text and "hello 1.0:" in text


def test_inspect_refuses_other_files(tmp_path: Path):
    out = run([*AMBER, "inspect", "/bin/ls"])
    assert out.returncode == 1
    assert out.stderr.strip() == "amber: /bin/ls is not an amber binary (no amber archive trailer)"
    out = run([*AMBER, "inspect", tmp_path / "missing"])
    assert out.returncode == 1 and out.stderr.strip().endswith("missing: no such file")


def test_amber_venv_installs_wheels_and_compiles_c_extensions(runtime: Path, tmp_path: Path, clean_env):
    """`amber venv`: pip works, and a C-extension sdist compiles against the runtime's headers and imports."""
    venv = tmp_path / "venv"
    out = run([*AMBER, "venv", venv], timeout=600)
    assert out.returncode == 0, out.stderr
    python = Path(out.stdout.strip())
    assert python == venv / "bin" / "python"
    code = "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_paths()['include'])"
    facts = run([python, "-c", code], env=clean_env).stdout.split()
    assert facts == [str(runtime.parent.parent), str(runtime.parent.parent / "include" / "python3.13")]
    # The activate script (venv copies it from its own directory, which is inside the runtime's archive).
    activate = (venv / "bin" / "activate").read_text()
    assert f"VIRTUAL_ENV={venv}" in activate or f"VIRTUAL_ENV='{venv}'" in activate
    shell = run(["bash", "-c", f". {venv}/bin/activate && command -v python && python -c 'import ssl, sys; "
                 "print(sys.prefix)'"], env=clean_env)
    assert shell.stdout.split() == [str(venv / "bin" / "python"), str(venv)], shell.stderr
    cext = copy_fixture("cext", tmp_path)
    env = dict(clean_env, PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = run([python, "-m", "pip", "install", "-q", cext], env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    code = "import cext; print(cext.__name__, cext.__file__.endswith('.cpython-313-x86_64-linux-gnu.so'))"
    out = run([python, "-c", code], env=env)
    assert out.stdout.split() == ["cext", "True"], out.stderr
    assert "not empty" in run([*AMBER, "venv", venv]).stderr


def test_full_disk_leaves_no_partial_output(runtime: Path, tmp_path: Path):
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    project = copy_fixture("hello", tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], check=True)
    try:
        message = _amber_build_error(project, "-o", small / "hello")
        assert message == f"amber: cannot write {small / 'hello'}: No space left on device"
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_interrupted_build_leaves_nothing_behind(runtime: Path, tmp_path: Path):
    import signal
    import subprocess
    import time

    project = copy_fixture("hello", tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    proc = subprocess.Popen([*AMBER, "build", str(project)], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # inside the wheel build or the install
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    ours = [p for p in scratch.iterdir() if not p.name.startswith("uv-")]  # uv keeps its own lock files there
    leftovers = sorted(str(p.relative_to(tmp_path)) for p in [*ours, *project.glob("dist/*")])
    assert (proc.returncode, "Traceback" in err, leftovers) == (130, False, []), err


def test_build_straight_from_a_requirement(runtime: Path, tmp_path: Path, clean_env):
    """`amber build 'typer==0.29.2'`, as `shiv -c typer typer` users do: the distribution's script named like
    it is the default, another installed distribution's script can be the entry, the pins are recorded,
    and the recorded pins rebuild the same file."""
    out = run([*AMBER, "build", "typer==0.29.2", "-o", "bin/typer"], cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "amber: entry point typer\n" in out.stderr
    binary = tmp_path / "bin" / "typer"
    version = run([binary, "--version"], env=clean_env)
    assert (version.returncode, version.stdout.strip()) == (0, "Typer version: 0.29.2"), version.stderr
    info = json.loads(run([*AMBER, "inspect", "--json", binary]).stdout)
    assert info["inputs"]["requirement"] == "typer==0.29.2"
    # the binary's own record of its pins takes the requirement back to the same versions
    pins = tmp_path / "pins.txt"
    pins.write_text(_member(binary, ".amber/requirements.lock"))
    again = run([*AMBER, "build", "typer==0.29.2", "--requirements", pins, "-o", "again"], cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr
    assert _member(tmp_path / "again", ".amber/requirements.lock") == pins.read_text()
    # an entry point from a dependency; the default output is ./dist/<entry>
    out = run([*AMBER, "build", "typer==0.29.2", "--entry", "pygmentize"], cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    pygmentize = run([tmp_path / "dist" / "pygmentize", "-V"], env=clean_env)
    assert pygmentize.stdout.startswith("Pygments version 2.21.0"), pygmentize.stderr
    for bad, message in (("typer=0.29", "amber: 'typer=0.29' is neither a project directory nor a requirement"),
                         ("./typer", f"amber: {tmp_path}/typer is not a directory")):
        out = run([*AMBER, "build", bad], cwd=tmp_path)
        assert out.returncode == 1 and out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr


def _member(binary: Path, name: str) -> str:
    from amber.archive.reader import open_binary

    return open_binary(binary).members(lambda member: member == name)[0].data.decode()
