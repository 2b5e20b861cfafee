"""musl binaries next to glibc ones of the same CPU (issue #16): sizes, and start-up in interleaved runs.

    .venv/bin/python bench/musl.py [--runs 20]   # rewrites its section of docs/benchmarks.md

The four runtimes must be built (`amber runtime build [--target ...]` for x86_64-linux-gnu, x86_64-linux-musl,
aarch64-linux-gnu, aarch64-linux-musl). examples/hello is built for each; x86_64 runs natively (musl's programs
through this machine's /lib/ld-musl-x86_64.so.1, Debian's musl package), aarch64 under qemu-aarch64-static with
each C library's Debian root. The bare runtimes (`-I -S -c pass`) are timed the same way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from common import interleaved, publish  # noqa: E402
from cross import build_hello  # noqa: E402

from amber import targets  # noqa: E402
from amber.runtime.build import build_runtime  # noqa: E402
from amber.runtime.emulation import sysroot  # noqa: E402

PAIRS = ((targets.X86_64_GNU, targets.X86_64_MUSL), (targets.AARCH64_GNU, targets.AARCH64_MUSL))


def runner(target: targets.Target) -> list[str]:
    """Nothing for this machine's CPU; qemu with the target's C library root for aarch64."""
    if target.arch == targets.host().arch:
        return []
    return [shutil.which(f"qemu-{target.arch}-static"), "-L", str(sysroot(target))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv[1:])
    every = [t for pair in PAIRS for t in pair]
    runtimes = {t: build_runtime(quiet=True, target=t) for t in every}
    metadata = {t: json.loads((r.parent.parent / "runtime.json").read_text()) for t, r in runtimes.items()}
    lines = [
        "## musl next to glibc",
        "",
        "x86_64 runs natively (musl's binaries through Debian's musl 1.2.3 loader), aarch64 under",
        f"`qemu-aarch64-static` with each C library's Debian root. Median of {args.runs} interleaved runs, ms.",
        "",
        "| | runtime file (MB) | examples/hello (MB) | hello start-up | musl/glibc | bare runtime `-I -S -c pass` "
        "| musl/glibc |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="amber-bench-musl-") as tmp:
        hello = {t: build_hello(Path(tmp), t) for t in every}
        for glibc, musl in PAIRS:
            apps = interleaved({t.name: [*runner(t), hello[t], "bench"] for t in (glibc, musl)}, args.runs)
            bares = interleaved({t.name: [*runner(t), runtimes[t], "-I", "-S", "-c", "pass"] for t in (glibc, musl)},
                                args.runs)
            for t in (glibc, musl):
                ratio = (f"{apps[t.name] / apps[glibc.name]:.2f}", f"{bares[t.name] / bares[glibc.name]:.2f}") \
                    if t is musl else ("", "")
                lines.append(f"| {t.name} | {metadata[t]['size'] / 1e6:.1f} | {hello[t].stat().st_size / 1e6:.1f} | "
                             f"{apps[t.name] * 1e3:.1f} | {ratio[0]} | {bares[t.name] * 1e3:.1f} | {ratio[1]} |")
    publish("musl", lines, argv)


if __name__ == "__main__":
    main(sys.argv)
