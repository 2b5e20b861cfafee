"""Real tools, first try (issue #20): popular command line tools from PyPI, each built into one file, used as
their users use them, in an empty chroot; writes the `## Real tools` section of docs/compat.md.

    sudo .venv/bin/python tests/realapps/run.py              # every tool, rewrites the section
    sudo .venv/bin/python tests/realapps/run.py black mkdocs # some tools, prints the section only
    sudo .venv/bin/python tests/realapps/run.py --keep /tmp/ra black   # keep the binaries and chroot logs

Each tool under tests/realapps/<tool>/ is a wrapper project: nothing but a `pyproject.toml` that pins the
tool and everything it pulls in, and re-exports the tool's console scripts (uvicorn's also holds the FastAPI
app it serves). Here it is built with `amber build`, unchanged: no `--extract`, no `--entry`, no wrapper
code. The binary goes to /app/<script> in a root holding glibc's files, /proc and a noexec tmpfs on /tmp
(tests/helpers/chroot.py), with a symlink per other script of the tool, /app first on PATH and HOME=/home
(no locale: the C locale, as in the compatibility suite); then the commands of TOOLS run one after the other
from /work, as typed, and each must exit as the tool documents and print or write what it should. A tool
gets more in its root only where a real system always has it and the tool cannot do without (Tool.needs,
with the reason). Needs root (chroot, mounts). tests/test_realapps.py runs the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(HERE.parent) not in sys.path:  # run as a script: make tests/helpers importable
    sys.path.insert(0, str(HERE.parent))

from helpers.chroot import LIBDIR, Chroot  # noqa: E402

CHROOT_ENV = {"PATH": "/app:/bin", "HOME": "/home", "TMPDIR": "/tmp"}
WORK = "/work"  # the user's directory in the chroot: where commands run and files are written
DOC = REPO / "docs" / "compat.md"
LOCALE = Path("/usr/lib/locale/C.utf8")
COREUTILS = ("mkdir", "chmod", "rm")
BEGIN, END = "<!-- realapps: begin (tests/realapps/run.py) -->", "<!-- realapps: end -->"


@dataclass
class CheckResult:
    name: str
    command: str
    ok: bool
    reason: str = ""  # why it failed: the expectations missed, then the key error line
    output: str = ""  # the command's stdout and stderr (tails), for the report
    summary: str = ""  # the reason in short: the first expectation missed and the key error line

    @classmethod
    def failed(cls, name: str, command: str, misses: list[str], output: str, error_text: str) -> CheckResult:
        error = key_line(error_text)
        more = f" (and {len(misses) - 1} more)" if len(misses) > 1 else ""
        return cls(name, command, False, "; ".join(misses) + f" -- {error}", output, f"{misses[0]}{more} -- {error}")


class Session:
    """One tool's chroot while its checks run: where the binary is, what `amber inspect` said about it."""

    def __init__(self, chroot: Chroot, binary: Path, info: dict, workdir: Path, env: dict[str, str]) -> None:
        self.chroot, self.binary, self.info, self.workdir, self.env = chroot, binary, info, workdir, env

    def path(self, inside: str, cwd: str = WORK) -> Path:
        """The host path of `inside` (relative: to `cwd`) in the chroot."""
        return self.chroot.root / os.path.join(cwd, inside).lstrip("/")

    def preexec(self, cwd: str) -> Callable[[], None]:
        def enter() -> None:
            os.chroot(self.chroot.root)
            os.chdir(cwd)
        return enter

    def processes(self) -> list[int]:
        """PIDs of the processes whose root is this chroot (what a tool left running)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "root") == str(self.chroot.root):
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


ERROR_RE = re.compile(r"Error|error|Exception|ERROR|FAILED|fatal|Traceback|No such|not found|denied")


def key_line(output: str) -> str:
    """The line of a failed command's output that says what went wrong (the last one that looks like an
    error, else the last line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("--- ")]
    errors = [line for line in lines if ERROR_RE.search(line) and not line.startswith(("File ", "^"))]
    line = (errors or lines or ["(no output)"])[-1]
    return line if len(line) <= 240 else line[:237] + "..."


