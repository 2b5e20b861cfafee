"""amber against its peers: the same sample apps built by amber, PyInstaller, Nuitka, shiv, pex and pip.

    .venv/bin/python bench/peers.py

Run as root on a Debian machine with the amber runtime built (`amber runtime build`, the install
step of README; if it is missing this command builds it first and says how long that took). The
script installs what it needs itself: Debian's python3-venv/python3-dev/patchelf/ccache with
apt-get, and the peers at pinned versions into its own environments under --workdir
(~/.cache/amber-bench/peers). It then generates seven sample apps with exactly pinned
dependency trees (hello; click; click+rich; Flask rendering a template; numpy; Django `check` +
a template; a CLI importing kubernetes, sympy and rich: more than 3,000 .py files), builds
each with every tool (once with empty caches, then again with warm ones), checks each output
once, and measures, with the runs of all tools interleaved (A B C A B C ...) so machine drift
hits all alike:
  warm start-up    median wall time of --runs runs after a warm-up round
  first run        the same with the run's HOME and TMPDIR emptied before every run
                   (PyInstaller's _MEI*, shiv's ~/.shiv, pex's PEX_ROOT, amber's extraction cache)
  peak RSS         ru_maxrss from os.wait4 (largest process of the tree: onefile parents are small)
  size, build time warm and cold; the floor `<runtime> -I -S -c pass`; hello with TMPDIR on a
  noexec tmpfs (mounted here, unmounted after); amber's start-up split from -X importtime.
It writes its own section of docs/benchmarks.md (between `<!-- peers:begin -->` and
`<!-- peers:end -->`, everything else is kept) and docs/peers-startup.png. A tool that fails an
app is a result (the table says why), never a crash of the bench. --quick, --apps and --tools are
for development: they write into --workdir unless --output is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import DOC, ROOT, markers, replace_section

PNG = ROOT / "docs" / "peers-startup.png"
BEGIN, END = markers("peers")
DEBIAN_PYTHON = Path("/usr/bin/python3")
PYENV_313 = Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13"
APT_PACKAGES = ["python3-venv", "python3-dev", "patchelf", "ccache"]
SETUPTOOLS = "setuptools==80.9.0"

# The peers, pinned with everything they pull in. PyInstaller needs a Python with a shared libpython and
# Nuitka one with its headers: both run on Debian's python3; shiv, pex and the venv on pyenv's CPython 3.13.
ENVS = {
    "pyinstaller": (DEBIAN_PYTHON, ["pyinstaller==6.22.3", "pyinstaller-hooks-contrib==2026.9", "altgraph==0.17.5",
                                    "packaging==26.4"]),
    "nuitka": (DEBIAN_PYTHON, ["nuitka==4.3.3", "zstandard==0.25.0", "ordered-set==4.1.0"]),
    "py313": (PYENV_313, ["shiv==1.0.8", "pex==2.105.2", "click==8.5.1", "setuptools==84.2.1",
                          "matplotlib==3.11.2", "contourpy==1.4.0", "cycler==0.12.1", "fonttools==4.68.0",
                          "kiwisolver==1.5.1", "numpy==2.5.5", "packaging==26.4", "pillow==13.0.0",
                          "pyparsing==3.3.3", "python-dateutil==2.9.0.post0", "six==1.17.0"]),
}
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class App:
    """A sample app: its package source, data files, exactly pinned dependency tree, and its output marker."""

    name: str
    summary: str
    pins: tuple[str, ...]
    source: str
    data: dict[str, str] = field(default_factory=dict)
    only: tuple[str, ...] | None = None  # the tools that build it (None: all)

    @property
    def module(self) -> str:
        return f"bench_{self.name}"

    @property
    def script(self) -> str:
        return f"bench-{self.name}"


TEMPLATE = "<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>\n"
APPS = [
    App("hello", "print one line", (), """
        def main():
            print("hello")
            print("bench-ok")
        """),
    App("click", "a click CLI", ("click==8.5.1",), """
        import click


        @click.command()
        @click.option("--name", default="world")
        @click.option("--count", default=2, type=int)
        def main(name, count):
            for i in range(count):
                click.echo(f"{i}: hello {name}")
            print("bench-ok")
        """, only=("amber", "nuitka", "venv")),
    App("cli", "click + rich: a table and highlighted code",
        ("click==8.5.1", "rich==15.0.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "pygments==2.21.0"), """
        import click
        from rich.console import Console
        from rich.syntax import Syntax
        from rich.table import Table


        @click.command()
        @click.option("--rows", default=5, type=int)
        def main(rows):
            console = Console(width=100, force_terminal=True, color_system="truecolor")
            table = Table("n", "square", title="squares")
            for i in range(rows):
                table.add_row(str(i), str(i * i))
            console.print(table)
            console.print(Syntax("def f(x):\\n    return x * x\\n", "python"))
            print("bench-ok")
        """),
    App("flask", "Flask: render a template of the package",
        ("flask==3.1.3", "werkzeug==3.1.9", "jinja2==3.1.6", "markupsafe==3.0.4", "itsdangerous==2.2.0",
         "click==8.5.1", "blinker==1.9.0"), """
        from flask import Flask, render_template

        app = Flask(__name__)
        app.testing = True  # errors propagate: a missing template is a traceback, not a 500


        @app.route("/")
        def index():
            return render_template("index.html", items=["amber", "peers"])


        def main():
            response = app.test_client().get("/")
            assert b"<li>amber</li>" in response.data
            print("bench-ok")
        """, {"templates/index.html": TEMPLATE}),
    App("numpy", "numpy: solve a 200×200 linear system", ("numpy==2.4.6",), """
        import numpy as np


        def main():
            a = np.random.default_rng(7).standard_normal((200, 200))
            x = np.linalg.solve(a, np.ones(200))
            assert np.allclose(a @ x, 1.0)
            print("bench-ok")
        """),
    App("django", "Django: `check` + render an app template",
        ("django==5.2.19", "asgiref==3.13.0", "sqlparse==0.6.1"), """
        import django
        from django.conf import settings


        def main():
            settings.configure(
                SECRET_KEY="bench", USE_TZ=True,
                INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "bench_django"],
                DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
                TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}])
            django.setup()
            from django.core.management import call_command
            from django.template.loader import render_to_string

            call_command("check")
            assert "<li>amber</li>" in render_to_string("bench_django/page.html", {"items": ["amber", "peers"]})
            print("bench-ok")
        """, {"templates/bench_django/page.html": TEMPLATE}),
    App("big", "a click CLI on kubernetes + sympy + rich (3,000+ .py files)",
        ("kubernetes==35.0.0", "sympy==1.14.0", "mpmath==1.3.0", "rich==15.0.0", "markdown-it-py==4.3.0",
         "mdurl==0.1.2", "pygments==2.21.0", "click==8.5.1", "certifi==2026.10.19.post1", "charset-normalizer==3.5.3",
         "durationpy==0.11", "idna==3.20", "oauthlib==4.0.1", "python-dateutil==2.9.0.post0", "pyyaml==6.0.4",
         "requests-oauthlib==2.0.0", "requests==2.34.2", "six==1.17.0", "urllib3==2.8.0",
         "websocket-client==1.9.2"), """
        import sys

        import click
        import kubernetes.client as k8s
        import sympy
        from kubernetes.utils import parse_quantity
        from rich.console import Console
        from rich.table import Table


        @click.command()
        @click.option("--cores", default=2, type=int)
        def main(cores):
            resources = k8s.V1ResourceRequirements(requests={"cpu": "250m", "memory": "64Mi"})
            pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="bench"), spec=k8s.V1PodSpec(
                containers=[k8s.V1Container(name="app", image="app:1", resources=resources)]))
            cpu = parse_quantity(pod.spec.containers[0].resources.requests["cpu"])
            n = sympy.Symbol("n", positive=True)
            pods = sympy.solve(sympy.Eq(n * sympy.Rational(str(cpu)), cores), n)[0]
            table = Table("cores", "pods of 250m", "modules imported")
            table.add_row(str(cores), str(pods), str(len(sys.modules)))
            Console(width=80).print(table)
            print("modules", len(sys.modules))
            print("bench-ok")
        """),
]
NUITKA_APPS = ("hello", "click")  # Nuitka compiles every module to C: minutes per app on two cores


def make_project(root: Path, app: App) -> Path:
    """Write the app as a setuptools project with one console script (and an entry file for onefile tools)."""
    project = root / app.script
    package = project / "src" / app.module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(app.source).lstrip())
    for name, text in app.data.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    deps = ", ".join(f'"{pin}"' for pin in app.pins)
    data = ", ".join(f'"{name}"' for name in app.data)
    (project / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{SETUPTOOLS}"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{app.script}"\nversion = "1.0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n\n'
        f'[project.scripts]\n{app.script} = "{app.module}:main"\n\n'
        f'[tool.setuptools.package-data]\n{app.module} = [{data}]\n')
    (project / "entry.py").write_text(f"import sys\n\nfrom {app.module} import main\n\nsys.exit(main())\n")
    return project


# ---------------------------------------------------------------------------------------------- processes

class StepError(Exception):
    """A build step or a check that failed; the message is the one-line reason shown in the doc."""


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|NotFound|DoesNotExist)\b(:.*)?$")
ERROR_LINE = re.compile(r"(Error|error:|FATAL|not found|denied)")


def reason_of(output: str) -> str:
    """The line of a tool's output a user would read first: a Python exception, else the last error line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    hits = [line for line in lines if EXCEPTION_LINE.match(line)] or [line for line in lines if ERROR_LINE.search(line)]
    line = (hits or lines or ["no output"])[-1]
    return line if len(line) <= 160 else line[:157] + "..."


