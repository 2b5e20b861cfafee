"""Load (issue #8, item 6): the example web app serves 10,000 requests over 127.0.0.1 from 8
concurrent clients without an error, and its memory stays flat after warm-up.

    .venv/bin/python -m pytest -s tests/test_load.py     (prints requests/s and RSS figures)

Traffic goes to 127.0.0.1 only, the request count and the time are bounded, and the server is
stopped whatever happens.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.proc import run

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).parent.parent
AMBER = [sys.executable, "-m", "amber"]
CLIENTS = 8
WARM_UP = 1_000
REQUESTS = 10_000
DEADLINE = 300  # seconds for the whole run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree_rss(pid: int) -> int:
    """Resident memory (kB) of `pid` and its children: gunicorn's master and its workers."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def wait_until_serving(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start listening")


def hammer(port: int, count: int, deadline: float) -> tuple[int, list[str]]:
    """`count` GET / requests from CLIENTS threads; (successes, errors)."""
    lock = threading.Lock()
    state = {"left": count, "ok": 0}
    errors: list[str] = []

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                if state["left"] == 0:
                    return
                state["left"] -= 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                good = response.status == 200 and b"Hello, 127.0.0.1!" in body
            except OSError as exc:
                good, body = False, repr(exc).encode()
            with lock:
                if good:
                    state["ok"] += 1
                else:
                    errors.append(body[:200].decode(errors="replace"))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return state["ok"], errors


def test_example_serves_ten_thousand_requests_with_flat_memory(runtime: Path, tmp_path: Path):
    project = tmp_path / "flask-hello"
    shutil.copytree(ROOT / "examples" / "flask-hello", project)
    out = run([*AMBER, "build", project], timeout=900)
    assert out.returncode == 0, out.stderr
    port = free_port()
    log = (tmp_path / "access.log").open("w")
    server = subprocess.Popen([project / "dist" / "flask-hello", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                              stdout=log, stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"},
                              start_new_session=True)
    deadline = time.monotonic() + DEADLINE
    try:
        wait_until_serving(port, time.monotonic() + 60)
        ok, errors = hammer(port, WARM_UP, deadline)
        assert (ok, errors) == (WARM_UP, [])
        warm_rss = process_tree_rss(server.pid)
        started = time.monotonic()
        ok, errors = hammer(port, REQUESTS, deadline)
        seconds = time.monotonic() - started
        end_rss = process_tree_rss(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    print(f"\nload: {ok} of {REQUESTS} requests OK in {seconds:.1f} s ({ok / seconds:.0f}/s) from {CLIENTS} clients; "
          f"RSS of master + 2 workers {warm_rss / 1024:.1f} MB after warm-up, {end_rss / 1024:.1f} MB after")
    assert errors == [] and ok == REQUESTS
    assert abs(end_rss - warm_rss) <= 0.10 * warm_rss, (warm_rss, end_rss)
    assert server.returncode == 0