@dataclass(frozen=True)
class Command:
    """A command as the user types it, run in the chroot from `cwd` after writing `write` (path -> text,
    relative to `cwd`), its stdin /dev/null (with `tty`: a terminal, as in an interactive shell). It must exit
    with `returncode`, print every string of `stdout` (of `output`: on stdout or stderr) and at least
    `min_lines` lines, and leave every file of `files` (path -> the strings it must contain; "" = it exists).
    `{version}` in an expected string stands for the tool's pinned version."""

    name: str
    argv: tuple[str, ...]
    returncode: int = 0
    stdout: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    files: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    write: dict[str, str] = field(default_factory=dict)
    cwd: str = WORK
    min_lines: int = 0
    env: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    timeout: int = 600

    def run(self, session: Session, version: str) -> CheckResult:
        command = " ".join(self.argv)
        for name, text in self.write.items():
            target = session.path(name, self.cwd)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        terminal, stdin = pty.openpty() if self.tty else (None, subprocess.DEVNULL)
        try:
            out = subprocess.run(list(self.argv), env={**CHROOT_ENV, **session.env, **self.env},
                                 preexec_fn=session.preexec(self.cwd), stdin=stdin, capture_output=True, text=True,
                                 errors="replace", timeout=self.timeout)
        except subprocess.TimeoutExpired as error:
            return CheckResult.failed(self.name, command, [f"no exit after {self.timeout} s"],
                                      f"{error.stdout or ''}\n--- stderr\n{error.stderr or ''}", "")
        finally:
            if terminal is not None:
                os.close(terminal)
                os.close(stdin)
        output = f"{_tail(out.stdout)}\n--- stderr\n{_tail(out.stderr)}"
        misses = []
        if out.returncode != self.returncode:
            misses.append(f"exit {out.returncode}, expected {self.returncode}")
        misses += [f"stdout lacks {s!r}" for s in (e.replace("{version}", version) for e in self.stdout)
                   if s not in out.stdout]
        misses += [f"output lacks {s!r}" for s in (e.replace("{version}", version) for e in self.output)
                   if s not in out.stdout + out.stderr]
        if len(out.stdout.splitlines()) < self.min_lines:
            misses.append(f"{len(out.stdout.splitlines())} lines on stdout, expected {self.min_lines} or more")
        for name, expected in self.files.items():
            target = session.path(name, self.cwd)
            if not target.is_file():
                misses.append(f"no file {name}")
            else:
                text = target.read_text(errors="replace")
                wanted = (expected,) if isinstance(expected, str) else expected
                misses += [f"{name} lacks {s!r}" for s in (e.replace("{version}", version) for e in wanted)
                           if s not in text]
        if not misses:
            return CheckResult(self.name, command, True, output=output)
        return CheckResult.failed(self.name, command, misses, output, out.stdout + out.stderr)


@dataclass(frozen=True)
class NothingExtracted:
    """The build extracts nothing at run time: `amber inspect --json` lists no distribution under "extract"."""

    name: str = "nothing extracted"

    def run(self, session: Session, version: str) -> CheckResult:
        extract = session.info.get("extract", [])
        command = f"amber inspect --json {session.binary.name}"
        if not extract:
            return CheckResult(self.name, command, True)
        why = "; ".join(f"{e.get('distribution')}: {e.get('reason', e)}" for e in extract)
        return CheckResult(self.name, command, False, f"extracted: {why}", json.dumps(extract, indent=1),
                           f"extracted: {why}")


