"""Another CPU's binaries, built on this x86_64 machine (issue #15): sizes, and start-up under the same emulator.

    .venv/bin/python bench/cross.py [--runs 20]   # rewrites its section of docs/benchmarks.md

Both runtimes must be built (`amber runtime build`, `amber runtime build --target aarch64-linux-gnu`). The
examples/hello app is built for each target; its start-up is timed, interleaved, as aarch64 under
qemu-aarch64-static and as x86_64 under qemu-x86_64-static (the same emulator, so the ratio compares the
binaries rather than emulation against hardware), and x86_64 natively for scale. The same for the bare
runtimes (`-I -S -c pass`). There is no aarch64 hardware here, so no native aarch64 figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from common import interleaved, publish  # noqa: E402

from amber import targets  # noqa: E402
from amber.runtime.build import build_runtime  # noqa: E402
from amber.runtime.emulation import sysroot  # noqa: E402

AMBER = [sys.executable, "-m", "amber"]


def build_hello(work: Path, target: targets.Target) -> Path:
    project = work / target.name / "hello"
    shutil.copytree(ROOT / "examples" / "hello", project)
    out = subprocess.run([*AMBER, "build", project, "--target", target.name], capture_output=True, text=True,
                         check=True)
    return Path(out.stdout.strip())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv[1:])
    x86, arm = targets.X86_64_GNU, targets.AARCH64_GNU
    runtimes = {t: build_runtime(quiet=True, target=t) for t in (x86, arm)}
    metadata = {t: json.loads((r.parent.parent / "runtime.json").read_text()) for t, r in runtimes.items()}
    qemu_arm = [shutil.which("qemu-aarch64-static"), "-L", str(sysroot(arm))]
    qemu_x86 = [shutil.which("qemu-x86_64-static")]
    with tempfile.TemporaryDirectory(prefix="amber-bench-cross-") as tmp:
        hello = {t: build_hello(Path(tmp), t) for t in (x86, arm)}
        apps = interleaved({"aarch64, qemu": [*qemu_arm, hello[arm], "bench"],
                            "x86_64, qemu": [*qemu_x86, hello[x86], "bench"],
                            "x86_64, native": [hello[x86], "bench"]}, args.runs)
        bare = ["-I", "-S", "-c", "pass"]
        bares = interleaved({"aarch64, qemu": [*qemu_arm, runtimes[arm], *bare],
                             "x86_64, qemu": [*qemu_x86, runtimes[x86], *bare],
                             "x86_64, native": [runtimes[x86], *bare]}, args.runs)
        sizes = {t: hello[t].stat().st_size / 1e6 for t in (x86, arm)}
    lines = [
        "## Another CPU: aarch64 built on x86_64",
        "",
        "No aarch64 hardware here: aarch64 runs under `qemu-aarch64-static`, and x86_64 is timed under",
        "`qemu-x86_64-static` too, so that the ratio compares the binaries under the same emulator.",
        f"Median of {args.runs} interleaved runs.",
        "",
        "| | aarch64-linux-gnu | x86_64-linux-gnu |",
        "|---|---|---|",
        f"| runtime file (MB) | {metadata[arm]['size'] / 1e6:.1f} | {metadata[x86]['size'] / 1e6:.1f} |",
        f"| runtime build, libraries cached (s) | {metadata[arm].get('build_seconds', 0):.0f} | "
        f"{metadata[x86].get('build_seconds', 0):.0f} |",
        f"| highest GLIBC version the runtime needs | {metadata[arm]['glibc_max']} | {metadata[x86]['glibc_max']} |",
        f"| examples/hello (MB) | {sizes[arm]:.1f} | {sizes[x86]:.1f} |",
        "",
        "### Start-up (ms)",
        "",
        "| | aarch64, qemu | x86_64, qemu | aarch64/x86_64 (same emulator) | x86_64, native |",
        "|---|---|---|---|---|",
    ]
    for name, times in (("examples/hello", apps), ("bare runtime, `-I -S -c pass`", bares)):
        ratio = times["aarch64, qemu"] / times["x86_64, qemu"]
        lines.append(f"| {name} | {times['aarch64, qemu'] * 1e3:.1f} | {times['x86_64, qemu'] * 1e3:.1f} | "
                     f"{ratio:.2f} | {times['x86_64, native'] * 1e3:.1f} |")
    publish("cross", lines, argv)


if __name__ == "__main__":
    main(sys.argv)
