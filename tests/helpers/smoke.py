"""A runtime's smoke script for another target's root (run as a file, so that spawn's child can import it):
the heavy stdlib modules, a spawned child, curses' built-in terminfo, readline, and a TLS handshake with the
server of helpers/tls.py (argv: its port, the CA file). Prints one JSON object."""

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
