"""bench/peers.py writes only its own section of docs/benchmarks.md, and its tables from a results dict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import their shared module as `common`
import common  # noqa: E402


def load_peers():
    spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "bench" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


peers = load_peers()


def test_section_appended_when_markers_absent():
    doc = "# Benchmarks\n\nruntime tables\n"
    out = common.replace_section(doc, "peers", f"{peers.BEGIN}\nnew\n{peers.END}\n")
    assert out.startswith(doc.rstrip("\n"))
    assert out.endswith(f"{peers.BEGIN}\nnew\n{peers.END}\n")


def test_only_the_peers_section_is_replaced():
    other = "<!-- compression:begin -->\nzstd figures\n<!-- compression:end -->"
    doc = f"# Benchmarks\n\nruntime\n\n{peers.BEGIN}\nold\n{peers.END}\n\n{other}\n"
    out = common.replace_section(doc, "peers", f"{peers.BEGIN}\nnew\n{peers.END}\n")
    assert "old" not in out and "new" in out
    assert out.startswith("# Benchmarks\n\nruntime\n\n")
    assert out.endswith(f"\n\n{other}\n")
    assert common.replace_section(out, "peers", f"{peers.BEGIN}\nnew\n{peers.END}\n") == out


def test_report_ratios_failures_and_targets():
    results = {
        "meta": {"runs": 10, "budget": [30, 15], "date": "d", "wall_s": 60, "setup_s": 1, "build_s": 2, "measure_s": 3,
                 "machine": "m", "command": "bench/peers.py", "apps": ["hello", "flask"],
                 "tools": {"amber": {"label": "amber", "python": "a"},
                           "pyinstaller": {"label": "PyInstaller", "python": "b"},
                           "venv": {"label": "venv", "python": "c"}}},
        "apps": {"hello": {"summary": "s", "pins": []}, "flask": {"summary": "s", "pins": ["flask==1"]}},
        "builds": {"amber": {"hello": {"cold": 3, "warm": 2, "size_mb": 30}, "flask": {"warm": 4, "size_mb": 40}},
                   "pyinstaller": {"hello": {"warm": 9, "size_mb": 7},
                                   "flask": {"error": "jinja2.exceptions.TemplateNotFound: index.html (exit 1)"}},
                   "venv": {"hello": {"warm": 6, "size_mb": 11}, "flask": {"warm": 8, "size_mb": 20}}},
        "warm": {"hello": {"amber": {"ms": 10.0, "rss_mb": 11, "n": 10}, "pyinstaller": {"ms": 150.0, "rss_mb": 14,
                                                                                         "n": 4},
                           "venv": {"ms": 20.0, "rss_mb": 10, "n": 10}, "floor": {"ms": 9.0, "rss_mb": 9, "n": 10}},
                 "flask": {"amber": {"ms": 210.0, "rss_mb": 30, "n": 10}, "venv": {"ms": 200.0, "rss_mb": 28,
                                                                                   "n": 10}}},
        "first": {},
    }
    text = peers.Report(results).markdown("peers.png")
    assert "| hello | 10.0 | 150.0 (15.00×) (n=4) | 20.0 (2.00×) |" in text
    assert "| flask | 210.0 | fails [1] | 200.0 (0.95×) |" in text
    assert "1. PyInstaller, flask: jinja2.exceptions.TemplateNotFound: index.html (exit 1)" in text
    assert "| amber hello ≤ 1.15× the floor | 10.0 / 9.0 ms = 1.11× | ✓ |" in text
    assert "| flask | 1.050 ✗ missed |" in text
    assert text.startswith(peers.BEGIN) and text.rstrip().endswith(peers.END)
