"""Benchmark the amber runtime against the same interpreter with its stdlib on disk and against
the machine's gcc-built CPythons.

    .venv/bin/python bench/runtime.py [--runs 20]     # rewrites its section of docs/benchmarks.md

Contenders, all run in the same session with their runs interleaved (A B C A B C ...)
so that machine drift hits all of them alike:
  amber      the runtime file (stdlib in the appended archive, read through the amber index)
  floor      the very same interpreter ELF with the stdlib as files on disk (.py + __pycache__)
  zipimport  the same ELF with the same stdlib in a plain zip on sys.path (stock zip reading)
  pyenv 3.13 / pyenv 3.11   the machine's pyenv interpreters (gcc, shared libpython)
Figures are medians of wall time; ratios are to `floor` for start-up and to pyenv 3.13
for CPU work.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from common import interleaved, write_section  # noqa: E402

from amber.archive.format import TAIL_SIZE, read_trailer  # noqa: E402
from amber.runtime.build import build_runtime  # noqa: E402

STARTUP = {
    "-I -S -c pass": ["-I", "-S", "-c", "pass"],
    "-I -c 'import json, asyncio'": ["-I", "-c", "import json, asyncio"],
}
WORKLOADS = {
    "richards": ["richards.py", "300000"],
    "nbody": ["nbody.py", "60000"],
    "json round-trips": ["json_roundtrip.py", "3000"],
    "regex": ["regex.py", "20"],
}


def make_floor(runtime: Path, workdir: Path) -> dict[str, Path]:
    """The bare interpreter with the runtime's own stdlib on disk, and in a plain zip."""
    data = runtime.read_bytes()
    trailer = read_trailer(data[-TAIL_SIZE:])
    assert trailer is not None, "not an amber runtime"
    elf = data[: trailer.archive_offset]
    minor = "3.13"
    floor = workdir / "floor"
    (floor / "bin").mkdir(parents=True)
    lib = floor / "lib" / f"python{minor}"
    (lib / "lib-dynload").mkdir(parents=True)
    exe = floor / "bin" / f"python{minor}"
    exe.write_bytes(elf)
    exe.chmod(0o755)
    plain_zip = workdir / "zip"
    (plain_zip / "bin").mkdir(parents=True)
    zexe = plain_zip / "bin" / f"python{minor}"
    zexe.write_bytes(elf)
    zexe.chmod(0o755)
    (plain_zip / "lib" / f"python{minor}" / "lib-dynload").mkdir(parents=True)
    with zipfile.ZipFile(runtime) as src, zipfile.ZipFile(plain_zip / "lib" / "python313.zip", "w") as dst:
        for info in src.infolist():
            if info.filename.startswith(".amber/"):
                continue
            payload = src.read(info)
            dst.writestr(info, payload)
            if info.filename.endswith(".py"):
                target = lib / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(payload)
    subprocess.run([exe, "-I", "-m", "compileall", "-q", "-j0", str(lib)], check=True)
    return {"floor": exe, "zipimport": zexe}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per start-up case (default 20)")
    parser.add_argument("--cpu-runs", type=int, default=5, help="timed runs per CPU workload (default 5)")
    parser.add_argument("--runtime", type=Path, help="runtime file to measure (default: build/find the current one)")
    parser.add_argument("--startup-only", action="store_true", help="skip the CPU workloads")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="another interpreter to include, e.g. 'amber no-LTO=/path/to/python3.13'")
    args = parser.parse_args()

    runtime = args.runtime or build_runtime(quiet=True)
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        contenders: dict[str, Path] = {"amber": runtime, **make_floor(runtime, Path(tmp))}
        for extra in args.extra:
            name, _, path = extra.partition("=")
            contenders[name] = Path(path)
        for label, path in (("pyenv 3.13", "/root/.pyenv/versions/3.13.0/bin/python3.13"),
                            ("pyenv 3.11", "/root/.pyenv/versions/3.11.7/bin/python3.11")):
            if Path(path).is_file():
                contenders[label] = Path(path)
        startup = {case: interleaved({n: [exe, *argv] for n, exe in contenders.items()}, args.runs)
                   for case, argv in STARTUP.items()}
        cpu_contenders = {k: v for k, v in contenders.items() if k not in ("zipimport",)}
        cpu = {} if args.startup_only else {
            case: interleaved({n: [exe, *argv] for n, exe in cpu_contenders.items()}, args.cpu_runs,
                              cwd=HERE / "workloads", warmup=1)
            for case, argv in WORKLOADS.items()}

    lines = [
        "## The runtime",
        "",
        f"Generated by `bench/runtime.py` on {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
        f"{os.cpu_count()} cores, Linux {platform.release()}. Medians of wall time; runs of all "
        "contenders interleaved.",
        "",
        f"`amber`: the runtime file ({runtime.stat().st_size / 1e6:.1f} MB, stdlib in the appended archive). "
        "`floor`: the same interpreter ELF with the same stdlib as files on disk (`.py` + `__pycache__`). "
        "`zipimport`: the same ELF with the stdlib in a plain zip on `sys.path` (stock zip directory parsing). "
        "`pyenv`: the machine's gcc-built CPythons (shared libpython).",
        "",
        "### Start-up (ms; ratio to floor)",
        "",
        "| command | " + " | ".join(contenders) + " |",
        "|---|" + "---|" * len(contenders),
    ]
    for case, result in startup.items():
        base = result["floor"]
        cells = [f"{result[n] * 1000:.1f} ({result[n] / base:.2f}×)" for n in contenders]
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |")
    lines += ["", "### CPU workloads (s; ratio to pyenv 3.13)", "",
              "| workload | " + " | ".join(cpu_contenders) + " |", "|---|" + "---|" * len(cpu_contenders)]
    for case, result in cpu.items():
        base = result.get("pyenv 3.13") or result["floor"]
        cells = [f"{result[n]:.3f} ({result[n] / base:.2f}×)" for n in cpu_contenders]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "Workloads are in `bench/workloads/`; start-up cases run with an empty environment.",
              "", "Command: `.venv/bin/python bench/runtime.py " + " ".join(sys.argv[1:]) + "`", ""]
    write_section("runtime", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