def base_env(home: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """An almost empty environment: nothing of the caller's Python setup leaks into builds or runs."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(tmp)}
    env.update(extra)
    return env


def step(argv: list[str | Path], env: dict[str, str], log: Path, timeout: float, cwd: Path | None = None) -> None:
    """Run one build command, its output appended to log; a failure or time-out raises StepError."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(map(str, argv))}\n")
        out.flush()
        try:
            proc = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise StepError(f"timed out after {timeout:.0f} s") from exc
    if proc.returncode:
        raise StepError(reason_of(log.read_text(errors="replace")[-20000:]))


# Peak RSS needs a small parent: a child's ru_maxrss counts the image it had before exec, which for a child
# forked (or vforked) by this Python process is this process's RSS. spawnrss forks the measured program from a
# C process of about 1 MB, waits for it with wait4 and reports the wall time of fork..wait4 and ru_maxrss (the
# largest process of the program's tree, descendants it waited for included).
SPAWNRSS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec start, end;
    struct rusage usage;
    int status, fd = atoi(argv[1]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &usage) < 0)
        return 125;
    clock_gettime(CLOCK_MONOTONIC, &end);
    dprintf(fd, "%lld %ld\n", (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec),
            usage.ru_maxrss);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
"""


def build_spawnrss(work: Path) -> Path:
    source, binary = work / "bin" / "spawnrss.c", work / "bin" / "spawnrss"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(SPAWNRSS_C)
    subprocess.run(["cc", "-O2", "-o", binary, source], check=True)
    return binary


@dataclass
class Sample:
    seconds: float
    rss_kb: int
    error: str | None = None


def run_once(spawnrss: Path, argv: list[str], env: dict[str, str], timeout: float) -> Sample:
    """Wall time and peak RSS of one run of a program (through spawnrss), or why it failed."""
    read, write = os.pipe()
    with tempfile.TemporaryFile() as err, os.fdopen(read) as report:
        proc = subprocess.Popen([str(spawnrss), str(write), *argv], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, pass_fds=(write,), start_new_session=True)
        os.close(write)
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        code = proc.wait()
        timer.cancel()
        fields = report.read().split()
        if len(fields) != 2:
            return Sample(timeout, 0, f"timed out after {timeout:.0f} s" if code < 0 else f"spawnrss failed ({code})")
        sample = Sample(int(fields[0]) / 1e9, int(fields[1]))
        if code:
            err.seek(0)
            sample.error = reason_of(err.read().decode(errors="replace")[-20000:]) + f" (exit {code})"
        return sample


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def check_output(argv: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a built app once; its stdout, or StepError with the reason it failed (a result, not a crash)."""
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise StepError(f"timed out after {timeout:.0f} s") from exc
    if proc.returncode or "bench-ok" not in proc.stdout:
        raise StepError(reason_of(proc.stderr or proc.stdout) + f" (exit {proc.returncode})")
    return proc.stdout


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())


