"""The C file layer (issue #17): what it costs ordinary files, what a member read through it costs, and the
start-up of apps before and after it took over from the Python-level wrappers.

    .venv/bin/python bench/clayer.py [--runs 20] [--before REV]   # rewrites its section of docs/benchmarks.md

1. Layer on and off, in one process: a C library (compiled here with cc) loaded into an amber binary times
   open+read+close and stat() of an ordinary file, calling the functions the way any shared object does
   (bound to the runtime's exported definitions: the layer) and through pointers to libc's own (no layer),
   interleaved. The same library in the machine's pyenv python is the control, where both are libc's.
2. Members through the layer: open+read+close of archive members from C, and Python's open().read().
3. Start-up of three apps built by this checkout and by REV (default: the commit before the Python wrappers
   of open/stat/listdir were retired), each with its own runtime (REV's must be in the runtime store),
   interleaved: hello, zipunsafe (reads package data), and a Flask app rendering a template of its package.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from common import interleaved, publish  # noqa: E402

DEFAULT_BEFORE = "a2b0436"
BENCH_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef int (*open_fn)(const char *, int, ...);
typedef int (*stat_fn)(const char *, struct stat *);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void *libc(void) { return dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD); }

/* ns per open+read+close of `path`: through the definitions this object binds to (layered = 1), or libc's. */
double open_read_close(const char *path, long n, int layered) {
    open_fn o = layered ? (open_fn)open : (open_fn)dlsym(libc(), "open");
    char buffer[65536];
    double start = now();
    for (long i = 0; i < n; i++) {
        int fd = o(path, O_RDONLY);
        if (fd < 0) return -1;
        while (read(fd, buffer, sizeof(buffer)) > 0) {}
        close(fd);
    }
    return (now() - start) / n * 1e9;
}

double stat_ns(const char *path, long n, int layered) {
    stat_fn s = layered ? (stat_fn)stat : (stat_fn)dlsym(libc(), "stat");
    struct stat st;
    double start = now();
    for (long i = 0; i < n; i++) {
        if (s(path, &st) != 0) return -1;
    }
    return (now() - start) / n * 1e9;
}
"""
# Run inside the binary (AMBER_INTERPRETER) and in the control python: rounds of layer on/off, interleaved.
MICRO = r"""
import ctypes, json, os, statistics, sys
lib = ctypes.CDLL(sys.argv[1])
for f in (lib.open_read_close, lib.stat_ns):
    f.restype, f.argtypes = ctypes.c_double, [ctypes.c_char_p, ctypes.c_long, ctypes.c_int]
path, rounds = sys.argv[2].encode(), int(sys.argv[3])
samples = {"open_on": [], "open_off": [], "stat_on": [], "stat_off": []}
for _ in range(rounds):
    for layered, key in ((1, "on"), (0, "off")):
        samples["open_" + key].append(lib.open_read_close(path, 20000, layered))
        samples["stat_" + key].append(lib.stat_ns(path, 200000, layered))
print(json.dumps({k: statistics.median(v) for k, v in samples.items()}))
"""
MEMBERS = r"""
import ctypes, json, os, statistics, sys, time
lib = ctypes.CDLL(sys.argv[1])
lib.open_read_close.restype = ctypes.c_double
lib.open_read_close.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_int]
out = {}
members = [os.path.join(sys.executable, *parts) for parts in (("json", "encoder.py"), ("pydoc_data", "topics.py"))]
for path in (*members, sys.argv[2]):
    c = statistics.median(lib.open_read_close(path.encode(), 500, 1) for _ in range(5))
    python = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(500):
            with open(path, "rb") as f:
                f.read()
        python.append((time.perf_counter() - start) / 500 * 1e9)
    out[path.replace(sys.executable, "<binary>")] = {"size": os.stat(path).st_size, "c": c,
                                                      "python": statistics.median(python)}
print(json.dumps(out))
"""
FLASK_APP = '''
from flask import Flask, render_template

app = Flask(__name__)


def main():
    with app.app_context():
        print(render_template("index.html", items=range(3)))
'''


def build_checkout(source: Path, project: Path, output: Path) -> Path:
    """`amber build` of `project` by the amber in `source` (its src/ first on sys.path): the binary. The build
    sees this process's environment (uv's certificates and index settings)."""
    out = subprocess.run([sys.executable, "-m", "amber", "build", str(project), "-o", str(output)],
                         env=dict(os.environ, PYTHONPATH=str(source / "src")), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"clayer: amber build of {project.name} by {source} failed:\n{out.stderr[-2000:]}")
    return output