@dataclass(frozen=True)
class Serve:
    """A server started as typed (`{port}` in argv: a free port), asked over HTTP until `url_path` answers
    JSON containing `expect`, with `workers` workers each logging `ready`; then stopped with `stop` sent to
    the server's PID (`group`: to its whole process group, as Ctrl-C in a terminal does). It must exit 0,
    within `timeout` seconds, each worker logging `finished`, leaving no process behind."""

    name: str
    argv: tuple[str, ...]
    url_path: str
    expect: dict
    workers: int
    ready: str
    finished: str
    stop: int = signal.SIGTERM
    group: bool = False
    timeout: int = 60

    def run(self, session: Session, version: str) -> CheckResult:
        port = free_port()
        argv = [a.format(port=port) for a in self.argv]
        command = " ".join(self.argv).replace("{port}", "PORT")
        log = session.workdir / f"serve-{port}.log"
        with log.open("w") as sink:
            enter = session.preexec(WORK)

            def preexec() -> None:
                os.setpgid(0, 0)  # its own process group, so a Ctrl-C can be sent to it alone
                enter()

            server = subprocess.Popen(argv, env={**CHROOT_ENV, **session.env}, preexec_fn=preexec, stdout=sink,
                                      stderr=sink)
        misses, answer = [], None
        try:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline and server.poll() is None:
                answer = answer or get_json(port, self.url_path)
                if answer is not None and log.read_text(errors="replace").count(self.ready) >= self.workers:
                    break
                time.sleep(0.2)
            if server.poll() is not None:
                misses.append(f"the server exited ({server.returncode}) before it was stopped")
            elif answer is None:
                misses.append(f"GET {self.url_path} got no JSON answer in {self.timeout} s")
            else:
                if any(answer.get(k) != v for k, v in self.expect.items()):
                    misses.append(f"GET {self.url_path} answered {answer}, expected {self.expect}")
                started = log.read_text(errors="replace").count(self.ready)
                if started < self.workers:
                    misses.append(f"{started} of {self.workers} workers logged {self.ready!r}")
                if self.group:
                    os.killpg(server.pid, self.stop)
                else:
                    server.send_signal(self.stop)
                try:
                    code = server.wait(self.timeout)
                    if code != 0:
                        misses.append(f"exit {code} after {signal.Signals(self.stop).name}, expected 0")
                except subprocess.TimeoutExpired:
                    misses.append(f"still running {self.timeout} s after {signal.Signals(self.stop).name}")
                finished = log.read_text(errors="replace").count(self.finished)
                if finished < self.workers:
                    misses.append(f"{finished} of {self.workers} workers logged {self.finished!r}")
                time.sleep(1)
                left = session.processes()
                if left:
                    misses.append(f"{len(left)} process(es) left in the chroot after the server exited")
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            for pid in session.processes():  # what it left behind (its own children only: the chroot is ours)
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        output = _tail(log.read_text(errors="replace"))
        if answer is not None:
            output = f"GET {self.url_path}: {json.dumps(answer)}\n{output}"
        if not misses:
            return CheckResult(self.name, command, True, output=output)
        return CheckResult.failed(self.name, command, misses, output, output)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(port: int, path: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


@dataclass(frozen=True)
class Tool:
    """One wrapper project: `dist` is the tool's distribution (its pinned version is reported), `binary` the
    script the binary is named after (the project's default: `[tool.amber] entry`, or its only script),
    `scripts` every script it re-exports (the others become symlinks to the binary), `needs` what its root
    holds beyond glibc's shared objects, /proc and /tmp (NEEDS), `env` what is added to CHROOT_ENV."""

    dist: str
    binary: str
    scripts: tuple[str, ...]
    checks: tuple[Command | NothingExtracted | Serve, ...]
    needs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


MESSY_PY = "import os\ndef f(a,b):\n  return {'a':a,'b':b}\nx = [1,2,\n 3]\n"
BLACK_PY = 'import os\n\n\ndef f(a, b):\n    return {"a": a, "b": b}\n\n\nx = [1, 2, 3]\n'
NOTEBOOK = json.dumps({
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                 "language_info": {"name": "python"}},
    "cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {},
         "source": ["# Notes from amber\n", "\n", "A *small* notebook, converted without a kernel."]},
        {"cell_type": "code", "id": "answer", "metadata": {}, "execution_count": 1,
         "source": ["print('six times seven is', 6 * 7)\n", "{'answer': 42}"],
         "outputs": [
             {"output_type": "stream", "name": "stdout", "text": ["six times seven is 42\n"]},
             {"output_type": "execute_result", "execution_count": 1, "metadata": {},
              "data": {"text/plain": ["{'answer': 42}"]}}]},
    ],
}, indent=1)
PLAYBOOK = """\
- name: A local play
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Make a directory
      ansible.builtin.file:
        path: /tmp/ansible-demo
        state: directory
        mode: "0755"
    - name: Write a file
      ansible.builtin.copy:
        content: "written by ansible-playbook\\n"
        dest: /tmp/ansible-demo/hello.txt
        mode: "0644"
    - name: Say something
      ansible.builtin.debug:
        msg: hello from the playbook
"""
CLIP = "not really a video, but yt-dlp goes by the extension\n" * 2000
# What a tool's root may hold beyond the empty chroot; each is on every real Linux system.
NEEDS = {
    "sh": "/bin/sh (the host's dash)",
    "coreutils": f"{', '.join(COREUTILS)} (the host's, with their libraries)",
    "dev": "/dev/null (bound to the host's) and /dev/shm (a tmpfs)",
    "locale": "glibc's C.UTF-8 locale files (/usr/lib/locale/C.utf8)",
}
UVICORN = ("uvicorn", "realapp_uvicorn:app", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2")

# tool (its directory under tests/realapps/) -> how it is built, linked and used.
TOOLS: dict[str, Tool] = {
    "black": Tool("black", "black", ("black",), (
        Command("version: compiled", ("black", "--version"), stdout=("black, {version}", "compiled: yes")),
        Command("--check before: would reformat", ("black", "--check", "messy.py"), write={"messy.py": MESSY_PY},
                returncode=1, output=("would reformat messy.py", "1 file would be reformatted")),
        Command("format", ("black", "messy.py"), output=("reformatted messy.py", "1 file reformatted"),
                files={"messy.py": BLACK_PY}),
        Command("--check after: unchanged", ("black", "--check", "messy.py"),
                output=("1 file would be left unchanged",)),
    )),
    "sphinx": Tool("sphinx", "sphinx-build", ("sphinx-apidoc", "sphinx-autogen", "sphinx-build", "sphinx-quickstart"), (
        Command("sphinx-quickstart",
                ("sphinx-quickstart", "-q", "-p", "Demo", "-a", "Me", "-v", "1.0", "--sep", "docs"),
                stdout=("Finished: An initial directory structure has been created",),
                files={"docs/source/conf.py": "project = 'Demo'", "docs/source/index.rst": "Demo documentation"}),
        Command("sphinx-build -b html", ("sphinx-build", "-b", "html", "docs/source", "docs/build/html"),
                stdout=("build succeeded",),
                files={"docs/build/html/index.html": "Demo documentation", "docs/build/html/searchindex.js": "Demo",
                       "docs/build/html/_static/alabaster.css": "", "docs/build/html/_static/pygments.css": ""}),
    )),
    "jupyter": Tool("nbconvert", "jupyter-nbconvert",
                    ("jupyter", "jupyter-dejavu", "jupyter-migrate", "jupyter-nbconvert", "jupyter-troubleshoot"), (
        Command("jupyter-nbconvert --version", ("jupyter-nbconvert", "--version"), stdout=("{version}",)),
        Command("jupyter --version", ("jupyter", "--version"), stdout=("nbconvert", "{version}", "jupyter_core")),
        Command("jupyter nbconvert --to html", ("jupyter", "nbconvert", "--to", "html", "nb.ipynb"),
                write={"nb.ipynb": NOTEBOOK}, output=("Writing",),
                files={"nb.html": ("Notes from amber", "six times seven is 42", "jp-Notebook")}),
    )),
    "ansible": Tool("ansible-core", "ansible", (
        "ansible", "ansible-config", "ansible-console", "ansible-doc", "ansible-galaxy", "ansible-inventory",
        "ansible-playbook", "ansible-pull", "ansible-test", "ansible-vault"), (
        Command("ansible --version", ("ansible", "--version"), stdout=("ansible [core {version}]",)),
        Command("ansible localhost -m ping", ("ansible", "localhost", "-m", "ping", "-c", "local"),
                stdout=("localhost | SUCCESS", '"ping": "pong"')),
        Command("ansible-playbook (file, copy, debug)", ("ansible-playbook", "site.yml"), write={"site.yml": PLAYBOOK},
                stdout=("hello from the playbook", "ok=3", "changed=2", "failed=0"),
                files={"/tmp/ansible-demo/hello.txt": "written by ansible-playbook"}),
    ),
        # Ansible runs every module as `/bin/sh -c '<python> <module file>'` (the implicit localhost's python is
        # sys.executable: the binary itself), after `mkdir` and `chmod` of a temporary directory under
        # ~/.ansible/tmp, which it removes with `rm -f -r`: a POSIX shell and those three are what it requires of
        # any managed host. Its workers are multiprocessing processes (semaphores in /dev/shm) that detach from
        # stdio onto /dev/null. And it refuses to start unless the locale's encoding is UTF-8 (setlocale(LC_ALL,
        # "") then getlocale(); Python's UTF-8 mode does not count): LANG=C.UTF-8 with glibc's C.UTF-8 files.
        # (No /etc/passwd: ansible runs without one.)
        needs=("sh", "coreutils", "dev", "locale"), env={"LANG": "C.UTF-8"}),
    "httpie": Tool("httpie", "http", ("http", "httpie", "https"), (
        # stdin is a terminal, as in a shell: piped, httpie would send it as the body (scripts pass --ignore-stdin).
        Command("http --offline POST", ("http", "--offline", "POST", "example.org/post", "a=b", "n:=1", "X-Demo:yes"),
                tty=True, stdout=("POST /post HTTP/1.1", "Host: example.org", "X-Demo: yes", "application/json",
                                  '"a": "b"', '"n": 1')),
        Command("https --version", ("https", "--version"), stdout=("{version}",)),
        Command("https --offline GET", ("https", "--offline", "example.org", "q==1"), tty=True,
                stdout=("GET /?q=1 HTTP/1.1", "Host: example.org", "User-Agent: HTTPie/{version}")),
    )),
    "yt-dlp": Tool("yt-dlp", "yt-dlp", ("yt-dlp",), (
        Command("--version", ("yt-dlp", "--version"), stdout=("{version}",)),
        Command("--list-extractors", ("yt-dlp", "--list-extractors"), stdout=("youtube", "vimeo"), min_lines=1000),
        # A download without the network: the generic extractor on a file:// URL, then the HTTP downloader.
        Command("--print of a file:// URL", ("yt-dlp", "--enable-file-urls", "--print",
                                              "%(title)s|%(ext)s|%(extractor)s", f"file://{WORK}/clip.mp4"),
                write={"clip.mp4": CLIP}, stdout=("clip|mp4|generic",)),
        Command("download a file:// URL", ("yt-dlp", "--enable-file-urls", "-o", "copy.%(ext)s",
                                            f"file://{WORK}/clip.mp4"),
                stdout=("[generic] Extracting URL", "Destination: copy.mp4", "100%"),
                files={"copy.mp4": "not really a video"}),
    )),
    "mkdocs": Tool("mkdocs", "mkdocs", ("mkdocs",), (
        NothingExtracted(),
        Command("mkdocs --version", ("mkdocs", "--version"), stdout=("mkdocs, version {version}",)),
        Command("mkdocs new", ("mkdocs", "new", "site"), output=("Writing config file",),
                files={"site/mkdocs.yml": "site_name", "site/docs/index.md": "Welcome to MkDocs"}),
        Command("mkdocs build", ("mkdocs", "build"), cwd=f"{WORK}/site", output=("Documentation built",),
                files={"site/index.html": "Welcome to MkDocs", "site/sitemap.xml": "", "site/css/base.css": "",
                       "site/webfonts/fa-solid-900.woff2": "", "site/search/search_index.json": "Welcome"}),
    )),
    "uvicorn": Tool("uvicorn", "uvicorn", ("uvicorn",), (
        Serve("--workers 2, SIGTERM", UVICORN, "/items/7?q=amber", {"item_id": 7, "q": "amber"}, workers=2,
              ready="Application startup complete.", finished="Finished server process", stop=signal.SIGTERM),
        Serve("--workers 2, Ctrl-C", UVICORN, "/", {"hello": "amber"}, workers=2,
              ready="Application startup complete.", finished="Finished server process", stop=signal.SIGINT,
              group=True),
    )),
}


@dataclass
class ToolResult:
    tool: str
    version: str
    binary: Path | None = None
    build_seconds: float = 0.0
    size: int = 0
    extracted: list[str] = field(default_factory=list)
    build_error: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.build_error and len(self.checks) == len(TOOLS[self.tool].checks) and all(
            c.ok for c in self.checks)

    def report(self) -> str:
        """Every failed check with its command, reason and output (for an assertion message or a log)."""
        if self.build_error:
            return f"{self.tool}: amber build failed:\n{self.build_error}"
        return "\n\n".join(f"{self.tool}: {c.name}: {c.command}\n  {c.reason}\n{c.output}"
                           for c in self.checks if not c.ok)


def project(tool: str) -> dict:
    return tomllib.loads((HERE / tool / "pyproject.toml").read_text())


def pinned_versions(tool: str) -> dict[str, str]:
    """name -> version of the exact pins in the wrapper's pyproject.toml."""
    pins = {}
    for requirement in project(tool)["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


def build(tool: str, workdir: Path) -> tuple[Path, float]:
    """`amber build` of a copy of the wrapper (building its sdist writes *.egg-info next to it)."""
    copy = workdir / "project" / tool
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(HERE / tool, copy, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info", "__pycache__"))
    binary = workdir / "bin" / TOOLS[tool].binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "amber", "build", str(copy), "-o", str(binary)], capture_output=True,
                         text=True, timeout=1800)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"exit {out.returncode}\n{out.stdout}\n{out.stderr}")
    return binary, seconds


