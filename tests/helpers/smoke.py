"""A runtime's smoke script for another target's root (run as a file, so that spawn's child can import it):
the heavy stdlib modules, a spawned child, curses' built-in terminfo, readline, and a TLS handshake with the
server of helpers/tls.py (argv: its port, the CA file). Prints one JSON object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.tls import SERVER, make_tls_ca

SMOKE = r"""
import ctypes, curses, decimal, json, lzma, multiprocessing, platform, readline, socket, sqlite3, ssl, sys, zlib


def child(conn):
    conn.send([platform.machine(), multiprocessing.current_process().name])


def tls(port, ca):
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(platform.machine().encode())
            return [conn.version(), conn.recv(100).decode()]


if __name__ == "__main__":
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    process = spawn.Process(target=child, args=(theirs,), name="spawned")
    process.start()
    spawned = ours.recv()
    process.join()
    curses.setupterm("xterm-256color", sys.stdout.fileno())  # from the terminfo built into the runtime
    seen = {"machine": platform.machine(), "spawn": spawned, "exitcode": process.exitcode,
            "sqlite": sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0],
            "lzma": lzma.decompress(lzma.compress(b"amber" * 100)) == b"amber" * 100,
            "decimal": str(decimal.Decimal(1) / decimal.Decimal(7))[:8], "ctypes": ctypes.CDLL(None).abs(-7),
            "zlib": zlib.crc32(b"amber"), "curses": curses.tigetstr("clear") is not None,
            "readline": readline.get_completer_delims() != "", "tls": tls(int(sys.argv[1]), sys.argv[2])}
    print(json.dumps(seen))
"""


def run_smoke(root, runtime: Path, workdir: Path) -> subprocess.CompletedProcess:
    """SMOKE run by `runtime`, installed in `root` (a helpers.chroot.Chroot) as in the store, against a TLS
    server of this machine's Python whose CA the root gets (certificates made in `workdir`)."""
    python = root.add_runtime(runtime, "/usr/local")
    tls = make_tls_ca(workdir)
    root.add(tls["ca_cert"], "/etc/ca.pem")
    root.write("/smoke.py", SMOKE)
    server = subprocess.Popen([sys.executable, "-c", SERVER, tls["server_cert"], tls["server_key"]],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        return root.run([python, "/smoke.py", port, "/etc/ca.pem"], env={"PATH": "/usr/local/bin", "LC_ALL": "C"},
                        timeout=300)
    finally:
        server.wait(timeout=60)