def empty_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def capture(argv: list[str | Path], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
    return (proc.stdout + proc.stderr).strip()


# ---------------------------------------------------------------------------------------------- tools

@dataclass
class Context:
    """Paths and settings shared by every tool."""

    work: Path
    runtime: Path
    amber_cache: Path
    build_timeout: float
    run_timeout: float
    spawnrss: Path

    @property
    def envs(self) -> Path:
        return self.work / "envs"

    def cache(self, tool: str) -> Path:
        return self.work / "caches" / tool

    def build_env(self, **extra: str) -> dict[str, str]:
        """Build environment: empty-ish, machine CA settings kept, no pip config of the machine."""
        env = base_env(self.work / "build-home", self.work / "build-tmp", PIP_CONFIG_FILE=os.devnull,
                       PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
        env.update({name: os.environ[name] for name in CA_VARIABLES if name in os.environ})
        for name in ("HOME", "TMPDIR"):
            Path(env[name]).mkdir(parents=True, exist_ok=True)
        return env


class Tool:
    """One way of shipping an app. prepare() is untimed setup; build() is what the build time measures."""

    key = ""
    label = ""
    python = "pyenv CPython 3.13.0"
    apps: tuple[str, ...] | None = None  # None: every app
    run_cache = True  # False: nothing kept between runs, so a first run is a warm run
    cold_build = True  # False: only a warm build is timed

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def takes(self, app: App) -> bool:
        return (self.apps is None or app.name in self.apps) and (app.only is None or self.key in app.only)

    def caches(self) -> list[Path]:
        return [self.ctx.cache(self.key)]

    def prepare(self, app: App, project: Path, out: Path) -> None:
        """Untimed: what a user has before building (the tool installed)."""

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        raise NotImplementedError

    def argv(self, artifact: Path) -> list[str]:
        return [str(artifact)]


class Amber(Tool):
    key = label = "amber"
    python = "amber runtime (CPython 3.13.15, static)"

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        binary = out / app.script
        env = self.ctx.build_env(UV_CACHE_DIR=str(self.ctx.cache(self.key)), AMBER_CACHE=str(self.ctx.amber_cache))
        step([sys.executable, "-m", "amber", "build", project, "-o", binary], env, log, self.ctx.build_timeout)
        return binary


class OneFile(Tool):
    """PyInstaller and Nuitka: a venv (a copy of the tool's own) into which the app is pip-installed first."""

    python = "Debian CPython 3.11"
    run_cache = False  # a new temporary directory at every run

    def prepare(self, app: App, project: Path, out: Path) -> None:
        shutil.copytree(self.ctx.envs / self.key, out / "venv", symlinks=True)

    def pip_install(self, project: Path, out: Path, log: Path) -> None:
        env = self.ctx.build_env(PIP_CACHE_DIR=str(self.ctx.cache(self.key) / "pip"))
        step([out / "venv" / "bin" / "python", "-m", "pip", "install", "-q", project], env, log,
             self.ctx.build_timeout)


class PyInstaller(OneFile):
    key, label = "pyinstaller", "PyInstaller"

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        self.pip_install(project, out, log)
        env = self.ctx.build_env(PYINSTALLER_CONFIG_DIR=str(self.ctx.cache(self.key) / "config"))
        step([out / "venv" / "bin" / "python", "-m", "PyInstaller", "--onefile", "--noconfirm", "--log-level", "WARN",
              "-n", app.script, "--distpath", out, "--workpath", out / "work", "--specpath", out / "work",
              project / "entry.py"], env, log, self.ctx.build_timeout)
        return out / app.script


class Nuitka(OneFile):
    key, label = "nuitka", "Nuitka"
    apps = NUITKA_APPS

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        self.pip_install(project, out, log)
        cache = self.ctx.cache(self.key)
        env = self.ctx.build_env(NUITKA_CACHE_DIR=str(cache / "nuitka"), CCACHE_DIR=str(cache / "ccache"))
        step([out / "venv" / "bin" / "python", "-m", "nuitka", "--onefile", "--assume-yes-for-downloads",
              "--remove-output", f"--output-dir={out / 'work'}", f"--output-filename={app.script}",
              project / "entry.py"], env, log, self.ctx.build_timeout)
        return out / "work" / app.script


class Shiv(Tool):
    key, label = "shiv", "shiv"

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        env = self.ctx.build_env(PIP_CACHE_DIR=str(self.ctx.cache(self.key)))
        target = out / f"{app.script}.pyz"
        step([self.ctx.envs / "py313" / "bin" / "shiv", "-c", app.script, "-o", target, "--python", PYENV_313,
              project], env, log, self.ctx.build_timeout)
        return target


class Pex(Tool):
    key, label, flags = "pex", "pex", ()

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        env = self.ctx.build_env(PEX_ROOT=str(self.caches()[0]))
        target = out / f"{app.script}.pex"
        step([self.ctx.envs / "py313" / "bin" / "pex", project, "-c", app.script, "-o", target, "--python", PYENV_313,
              "--python-shebang", PYENV_313, *self.flags], env, log, self.ctx.build_timeout)
        return target


class PexVenv(Pex):
    """Built after pex with pex's cache: the same resolve, so only its warm build is timed (saves minutes)."""

    key, label, flags = "pex-venv", "pex --venv", ("--venv",)
    cold_build = False

    def caches(self) -> list[Path]:
        return [self.ctx.cache("pex")]


class Venv(Tool):
    """Nothing to empty between runs, but measured in the first-run series too: the reference of amber's ratio."""

    key, label = "venv", "venv"
    cold_build = False  # pip into a new venv: the reference for start-up, not a packager (saves 1.5 minutes)

    def build(self, app: App, project: Path, out: Path, log: Path) -> Path:
        env = self.ctx.build_env(PIP_CACHE_DIR=str(self.ctx.cache(self.key)))
        step([PYENV_313, "-m", "venv", out / "venv"], env, log, self.ctx.build_timeout)
        step([out / "venv" / "bin" / "python", "-m", "pip", "install", "-q", project], env, log,
             self.ctx.build_timeout)
        return out / "venv" / "bin" / app.script


TOOLS: list[type[Tool]] = [Amber, PyInstaller, Nuitka, Shiv, Pex, PexVenv, Venv]
FLOOR = "floor"
UNBUDGETED = ("amber", "venv")  # never cut short by the time budget: the targets compare these two


def size_of(tool: Tool, artifact: Path) -> int:
    """The output's size: the file, or for the venv the whole directory (its interpreter not counted)."""
    return tree_size(artifact.parent.parent) if isinstance(tool, Venv) else artifact.stat().st_size


# ---------------------------------------------------------------------------------------------- setup

def ensure_apt(packages: list[str]) -> list[str]:
    """Debian's packages the peers need (PyInstaller/Nuitka: venv and headers; Nuitka: patchelf, ccache);
    returns those it had to install."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if not missing:
        return []
    print(f"apt-get install {' '.join(missing)}", flush=True)
    install = ["apt-get", "install", "-y", "-q", *missing]
    if subprocess.run(install, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    return missing


def ensure_env(ctx: Context, name: str) -> bool:
    """A venv with one peer's pinned packages, kept between runs while its pins are unchanged; True when it
    had to be made now."""
    python, pins = ENVS[name]
    env_dir, stamp = ctx.envs / name, ctx.envs / f"{name}.pins"
    if stamp.is_file() and stamp.read_text() == "\n".join(pins):
        return False
    shutil.rmtree(env_dir, ignore_errors=True)
    env = ctx.build_env(PIP_CACHE_DIR=str(ctx.work / "caches" / "tools-pip"))
    log = ctx.work / "logs" / f"env-{name}.log"
    step([python, "-m", "venv", env_dir], env, log, ctx.build_timeout)
    step([env_dir / "bin" / "python", "-m", "pip", "install", "-q", *pins], env, log, ctx.build_timeout)
    stamp.write_text("\n".join(pins))
    return True


def find_runtime() -> tuple[Path, float]:
    """The amber runtime (built first if this machine has none: amber's own install step, timed apart)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "amber", "runtime", "build", "--quiet"], check=True)
    took = time.perf_counter() - start
    path = subprocess.run([sys.executable, "-m", "amber", "runtime", "path"], check=True, capture_output=True,
                          text=True).stdout.strip()
    return Path(path), took


# ---------------------------------------------------------------------------------------------- measuring

@dataclass
class Contender:
    """One built app of one tool (or the floor) taking part in the interleaved runs."""

    tool: str
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    spent: float = 0.0


def interleave(ctx: Context, contenders: list[Contender], rounds: int, warmup: int,
               env_of: Callable[[Contender], dict], budget: float) -> None:
    """Run every contender once per round, the order rotated each round, until `rounds` timed rounds are done.

    env_of is called before each run (the first-run series empties HOME and TMPDIR there). A contender whose
    run fails or times out leaves the series with that reason; one whose runs of this series took more than
    `budget` seconds leaves it with the samples it has (its figure says how many), so that a tool taking
    seconds per start cannot blow the bench's time. amber and the venv, the two sides of every target, always
    get all their runs.
    """
    for i in range(warmup + rounds):
        live = [c for c in contenders
                if c.error is None and not (c.samples and c.spent > budget and c.tool not in UNBUDGETED)]
        shift = i % max(1, len(live))
        for contender in live[shift:] + live[:shift]:
            sample = run_once(ctx.spawnrss, contender.argv, env_of(contender), ctx.run_timeout)
            contender.spent += sample.seconds
            if sample.error:
                contender.error = sample.error
            elif i >= warmup:
                contender.samples.append(sample)


def setup_words(meta: dict) -> str:
    """What the run's setup did, for the document's first line."""
    apt, made = meta.get("apt_installed"), meta.get("envs_made")
    if apt is None:  # a results.json of an older bench
        return "apt-get and the peers' environments"
    done = [f"apt-get install {' '.join(apt)}" if apt else "Debian's packages already installed"]
    if made:
        done.append(f"the peers' environments made from PyPI ({', '.join(made)})")
    else:
        done.append("the peers' environments kept from an earlier run (pins unchanged)")
    return ", ".join(done)


def summary(contender: Contender) -> dict:
    if contender.error:
        return {"error": contender.error}
    return {"ms": statistics.median(s.seconds for s in contender.samples) * 1000,
            "rss_mb": statistics.median(s.rss_kb for s in contender.samples) / 1024,
            "n": len(contender.samples)}


IMPORTTIME_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", re.M)


def importtime_split(binary: Path, app: App, env: dict[str, str], runs: int) -> dict:
    """amber's start-up split, from runs of the app's main under -X importtime (medians, ms).

    Interpreter mode (AMBER_INTERPRETER=1, -S as in app mode) runs `import m; m.main()`. The top-level lines of
    -X importtime (their cumulative times) before the app's module are the start-up imports (encodings, amber's
    boot modules), the rest are the app's; the wall time of the same run minus all imports is runtime init,
    the app's own work and exit. The archive index read is timed in-process: a fresh zipimport directory read of
    the binary, median of 50.
    """
    code = f"import {app.module} as m\ntry:\n    m.main()\nexcept SystemExit:\n    pass\n"
    probe = textwrap.dedent("""
        import statistics, sys, time, zipimport
        took = []
        for _ in range(50):
            start = time.perf_counter()
            zipimport._read_directory(sys.executable)
            took.append(time.perf_counter() - start)
        print(statistics.median(took))
        """)
    run_env = {**env, "AMBER_INTERPRETER": "1"}
    parts: dict[str, list[float]] = {"wall": [], "boot": [], "native": [], "app": [], "index": []}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([str(binary), "-S", "-X", "importtime", "-c", code], env=run_env, capture_output=True,
                              text=True, timeout=120)
        parts["wall"].append(time.perf_counter() - start)
        top = [(name, int(us) / 1e6) for us, name in IMPORTTIME_LINE.findall(proc.stderr)]
        first_app = next((i for i, (name, _) in enumerate(top) if name == app.module), len(top))
        parts["boot"].append(sum(t for _, t in top[:first_app]))
        parts["app"].append(sum(t for _, t in top[first_app:]))
        parts["native"].append(sum(t for name, t in top[:first_app] if name == "__amber_native__"))
        out = subprocess.run([str(binary), "-S", "-c", probe], env=run_env, capture_output=True, text=True,
                             timeout=60).stdout
        parts["index"].append(float(out.strip() or "nan"))
    return {f"{key}_ms": statistics.median(values) * 1000 for key, values in parts.items()}


@contextlib.contextmanager
def noexec_tmpfs(path: Path) -> Iterator[Path | None]:
    """A tmpfs mounted noexec (root only); None when it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,nosuid,nodev,size=1g", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=False)


# ---------------------------------------------------------------------------------------------- the run

@dataclass
class Bench:
    """One full benchmark run: builds, checks, interleaved runs; results as a JSON-able dict."""

    ctx: Context
    apps: list[App]
    tools: list[Tool]
    runs: int
    cold: bool
    budget: list[float]  # seconds per contender: warm series, first-run series
    results: dict = field(default_factory=dict)

    def log(self, message: str) -> None:
        elapsed = time.perf_counter() - self.results["meta"]["t0"]
        print(f"[{elapsed / 60:5.1f} min] {message}", flush=True)

    def run_home(self) -> tuple[Path, Path]:
        return self.ctx.work / "run" / "home", self.ctx.work / "run" / "tmp"

    def run_env(self, fresh: bool = False) -> dict[str, str]:
        home, tmp = self.run_home()
        if fresh or not home.is_dir():
            empty_dir(home), empty_dir(tmp)
        return base_env(home, tmp)

    def build_all(self, projects: dict[str, Path]) -> dict[str, dict[str, Path]]:
        """Every tool builds every app it takes: cold (its caches emptied) then warm; each output checked once."""
        artifacts: dict[str, dict[str, Path]] = {}
        builds = self.results.setdefault("builds", {})
        for app in self.apps:
            for tool in self.tools:
                if not tool.takes(app):
                    continue
                record = builds.setdefault(tool.key, {}).setdefault(app.name, {})
                artifact = self.build_one(tool, app, projects[app.name], record)
                if artifact is not None:
                    artifacts.setdefault(app.name, {})[tool.key] = artifact
        return artifacts

    def build_one(self, tool: Tool, app: App, project: Path, record: dict) -> Path | None:
        """Cold build (caches emptied), one check run, warm build; None if a build or the check failed."""
        artifact = None
        cold = self.cold and tool.cold_build
        for kind in ("cold", "warm") if cold else ("warm",):
            if kind == "cold":
                for cache in tool.caches():
                    shutil.rmtree(cache, ignore_errors=True)
            try:
                artifact = self.timed_build(tool, app, project, kind, record)
                if kind == "cold" or not cold:
                    self.check(tool, app, artifact)
            except StepError as exc:
                record["error"] = str(exc)
                self.log(f"{tool.label} {app.name}: {exc}")
                return None
        assert artifact is not None
        record["size"] = size_of(tool, artifact)
        return artifact

    def timed_build(self, tool: Tool, app: App, project: Path, kind: str, record: dict) -> Path:
        out = empty_dir(self.ctx.work / "out" / tool.key / app.name)
        log = self.ctx.work / "logs" / f"build-{tool.key}-{app.name}-{kind}.log"
        log.unlink(missing_ok=True)
        tool.prepare(app, project, out)
        start = time.perf_counter()
        try:
            artifact = tool.build(app, project, out, log)
        except StepError as exc:
            raise StepError(f"build: {exc}") from exc
        record[kind] = time.perf_counter() - start
        self.log(f"{tool.label} {app.name}: {kind} build {record[kind]:.1f} s")
        return artifact

    def check(self, tool: Tool, app: App, artifact: Path) -> None:
        stdout = check_output(tool.argv(artifact), self.run_env(fresh=True), self.ctx.run_timeout)
        if app.name == "big" and (found := re.search(r"^modules (\d+)", stdout, re.M)):
            self.results["apps"][app.name]["modules_imported"] = int(found.group(1))

    def contenders(self, app: App, artifacts: dict[str, Path]) -> list[Contender]:
        by_key = {tool.key: tool for tool in self.tools}
        found = [Contender(key, by_key[key].argv(path)) for key, path in artifacts.items()]
        if app.name == "hello":
            found.append(Contender(FLOOR, [str(self.ctx.runtime), "-I", "-S", "-c", "pass"]))
        return found

    def measure_all(self, artifacts: dict[str, dict[str, Path]]) -> None:
        """Warm series, then first-run series; a tool that keeps nothing between runs reuses its warm figure."""
        for mode in ("warm", "first"):
            table = self.results.setdefault(mode, {})
            for app in self.apps:
                contenders = self.contenders(app, artifacts.get(app.name, {}))
                if mode == "first":
                    table[app.name] = {c.tool: {**self.results["warm"][app.name][c.tool], "same_as_warm": True}
                                       for c in contenders if not self.takes_first(c)}
                    contenders = [c for c in contenders if self.takes_first(c)]
                if not contenders:
                    continue
                if mode == "warm":
                    env = self.run_env(fresh=True)
                    interleave(self.ctx, contenders, self.runs, 1, lambda _c, env=env: env, self.budget[0])
                else:
                    interleave(self.ctx, contenders, self.runs, 0, lambda _c: self.run_env(fresh=True),
                               self.budget[1])
                table.setdefault(app.name, {}).update({c.tool: summary(c) for c in contenders})
                self.log(f"{mode} {app.name}: " + ", ".join(
                    f"{c.tool} {table[app.name][c.tool].get('ms', float('nan')):.0f} ms" for c in contenders))

    def takes_first(self, contender: Contender) -> bool:
        return contender.tool != FLOOR and self._tool(contender.tool).run_cache

    def noexec(self, artifacts: dict[str, Path]) -> None:
        """Each tool's hello with TMPDIR on a noexec tmpfs: onefile tools unpack native code there."""
        result = self.results.setdefault("noexec", {})
        with noexec_tmpfs(self.ctx.work / "noexec") as mount:
            for key, path in artifacts.items():
                if mount is None:
                    result[key] = {"error": "not run: mounting a tmpfs needs root"}
                    continue
                home, _ = self.run_home()
                env = base_env(empty_dir(home), mount)
                try:
                    check_output([*self._tool(key).argv(path)], env, self.ctx.run_timeout)
                    result[key] = {"ok": True}
                except StepError as exc:
                    result[key] = {"error": str(exc)}

    def _tool(self, key: str) -> Tool:
        return next(tool for tool in self.tools if tool.key == key)

    def split(self, artifacts: dict[str, dict[str, Path]]) -> None:
        table = self.results.setdefault("split", {})
        for app in self.apps:
            binary = artifacts.get(app.name, {}).get("amber")
            if binary is not None:
                table[app.name] = importtime_split(binary, app, self.run_env(), max(3, self.runs // 3))


def count_py_files(site: Path) -> dict[str, int]:
    """The .py files a venv's site-packages holds for the app (pip, setuptools and the app itself not counted)."""
    skip = {"pip", "setuptools", "_distutils_hack", "pkg_resources"}
    files = [p for p in site.rglob("*.py") if p.relative_to(site).parts[0] not in skip
             and not p.relative_to(site).parts[0].startswith("bench_")]
    tests = [p for p in files if {"tests", "test", "testing"} & set(p.relative_to(site).parts[:-1])]
    return {"py_files": len(files), "py_test_files": len(tests)}


def versions(ctx: Context) -> dict[str, str]:
    env = ctx.build_env()
    py313 = ctx.envs / "py313" / "bin"
    found = {
        "amber": capture(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "amber runtime": ctx.runtime.parent.parent.name,
        "PyInstaller": capture([ctx.envs / "pyinstaller" / "bin" / "python", "-m", "PyInstaller", "--version"], env),
        "Nuitka": capture([ctx.envs / "nuitka" / "bin" / "python", "-m", "nuitka", "--version"], env).split("\n")[0],
        "shiv": capture([py313 / "shiv", "--version"], env).split()[-1],
        "pex": capture([py313 / "pex", "--version"], env),
        "Debian python3": capture([DEBIAN_PYTHON, "--version"]).split()[-1],
        "pyenv python3.13": capture([PYENV_313, "--version"]).split()[-1],
        "gcc": capture(["gcc", "-dumpfullversion"]),
        "ccache": capture(["ccache", "--version"]).split("\n")[0].split()[-1],
    }
    return found


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 1024 / 1024
    distro = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                   if line.startswith("PRETTY_NAME=")), "Linux")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {distro}, Linux {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="timed runs per figure (default 10; --quick: 3)")
    parser.add_argument("--apps", help="comma-separated subset of: " + ",".join(a.name for a in APPS))
    parser.add_argument("--tools", help="comma-separated subset of: " + ",".join(t.key for t in TOOLS))
    parser.add_argument("--quick", action="store_true", help="development: 3 runs, no cold builds, hello + cli")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "amber-bench" / "peers")
    parser.add_argument("--output", type=Path, help=f"document to update (default {DOC.relative_to(ROOT)}; "
                        "for --quick/--apps/--tools a copy in --workdir)")
    parser.add_argument("--build-timeout", type=float, default=900, help="seconds per build step (default 900)")
    parser.add_argument("--run-timeout", type=float, default=60, help="seconds per run (default 60)")
    parser.add_argument("--budget", type=float, nargs=2, default=[30, 5], metavar=("WARM", "FIRST"),
                        help="seconds of runs per tool and app in the warm and first-run series, after which its "
                        "figure has fewer runs (default 30 5)")
    parser.add_argument("--from-json", type=Path, help="only write the document from a results.json")
    parser.add_argument("--plot", nargs=2, type=Path, metavar=("JSON", "PNG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.plot[0].read_text()), args.plot[1])
        return 0
    partial = bool(args.quick or args.apps or args.tools)
    output = args.output or (args.workdir / "benchmarks.md" if partial else DOC)
    png = PNG if output == DOC else output.with_name(PNG.name)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_bench(args, partial)
        (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, output, png, args.workdir)
    print(f"wrote {output} and {png}")
    return 0


def run_bench(args: argparse.Namespace, partial: bool) -> dict:
    t0 = time.perf_counter()
    work = args.workdir.resolve()
    for sub in ("apps", "out", "run", "logs", "bin"):
        shutil.rmtree(work / sub, ignore_errors=True)
        (work / sub).mkdir(parents=True)
    installed = ensure_apt(APT_PACKAGES)
    runtime, runtime_build = find_runtime()
    amber_cache = runtime.parents[3]
    ctx = Context(work, runtime, amber_cache, args.build_timeout, args.run_timeout, build_spawnrss(work))
    made = [name for name in ENVS if ensure_env(ctx, name)]
    names = args.apps.split(",") if args.apps else ["hello", "cli"] if args.quick else [a.name for a in APPS]
    keys = args.tools.split(",") if args.tools else [t.key for t in TOOLS]
    apps = [a for a in APPS if a.name in names]
    tools = [t(ctx) for t in TOOLS if t.key in keys]
    runs = args.runs or (3 if args.quick else 10)
    command = " ".join(["bench/peers.py", *sys.argv[1:]])
    meta = {"t0": t0, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": command,
            "runs": runs, "budget": args.budget, "machine": machine(), "runtime_build_s": runtime_build,
            "apt_installed": installed, "envs_made": made,
            "partial": partial,
            "tools": {t.key: {"label": t.label, "python": t.python} for t in tools},
            "apps": [a.name for a in apps]}
    bench = Bench(ctx, apps, tools, runs, not args.quick, args.budget, results={"meta": meta, "apps": {}})
    meta["setup_s"] = time.perf_counter() - t0
    bench.log(f"setup done ({meta['setup_s']:.0f} s)")
    projects = {a.name: make_project(work / "apps", a) for a in apps}
    for app in apps:
        bench.results["apps"][app.name] = {"summary": app.summary, "pins": list(app.pins)}
    started = time.perf_counter()
    artifacts = bench.build_all(projects)
    meta["build_s"] = time.perf_counter() - started
    for app in apps:
        venv = artifacts.get(app.name, {}).get("venv")
        if venv is not None:
            site = next((venv.parent.parent / "lib").glob("python3*/site-packages"))
            bench.results["apps"][app.name].update(count_py_files(site))
    started = time.perf_counter()
    bench.measure_all(artifacts)
    if "hello" in artifacts:
        bench.noexec(artifacts["hello"])
    bench.split(artifacts)
    meta["measure_s"] = time.perf_counter() - started
    meta["versions"] = versions(ctx)
    meta["wall_s"] = time.perf_counter() - t0
    bench.log("done")
    return bench.results


# ---------------------------------------------------------------------------------------------- the report

TARGET_REFERENCES = {"floor": 20.0, "venv": 38.0, "pyinstaller": 378.0, "nuitka": 138.0}


class Notes:
    """Numbered one-line reasons of failures, shared by all tables (same tool and reason, same number)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, label: str, reason: str) -> str:
        text = f"{label}: {reason}"
        if text not in self.items:
            self.items.append(text)
        word = "timed out" if reason.startswith("timed out") else "fails"
        return f"{word} [{self.items.index(text) + 1}]"


@dataclass
class Report:
    """Markdown tables from a results dict; every cell of a peer is also given as a ratio to amber."""

    results: dict
    notes: Notes = field(default_factory=Notes)

    @property
    def tools(self) -> dict[str, dict]:
        return self.results["meta"]["tools"]

    @property
    def apps(self) -> list[str]:
        return self.results["meta"]["apps"]

    def label(self, key: str) -> str:
        return self.tools[key]["label"]

    def entry(self, table: str, app: str, tool: str) -> dict | None:
        """A figure, {'error': ...} for a tool that failed the app, None for one that did not build it."""
        build = self.results.get("builds", {}).get(tool, {}).get(app)
        if build is None:
            return None
        if "error" in build:
            return {"error": build["error"]}
        if table == "builds":
            return build
        return self.results.get(table, {}).get(app, {}).get(tool)

    def cell(self, table: str, app: str, tool: str, key: str, fmt: Callable[[float], str]) -> str:
        entry = self.entry(table, app, tool)
        if entry is None:
            return "—"
        if "error" in entry:
            return self.notes.ref(f"{self.label(tool)}, {app}", entry["error"])
        if entry.get(key) is None:
            return "—"
        text = fmt(entry[key])
        base = self.entry(table, app, "amber")
        if tool != "amber" and base and base.get(key) and "error" not in base:
            text += f" ({entry[key] / base[key]:.2f}×)"
        if entry.get("n", self.results["meta"]["runs"]) < self.results["meta"]["runs"]:
            text += f" (n={entry['n']})"
        return text + (" †" if entry.get("same_as_warm") else "")

    def table(self, title: str, table: str, key: str, fmt: Callable[[float], str] = "{:.1f}".format,
              floor: bool = False) -> list[str]:
        lines = [f"### {title}", "", "| app | " + " | ".join(map(self.label, self.tools)) + " |",
                 "|---|" + "---:|" * len(self.tools)]
        for app in self.apps:
            cells = [self.cell(table, app, tool, key, fmt) for tool in self.tools]
            lines.append(f"| {app} | " + " | ".join(cells) + " |")
        floor_entry = self.results.get(table, {}).get("hello", {}).get(FLOOR) if floor else None
        if floor_entry and "error" not in floor_entry:
            hello = self.entry(table, "hello", "amber") or {}
            ratio = f"; amber's hello is {hello[key] / floor_entry[key]:.2f}× the floor" if key in hello else ""
            unit = title.rpartition("(")[2].rstrip(")")
            lines += ["", f"Floor, the bare runtime `-I -S -c pass`: {fmt(floor_entry[key])} {unit}{ratio}."]
        return [*lines, ""]

    def sizes(self) -> list[str]:
        lines = self.table("Output size (MB)", "builds", "size_mb", lambda v: f"{v:.1f}" if v >= 1 else f"{v:.2f}")
        return [*lines[:-1], "", "The venv's size is its directory (site-packages, scripts; not the interpreter it "
                "links to); shiv and pex files need that interpreter on the target too.", ""]

    def noexec(self) -> list[str]:
        result = self.results.get("noexec", {})
        tools = [t for t in self.tools if t in result]
        if not tools:
            return []
        cells = []
        for tool in tools:
            entry = result[tool]
            cells.append("runs" if entry.get("ok") else self.notes.ref(f"{self.label(tool)}, hello, noexec TMPDIR",
                                                                        entry["error"]))
        return ["### hello with TMPDIR on a noexec tmpfs", "",
                "| | " + " | ".join(map(self.label, tools)) + " |", "|---|" + "---|" * len(tools),
                "| hello | " + " | ".join(cells) + " |", "",
                "A tmpfs mounted `noexec` by the bench is the run's `TMPDIR` (HOME stays executable).", ""]

    def split(self) -> list[str]:
        split = self.results.get("split", {})
        if not split:
            return []
        lines = ["### amber's start-up split (ms)", "",
                 "| app | warm start | run under importtime | runtime init, app's work, exit | start-up imports "
                 "(of which `__amber_native__`) | app's imports | archive index read |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for app, part in split.items():
            total = (self.entry("warm", app, "amber") or {}).get("ms")
            rest = part["wall_ms"] - part["boot_ms"] - part["app_ms"]
            lines.append(f"| {app} | {'—' if total is None else f'{total:.1f}'} | {part['wall_ms']:.1f} | "
                         f"{rest:.1f} | {part['boot_ms']:.1f} ({part['native_ms']:.1f}) | {part['app_ms']:.1f} | "
                         f"{part['index_ms']:.2f} |")
        return [*lines, "", "From runs of the binary in interpreter mode under `-X importtime` "
                "(`AMBER_INTERPRETER=1 app -S -X importtime -c 'import m; m.main()'`, medians; importtime's own "
                "overhead makes these runs slower than the warm start): the top-level imports before the app's "
                "module are start-up imports (encodings, amber's boot modules), the others the app's; runtime init "
                "is the run's wall time minus all imports (exec, dynamic linking, interpreter initialisation, the "
                "app's own work, exit). The archive index read (`zipimport._read_directory` of the binary, median "
                "of 50 in one process) happens once per start, inside the first import.", ""]

    def ratio(self, table: str, app: str, key: str) -> float | None:
        ours, venv = self.entry(table, app, "amber"), self.entry(table, app, "venv")
        if not ours or not venv or "error" in ours or "error" in venv or key not in ours or key not in venv:
            return None
        return ours[key] / venv[key]

    def per_app_targets(self) -> list[str]:
        lines = ["| app | warm start ÷ venv (≤ 1.00) | first run ÷ venv (≤ 1.30) | peak RSS ÷ venv (≤ 1.10) |",
                 "|---|---:|---:|---:|"]
        for app in self.apps:
            cells = []
            for table, key, limit in (("warm", "ms", 1.0), ("first", "ms", 1.3), ("warm", "rss_mb", 1.1)):
                r = self.ratio(table, app, key)
                cells.append("—" if r is None else f"{r:.3f} {mark(r <= limit)}")
            lines.append(f"| {app} | " + " | ".join(cells) + " |")
        return lines

    def targets(self) -> list[str]:
        warm = self.results.get("warm", {}).get("hello", {})

        def ms(tool: str) -> float | None:
            entry = warm.get(tool)
            return entry["ms"] if entry and "ms" in entry else None

        rows = []
        for tool, what in (("floor", "floor `runtime -I -S -c pass`"), ("venv", "hello in a venv"),
                           ("pyinstaller", "PyInstaller `--onefile` hello"), ("nuitka", "Nuitka `--onefile` hello")):
            value, ref = ms(tool), TARGET_REFERENCES[tool]
            rows.append((f"{what} ≈ {ref:.0f} ms (reference)", "—" if value is None else f"{value:.1f} ms",
                         "—" if value is None else f"{value / ref:.2f}× the reference"))
        failed = sorted(app for app, rec in self.results.get("builds", {}).get("pyinstaller", {}).items()
                        if "error" in rec)
        rows.append(("PyInstaller without hints fails the template and data-file apps (expected)",
                     ", ".join(failed) or "none", "as expected" if {"flask", "django"} <= set(failed) else "differs"))
        noexec = self.results.get("noexec", {})
        broken = [self.label(t) for t, e in noexec.items() if not e.get("ok")]
        rows.append(("PyInstaller and Nuitka onefile fail with a noexec TMPDIR (expected)",
                     "fail: " + (", ".join(broken) or "none"),
                     "as expected" if {"PyInstaller", "Nuitka"} <= set(broken) else "differs"))
        hello, floor = ms("amber"), ms("floor")
        if hello and floor:
            rows.append(("amber hello ≤ 1.15× the floor", f"{hello:.1f} / {floor:.1f} ms = {hello / floor:.2f}×",
                         mark(hello / floor <= 1.15)))
        for app, limit in (("hello", 3.0), ("numpy", 15.0)):
            build = self.entry("builds", app, "amber")
            if build and "warm" in build:
                rows.append((f"amber warm build of {app} ≤ {limit:.0f} s", f"{build['warm']:.1f} s",
                             mark(build["warm"] <= limit)))
        lines = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        return [*lines, "", *self.per_app_targets(), ""]

    def apps_table(self) -> list[str]:
        lines = ["| app | what it does | .py files shipped (of which tests) | pinned tree |", "|---|---|---:|---|"]
        for app in self.apps:
            info = self.results["apps"][app]
            files = f"{info['py_files']:,} ({info['py_test_files']:,})" if "py_files" in info else "—"
            pins = ", ".join(info["pins"]) or "none"
            lines.append(f"| {app} | {info['summary']} | {files} | {pins} |")
        big = self.results["apps"].get("big", {})
        note = (f" The big app imports {big['modules_imported']:,} modules at start (`len(sys.modules)` at the end "
                "of its main)." if "modules_imported" in big else "")
        return [*lines, "", ".py files shipped: the `.py` files in the venv's site-packages after `pip install` of "
                "the app (what amber, shiv, pex and the venv ship; pip, setuptools and the app's own package not "
                f"counted; PyInstaller and Nuitka take only what they find imported).{note} Nuitka builds hello and "
                "click only: it compiles every module it finds to C (minutes per app on two cores; click+rich would "
                "add pygments' 340 modules), and click, a click-only CLI, is there for that comparison, built by "
                "amber, Nuitka and the venv.", ""]

    def versions(self) -> list[str]:
        found = self.results["meta"].get("versions", {})
        return ["Versions: " + "; ".join(f"{name} {value}" for name, value in found.items()) + ".", ""]

    def markdown(self, png_name: str) -> str:
        meta = self.results["meta"]
        lines = [BEGIN, "## amber and its peers", "",
                 f"Generated by `bench/peers.py` on {meta['date']}, in {meta['wall_s'] / 60:.1f} minutes (setup "
                 f"{meta['setup_s'] / 60:.1f}: {setup_words(meta)}; builds {meta.get('build_s', 0) / 60:.1f}; runs "
                 f"{meta.get('measure_s', 0) / 60:.1f}) — {meta['machine']}.",
                 "",
                 f"Every start-up and memory figure is the median of {meta['runs']} runs (warm: after a warm-up "
                 "round), the runs of all tools interleaved (A B C … A B C, the order rotated each round) so that "
                 "machine drift hits all alike. A tool whose runs of one "
                 f"app took more than {meta['budget'][0]:.0f} s (warm) or {meta['budget'][1]:.0f} s (first run) stops "
                 "there, to keep the bench within its time (amber and the venv never do): its figure is marked (n=K), "
                 "the median of the K runs it had. Ratios are to amber (2.00× = twice amber's). Each run gets an empty "
                 "environment (`PATH=/usr/bin:/bin`, `HOME`, `LANG=C.UTF-8`, `TMPDIR`), stdout to /dev/null, and is "
                 "started by a 1 MB C parent (`spawnrss`, in this script) that times fork to `wait4` and reads "
                 "`ru_maxrss` (a child forked by the bench's Python would count the bench's own RSS, which it has "
                 "until exec). Build times are one cold build (the tool's caches emptied: uv's for amber, pip's "
                 "for PyInstaller, Nuitka and shiv, `PEX_ROOT` for pex, PyInstaller's bincache, Nuitka's "
                 "cache and ccache) followed by one warm build, each from the project directory to the output "
                 "(for PyInstaller and Nuitka: `pip install` of the app into a venv holding the tool, then the "
                 "tool); pex --venv is built after pex with pex's warm `PEX_ROOT` (the same resolve), so it has "
                 "a warm figure only, as has the venv (`pip install` into a new venv with pip's cache warm: the "
                 "reference for start-up, not a packager); amber's runtime is cached (its one-time build is "
                 "amber's install step, "
                 f"checked in {meta.get('runtime_build_s', 0):.0f} s here).",
                 "",
                 "| tool | runs the app on |", "|---|---|",
                 *[f"| {info['label']} | {info['python']} |" for info in self.tools.values()],
                 "",
                 f"![start-up per tool and app]({png_name})",
                 "", *self.apps_table(),
                 *self.table("Warm start-up (ms)", "warm", "ms", floor=True),
                 *self.table("First run (ms): HOME and TMPDIR emptied before every run", "first", "ms"),
                 "† Nothing is kept between runs (PyInstaller and Nuitka unpack into a new temporary directory every "
                 "time): every run is a first run, and the figure is the warm one. The venv has nothing to empty "
                 "either, but is measured again in this series, interleaved with amber, as the reference of amber's "
                 "first-run target.", "",
                 *self.table("Peak RSS (MB)", "warm", "rss_mb", floor=True),
                 *self.sizes(),
                 *self.table("Build time, warm caches (s)", "builds", "warm"),
                 *self.table("Build time, cold caches (s)", "builds", "cold"),
                 *self.noexec(), *self.split(), *self.targets()]
        if self.notes.items:
            lines += ["### Failures", "", *[f"{i}. {text}" for i, text in enumerate(self.notes.items, 1)], ""]
        lines += [*self.versions(), f"Command: `.venv/bin/python {meta['command']}`", END]
        return "\n".join(lines) + "\n"


def mark(ok: bool) -> str:
    return "✓" if ok else "✗ missed"


def write_report(results: dict, output: Path, png: Path, work: Path) -> None:
    for app_builds in results.get("builds", {}).values():
        for record in app_builds.values():
            if "size" in record:
                record["size_mb"] = record["size"] / 1e6
    section = Report(results).markdown(png.name)
    base = output if output.is_file() else DOC
    output.write_text(replace_section(base.read_text() if base.is_file() else "", "peers", section))
    data = work / "plot.json"
    data.write_text(json.dumps(results))
    subprocess.run([work / "envs" / "py313" / "bin" / "python", __file__, "--plot", data, png], check=True)


def plot(results: dict, png: Path) -> None:
    """Start-up per tool and app, warm and first run, log scale (run by the peers' Python, which has matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    tools, apps = results["meta"]["tools"], results["meta"]["apps"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 1.4 + 0.14 * len(apps) * len(tools)), sharey=True)
    height = 0.8 / len(tools)
    floor = results.get("warm", {}).get("hello", {}).get(FLOOR, {}).get("ms")
    for ax, (mode, title) in zip(axes, (("warm", "warm start-up"), ("first", "first run (caches emptied)")),
                                 strict=True):
        for i, tool in enumerate(tools):
            for j, app in enumerate(apps):
                y = j + i * height
                entry = (results.get(mode, {}).get(app, {}).get(tool)
                         or results.get("builds", {}).get(tool, {}).get(app))
                if entry and "ms" in entry:
                    ax.barh(y, entry["ms"], height, color=f"C{i}", label=tools[tool]["label"] if j == 0 else None)
                    ax.text(entry["ms"] * 1.05, y, f"{entry['ms']:.0f}", va="center", fontsize=6)
                elif entry and "error" in entry:
                    ax.text(5.5, y, f"{tools[tool]['label']}: fails", va="center", fontsize=6, color=f"C{i}")
        if floor:
            ax.axvline(floor, color="grey", linestyle="--", linewidth=0.8)
            ax.text(floor * 1.05, -0.3, f"floor {floor:.0f} ms", fontsize=6, color="grey", va="bottom")
        ax.set_xscale("log")
        ax.set_xlim(5, None)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_title(title)
        ax.set_xlabel("ms (log scale)")
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks([j + 0.4 - height / 2 for j in range(len(apps))], apps)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(tools), fontsize=8)
    fig.suptitle("amber and its peers: start-up per tool and app (median, ms)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