def inspect(binary: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "amber", "inspect", "--json", str(binary)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def add_program(chroot: Chroot, name: str) -> None:
    """The host's program `name` at /bin/<name>, with the shared libraries it needs that glibc does not have."""
    program = Path(shutil.which(name) or f"/bin/{name}").resolve()
    chroot.add(program, f"/bin/{name}", 0o755)
    listing = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True).stdout
    for library in re.findall(r"=> (/\S+)", listing):
        target = chroot.root / LIBDIR.relative_to("/") / Path(library).name
        if not target.exists():
            shutil.copy2(Path(library).resolve(), target)


@contextmanager
def tool_chroot(tool: Tool, binary: Path, root: Path):
    """An empty root (glibc's files, /proc, a noexec 64 MB tmpfs on /tmp), the binary at /app/<binary> and a
    relative symlink /app/<script> -> <binary> per other script, /home and /work (writable, on disk), and
    what `tool.needs` (NEEDS); unmounted and removed afterwards."""
    chroot = Chroot(root)
    try:
        chroot.add(binary, f"/app/{tool.binary}", 0o755)
        for script in tool.scripts:
            if script != tool.binary:
                os.symlink(tool.binary, root / "app" / script)
        (root / "home").mkdir()
        (root / WORK.lstrip("/")).mkdir()
        if "sh" in tool.needs:  # dash, dynamically linked to libc only
            shell = Path("/bin/dash") if Path("/bin/dash").exists() else Path("/bin/sh")
            chroot.add(shell.resolve(), "/bin/sh", 0o755)
        if "coreutils" in tool.needs:
            for program in COREUTILS:
                add_program(chroot, program)
        if "locale" in tool.needs:  # what a Debian system has of glibc's locale files (libc-bin), no more
            shutil.copytree(LOCALE, root / LOCALE.relative_to("/"))
        if "dev" in tool.needs:
            (root / "dev" / "shm").mkdir(parents=True)
            (root / "dev" / "null").touch()
            subprocess.run(["mount", "--bind", "/dev/null", str(root / "dev" / "null")], check=True)
            chroot.mounts.append(root / "dev" / "null")
            chroot.mount_tmpfs("/dev/shm", "nosuid,nodev,mode=1777,size=16m")
        chroot.mount_tmpfs("/tmp")
        chroot.mount_proc()
        yield chroot
    finally:
        chroot.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def run_tool(name: str, workdir: Path, log: Callable[[str], None] = print) -> ToolResult:
    """Build one tool and run its checks, in order, in a fresh chroot; a failed check does not stop the next."""
    tool = TOOLS[name]
    result = ToolResult(name, pinned_versions(name).get(tool.dist, "?"))
    try:
        result.binary, result.build_seconds = build(name, workdir)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        result.build_error = str(error)[-6000:]
        log(f"{name}: amber build FAILED")
        return result
    result.size = result.binary.stat().st_size
    info = inspect(result.binary)
    result.extracted = sorted(e["distribution"] for e in info.get("extract", []))
    log(f"{name}: built in {result.build_seconds:.0f} s, {result.size / 1e6:.1f} MB"
        f"{', extracts ' + ', '.join(result.extracted) if result.extracted else ''}")
    with tool_chroot(tool, result.binary, workdir / f"{name}-root") as chroot:
        session = Session(chroot, result.binary, info, workdir, tool.env)
        for check in tool.checks:
            outcome = check.run(session, result.version)
            result.checks.append(outcome)
            log(f"{name}: {outcome.name}: {'pass' if outcome.ok else 'FAIL ' + outcome.reason}")
    (workdir / f"{name}.log").write_text("\n\n".join(
        f"== {c.name}: {'pass' if c.ok else 'FAIL'}\n$ {c.command}\n{c.reason}\n{c.output}" for c in result.checks))
    return result


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[ToolResult], total_seconds: float) -> str:
    """The `## Real tools` section of docs/compat.md, between its markers."""
    passed = sum(r.ok for r in results)
    extras = "; ".join(f"{r.tool}: " + ", ".join(NEEDS[n] for n in TOOLS[r.tool].needs) + "".join(
        f", {k}={v}" for k, v in TOOLS[r.tool].env.items()) for r in results if TOOLS[r.tool].needs) or "none"
    lines = [
        BEGIN,
        "## Real tools",
        "",
        "Generated by `tests/realapps/run.py` (rerun it: `sudo .venv/bin/python tests/realapps/run.py`).",
        "",
        f"**{passed}/{len(results)} tools pass every check.** Each is built, first try, from a wrapper project that "
        "only pins the tool with everything it pulls in and re-exports its console scripts "
        "(`tests/realapps/<tool>/pyproject.toml`): plain `amber build`, no flags. The binary runs in the same empty "
        "chroot as above, called by its scripts' names (symlinks on `PATH`), and is used as its users use it; the "
        "checks assert exit codes, output and the files written. *Extracted*: the distributions `amber inspect` "
        "says are materialized on first use. A root holds more only where the tool cannot do without it and every "
        f"Linux system has it: {extras}. Run time: {total_seconds / 60:.1f} min, builds included.",
        "",
        "| tool | version | build | size | extracted | checks passed |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        version = r.version if TOOLS[r.tool].dist == r.tool else f"{TOOLS[r.tool].dist} {r.version}"
        if r.build_error:
            lines.append(f"| {r.tool} | {version} | **failed** | - | - | 0/{len(TOOLS[r.tool].checks)} |")
            continue
        lines.append(f"| {r.tool} | {version} | {r.build_seconds:.0f} s | {r.size / 1e6:.1f} MB | "
                     f"{', '.join(r.extracted) or '-'} | {sum(c.ok for c in r.checks)}/{len(TOOLS[r.tool].checks)} |")
    lines += ["", "| tool: check | command | result |", "|---|---|---|"]
    for r in results:
        for c in r.checks:
            outcome = "pass" if c.ok else f"**FAIL**: {_cell(c.summary or c.reason)}"
            lines.append(f"| {r.tool}: {c.name} | `{_cell(c.command)}` | {outcome} |")
        if r.build_error:
            lines.append(f"| {r.tool}: build | `amber build` | **FAIL**: {_cell(key_line(r.build_error))} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace the section between the markers in `doc`, or append it."""
    current = doc.read_text()
    start, end = current.find(BEGIN), current.find(END)
    if start >= 0 and end > start:
        current = current[:start] + text + current[end + len(END):].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    doc.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="*", metavar="TOOL", help=f"tools to run (default: all): {', '.join(TOOLS)}")
    parser.add_argument("--keep", type=Path, help="build in this directory and keep the binaries and logs")
    parser.add_argument("--no-doc", action="store_true", help="print the section instead of writing docs/compat.md")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown:
        parser.error(f"unknown tool {', '.join(unknown)}; tools: {', '.join(TOOLS)}")
    tools = args.tools or list(TOOLS)
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="amber-realapps-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            result = run_tool(tool, workdir, log=lambda m: print(m, flush=True))
            if not result.ok:
                print(result.report()[-8000:], file=sys.stderr)
            results.append(result)
    total = time.monotonic() - started
    text = markdown(results, total)
    if args.tools or args.no_doc:
        print(text)
    else:
        write_section(text)
        print(f"wrote the real tools section of {DOC}")
    print(f"real tools: {sum(r.ok for r in results)}/{len(results)} pass, {total / 60:.1f} min")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