def projects(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    """The apps (project, argv after the binary)."""
    fixtures = ROOT / "tests" / "fixtures"
    hello = shutil.copytree(fixtures / "hello", tmp / "hello")
    zipunsafe = shutil.copytree(fixtures / "zipunsafe", tmp / "zipunsafe")
    flask = tmp / "flaskapp"
    (flask / "src" / "flaskapp" / "templates").mkdir(parents=True)
    (flask / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "flaskapp"
        version = "1.0"
        dependencies = ["flask==3.1.3", "werkzeug==3.1.9", "jinja2==3.1.6", "markupsafe==3.0.4",
                        "itsdangerous==2.2.0", "click==8.5.1", "blinker==1.9.0"]

        [project.scripts]
        flaskapp = "flaskapp:main"

        [tool.setuptools.package-data]
        flaskapp = ["templates/*.html"]
        '''))
    (flask / "src" / "flaskapp" / "__init__.py").write_text(FLASK_APP)
    (flask / "src" / "flaskapp" / "templates" / "index.html").write_text(
        "<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>\n")
    return {"hello": (hello, ["world"]), "zipunsafe": (zipunsafe, []), "flask": (flask, [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="the commit to compare start-up with")
    args = parser.parse_args()
    started = time.monotonic()
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LC_ALL": "C.UTF-8"}  # the runs'
    with tempfile.TemporaryDirectory(prefix="clayer-") as tmpdir:
        tmp = Path(tmpdir)
        library = tmp / "libclayerbench.so"
        (tmp / "bench.c").write_text(BENCH_C)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, tmp / "bench.c", "-ldl"], check=True)
        ordinary = tmp / "ordinary.txt"
        ordinary.write_bytes(os.urandom(4096))
        apps = projects(tmp)
        after = {name: build_checkout(ROOT, project, tmp / "after" / name) for name, (project, _) in apps.items()}
        interpreter = dict(env, AMBER_INTERPRETER="1")
        control_python = shutil.which("python3.13", path=os.path.expanduser("~/.pyenv/versions/3.13.0/bin"))
        micro, control = {}, {}
        # A file beside the binary (their paths share the longest prefix the layer compares) and a system file.
        for where, path in (("beside the binary", ordinary), ("/etc/os-release", Path("/etc/os-release"))):
            micro[where] = json.loads(subprocess.run([after["hello"], "-c", MICRO, library, path, "15"],
                                                     env=interpreter, capture_output=True, text=True,
                                                     check=True).stdout)
            if control_python:
                control[where] = json.loads(subprocess.run([control_python, "-I", "-c", MICRO, library, path, "15"],
                                                           capture_output=True, text=True, check=True).stdout)
        members = json.loads(subprocess.run([after["hello"], "-c", MEMBERS, library, ordinary], env=interpreter,
                                            capture_output=True, text=True, check=True).stdout)
        members_before = None
        worktree = tmp / "before-src"
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", worktree, args.before], check=True,
                       capture_output=True)
        try:
            before = {name: build_checkout(worktree, project, tmp / "before" / name)
                      for name, (project, _) in apps.items()}
            members_before = json.loads(subprocess.run([before["hello"], "-c", MEMBERS, library, ordinary],
                                                       env=interpreter, capture_output=True, text=True,
                                                       check=True).stdout)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", worktree], check=False)
        commands = {}
        for name, (_, argv) in apps.items():
            commands[f"{name} before"] = [before[name], *argv]
            commands[f"{name} after"] = [after[name], *argv]
        startup = interleaved(commands, args.runs, env=env, warmup=3)
    lines = ["## The C file layer", "",
             f"Generated by `bench/clayer.py` on {time.strftime('%Y-%m-%d')} in {time.monotonic() - started:.0f} s "
             f"— {platform.machine()}, {os.cpu_count()} cores.", "",
             "### Ordinary files, layer on and off (ns per call)", "",
             "A C library loaded into the binary calls `open`+`read`+`close` and `stat` the way every shared object "
             "does, bound to the runtime's definitions (on), and through pointers to libc's own (off), in 15 "
             "interleaved rounds (medians), on a 4 KB file beside the binary (the path shares the longest prefix "
             "with it) and on /etc/os-release. In the pyenv python both are libc's (control).", "",
             "| file | call | layer on | layer off | on / off | control on / off |", "|---|---|---:|---:|---:|---:|"]
    for where, figures in micro.items():
        for label, key in (("open+read+close", "open"), ("stat", "stat")):
            on, off = figures[f"{key}_on"], figures[f"{key}_off"]
            ctl = f"{control[where][f'{key}_on'] / control[where][f'{key}_off']:.3f}" if control else "—"
            lines.append(f"| {where} | {label} | {on:.0f} | {off:.0f} | {on / off:.3f} | {ctl} |")
    lines += ["", "### Reading a file (µs per open+read+close)", "",
              f"Archive members (deflated: the stdlib's sources) and an ordinary file, read from C and with "
              f"Python's `open().read()`; before: {args.before}, whose Python `open()` was a wrapper answering from "
              "zipimport's reader (its C code already had the first layer).", "",
              "| file | size | from C | Python | Python before |", "|---|---:|---:|---:|---:|"]
    for label, figures in members.items():
        previous = members_before[label]["python"] / 1000 if members_before else float("nan")
        lines.append(f"| `{label if '<binary>' in label else 'an ordinary file'}` | {figures['size'] / 1024:.1f} KB | "
                     f"{figures['c'] / 1000:.1f} | {figures['python'] / 1000:.1f} | {previous:.1f} |")
    lines += ["", f"### Start-up (ms): {args.before} (Python wrappers of open/stat/listdir) and this checkout",
              "", f"Medians of {args.runs} warm runs, interleaved.", "",
              "| app | before | after | after / before |", "|---|---:|---:|---:|"]
    for name in apps:
        b, a = startup[f"{name} before"], startup[f"{name} after"]
        lines.append(f"| {name} | {b * 1000:.1f} | {a * 1000:.1f} | {a / b:.3f} |")
    publish("clayer", lines, sys.argv)


if __name__ == "__main__":
    main()
