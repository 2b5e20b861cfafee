"""Start-up of apps with native code: amber binary vs the same app in a venv on the same runtime.

    .venv/bin/python bench/native.py [--runs 20]

Two sample apps are built with `amber build` and installed with pip into an `amber venv`
(the very same interpreter, so the difference is amber's loading, nothing else):
  numpy      `import numpy` + a small matmul: 20+ extension modules and OpenBLAS from memory
  extract    certifi + matplotlib (Agg PNG with text): the distributions the rule extracts
Warm start-up: medians of interleaved runs (amber, venv, amber, venv ...). First run: the
extraction case with an empty AMBER_CACHE each time (each run pays the extraction), against
the warm cache. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AMBER = [sys.executable, "-m", "amber"]
APPS = {
    "numpy": ("numpy==2.5.5", "import numpy as np\n"
              "def main():\n    a = np.arange(12.0).reshape(3, 4)\n    print((a @ a.T).sum())\n"),
    "extract": ("matplotlib==3.11.2\", \"certifi==2026.10.19.post1",
                "import io, ssl\nimport certifi\nimport matplotlib\nmatplotlib.use('Agg')\n"
                "import matplotlib.pyplot as plt\n"
                "def main():\n    ssl.create_default_context(cafile=certifi.where())\n"
                "    fig, ax = plt.subplots()\n    ax.set_title('amber')\n"
                "    fig.savefig(io.BytesIO(), format='png')\n    print('ok')\n"),
}


def make_project(root: Path, name: str, requirement: str, source: str) -> Path:
    project = root / f"bench-{name}"
    (project / "src" / f"bench_{name}").mkdir(parents=True)
    (project / "src" / f"bench_{name}" / "__init__.py").write_text(source)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "bench-{name}"\nversion = "1.0"\ndependencies = ["{requirement}"]\n'
        f'[project.scripts]\nbench-{name} = "bench_{name}:main"\n')
    return project


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-native-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "venv"
        subprocess.run([*AMBER, "venv", venv], check=True, capture_output=True)
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "LC_ALL": "C.UTF-8",
               "MPLCONFIGDIR": str(tmp / "mpl"), "AMBER_CACHE": str(tmp / "cache")}
        rows = []
        for name, (requirement, source) in APPS.items():
            project = make_project(tmp, name, requirement, source)
            subprocess.run([*AMBER, "build", project], check=True, capture_output=True)
            subprocess.run([venv / "bin" / "pip", "install", "-q", project], check=True, capture_output=True)
            binary, script = project / "dist" / f"bench-{name}", venv / "bin" / f"bench-{name}"
            for _ in range(3):  # warm-up: page cache, matplotlib's font list, the extraction cache
                timed([binary], env), timed([script], env)
            amber, plain = [], []
            for _ in range(args.runs):
                amber.append(timed([binary], env))
                plain.append(timed([script], env))
            a, v = statistics.median(amber), statistics.median(plain)
            rows.append((name, "warm start", a, v))
            if name == "extract":
                first = []
                for _ in range(max(5, args.runs // 4)):
                    shutil.rmtree(tmp / "cache", ignore_errors=True)
                    first.append(timed([binary], env))
                rows.append((name, "first run (empty cache)", statistics.median(first), v))
        print(f"Machine: {os.cpu_count()} cores; medians of {args.runs} interleaved runs\n")
        print("| app | case | amber | venv (same runtime) | ratio |\n|---|---|---:|---:|---:|")
        for name, case, a, v in rows:
            print(f"| {name} | {case} | {a * 1000:.1f} ms | {v * 1000:.1f} ms | {a / v:.2f}× |")


if __name__ == "__main__":
    main()
