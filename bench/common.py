"""What the benchmark scripts share: interleaved timing and their sections of docs/benchmarks.md.

Each script owns one section of the document, between `<!-- NAME:begin -->` and
`<!-- NAME:end -->`, and rewrites only that section, so that one benchmark can be
rerun without discarding the figures of the others.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
QUIET_ENV = {"PATH": "/usr/bin:/bin"}


def time_command(argv: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> float:
    """Wall time of one run of `argv` (its output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], cwd=cwd, stdout=subprocess.DEVNULL, check=True,
                   env=dict(env if env is not None else QUIET_ENV))
    return time.perf_counter() - start


def interleaved(commands: Mapping[str, Sequence[str]], runs: int, cwd: Path | None = None, warmup: int = 2,
                env: Mapping[str, str] | None = None) -> dict[str, float]:
    """Median wall time of each command, run in turns (A B C A B C ...) so that drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name, argv in commands.items():
            took = time_command(argv, cwd, env)
            if i >= warmup:
                samples[name].append(took)
    return {name: statistics.median(values) for name, values in samples.items()}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_section(document: str, name: str, block: str) -> str:
    """The document with its section `name` replaced by `block` (markers included), or `block` appended."""
    begin, end = markers(name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    block = block.rstrip("\n") + "\n"
    text, found = pattern.subn(lambda _m: block, document, count=1)
    return text if found else document.rstrip("\n") + "\n\n" + block


def publish(name: str, lines: list[str], argv: Sequence[str]) -> None:
    """End a benchmark: the command that made the figures under them, the section rewritten, the text shown."""
    script = Path(argv[0]).name
    text = "\n".join([*lines, "", f"Command: `.venv/bin/python bench/{script} " + " ".join(argv[1:]) + "`"])
    write_section(name, text)
    print(text)


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace this script's section of the document (appended at the end the first time)."""
    begin, end = markers(name)
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    doc.write_text(replace_section(text, name, f"{begin}\n{body.strip()}\n{end}\n"))
