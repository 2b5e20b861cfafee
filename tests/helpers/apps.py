"""App runs shared by the target tests (another CPU, another C library): the Flask example serving its page
from inside an empty root, and the nativezoo fixture built for a target and run there."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

from helpers.build import compile_c, copy_fixture
from helpers.chroot import Chroot


def build_for(target, project: Path, *flags: str, timeout: int = 900) -> tuple[Path, str]:
    """`amber build PROJECT --target <target> FLAGS`, which must succeed: the binary's path and the build's log."""
    from helpers.build import AMBER
    from helpers.proc import run

    out = run([*AMBER, "build", project, "--target", target.name, *flags], timeout=timeout)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip()), out.stderr


def static_shell(target) -> Path:
    """A /bin/sh that needs no C library at all (Debian's busybox-static of `target`'s architecture), for a root
    holding only musl: Debian's shells link glibc."""
    from amber import debian_packages

    return debian_packages.unpacked(target, f"{target.name}-busybox", ("busybox-static",), "bin/busybox") / \
        "bin" / "busybox"


def serve_flask_page(root: Chroot, inside: str, timeout: float = 180) -> str:
    """Start the Flask example (gunicorn, 2 workers) at `inside` in `root`, fetch its page over 127.0.0.1, stop
    it with SIGTERM; the page. The server must exit 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([inside, "--bind", f"127.0.0.1:{port}", "--workers", "2"], preexec_fn=root.enter,
                              env={"PATH": str(Path(inside).parent)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + timeout, None
        while page is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=120)
    assert server.returncode == 0, output
    return page


def nativezoo_for(target, tmp_path: Path, drop: tuple[str, ...] = ()) -> Path:
    """The nativezoo project with its ctypes library and its program compiled for `target` by zig, and the
    dependencies `drop` (pins as written in its pyproject.toml) left out."""
    project = copy_fixture("nativezoo", tmp_path)
    text = (project / "pyproject.toml").read_text()
    for pin in drop:
        text = re.sub(rf'"{re.escape(pin)}",\s*', "", text)
    (project / "pyproject.toml").write_text(text)
    package = project / "src" / "nativezoo"
    compile_c(package / "answer.c", package / "libanswer.so", target, "-shared", "-fPIC")
    compile_c(package / "bin" / "answer-tool.c", package / "bin" / "answer-tool", target, *target.link_flags.split())
    return project


def run_nativezoo(root: Chroot, binary: Path, shell: Path, group: str, native: str = "memory") -> dict:
    """Run nativezoo's `group` in `root` with AMBER_NATIVE=`native` (`shell` as /bin/sh, for its script): its
    report. Nothing may be written to /tmp, nor with `memory` to the extraction cache."""
    root.add(binary, "/app/nativezoo", 0o755)
    root.add(shell, "/bin/sh", 0o755)
    (root.root / "home").mkdir(exist_ok=True)
    env = {"PATH": "/bin", "HOME": "/home", "TMPDIR": "/tmp", "AMBER_NATIVE": native}
    out = root.run(["/app/nativezoo", group], env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.splitlines()[-1] == "OK"
    assert list((root.root / "tmp").iterdir()) == []
    if native == "memory":
        assert not (root.root / "home" / ".cache").exists()  # everything came from memory
    return json.loads(out.stdout.splitlines()[-2])


XZ_IMPORT = """
import importlib, sys, zipfile
sqlite = importlib.import_module("_" + "sqlite3")
member = zipfile.ZipFile(sys.executable).getinfo(sqlite.__file__[len(sys.executable) + 1:])
print(sqlite.sqlite_version, member.compress_type, sqlite.connect(":memory:").execute("select 6 * 7").fetchone()[0])
"""


def check_hello_runs(root: Chroot, binary: Path) -> None:
    """The hello fixture at /app/hello in `root`: its arguments and sys.executable, an exit code and a traceback
    through its `hello-fail` script link, an xz member loaded, and nothing written to /tmp."""
    root.add(binary, "/app/hello", 0o755)
    (root.root / "app" / "hello-fail").symlink_to("hello")
    out = root.run(["/app/hello", "from", "root"], env={"PATH": "/app"})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["argv"], report["executable"]) == (["from", "root"], "/app/hello")
    assert root.run(["/app/hello-fail"], env={"HELLO_EXIT": "5"}).returncode == 5
    boom = root.run(["hello-fail"], env={"PATH": "/app", "HELLO_EXIT": "-1"})
    assert boom.returncode == 1 and boom.stderr.strip().splitlines()[-1] == "RuntimeError: boom from hello"
    # A stdlib shared object no import of the app reaches (an xz member, archive/xz.py), imported by a
    # computed name: the target's runtime decodes it.
    late = root.run(["/app/hello", "-c", XZ_IMPORT], env={"AMBER_INTERPRETER": "1"})
    assert late.returncode == 0 and late.stdout.split()[1:] == ["95", "42"], (late.stdout, late.stderr)
    assert list((root.root / "tmp").iterdir()) == []


def check_damaged_is_one_line(root: Chroot, binary: Path) -> None:
    """`binary` cut in the middle of its archive (a download cut short), run in `root`: one `amber: ... damaged
    file` line, exit 1. (A cut inside the interpreter ELF is the kernel's and the dynamic loader's to
    refuse, before any of amber's code runs.)"""
    data = binary.read_bytes()
    with zipfile.ZipFile(binary) as zf:
        first = min(info.header_offset for info in zf.infolist())
    damaged = root.add(binary, "/app/hello", 0o755)
    damaged.write_bytes(data[: (first + len(data)) // 2])
    out = root.run(["/app/hello"])
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amber: ") and "damaged file" in lines[0], lines


ZLIB_SOURCES = ("adler32.c", "crc32.c", "deflate.c", "infback.c", "inffast.c", "inflate.c", "inftrees.c", "trees.c",
                "zutil.c", "compress.c", "uncompr.c", "gzclose.c", "gzlib.c", "gzread.c", "gzwrite.c")


def musl_zlib(target) -> Path:
    """libz.so.1 for a musl `target`, as Alpine's base image has it (pillow's musllinux wheels link it without
    vendoring it): the recipe's pinned zlib, compiled once by zig into <cache>/sysroots/<target>-zlib/."""
    import subprocess

    from amber.paths import cache_root
    from amber.runtime import sources
    from amber.runtime.recipe import load_recipe
    from amber.runtime.toolchain import zig_binary

    source = next(s for s in load_recipe().python(None).libraries if s.key == "zlib")
    library = cache_root() / "sysroots" / f"{target.name}-zlib-{source.file}" / "libz.so.1"
    if library.is_file():
        return library
    tree = sources.unpack(sources.fetch(source), library.parent / "src")
    staged = library.with_suffix(".tmp")
    subprocess.run([zig_binary(), "cc", "-target", target.zig_target, "-shared", "-fPIC", "-O2", "-DHAVE_UNISTD_H",
                    "-D_LARGEFILE64_SOURCE=1", "-Wl,-soname,libz.so.1", "-o", staged, *ZLIB_SOURCES],
                   cwd=tree, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(library.parent),
                        "ZIG_GLOBAL_CACHE_DIR": str(cache_root() / "toolchain" / "zig-cache")})
    staged.rename(library)
    return library
