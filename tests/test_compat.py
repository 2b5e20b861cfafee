"""The compatibility suite (issue #6) under pytest: popular packages work in a Python-less chroot.

Each group of tests/compat/ is built with `amber build` and run in a root holding only glibc's files,
/proc and a noexec /tmp; every package's check must pass at the version the fixture pins, and the
glibc baseline the build reports must be the newest one any ELF file inside really requires (the
bundled system-library fallbacks aside). A representative third (web, data, network: servers, the
scientific stack with vendored BLAS and fonts, TLS bundles and botocore's data) runs in every test run;
`AMBER_COMPAT=all` runs all nine groups. `tests/compat/run.py` runs the same code and writes
docs/compat.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compat import run as compat

pytestmark = pytest.mark.compat
FULL = os.environ.get("AMBER_COMPAT") == "all"
DOC = Path(__file__).parent.parent / "docs" / "compat.md"


def _group_params():
    for group in compat.GROUPS:
        chosen = FULL or group in compat.CI_GROUPS
        yield pytest.param(group, marks=() if chosen else pytest.mark.skip(reason="AMBER_COMPAT=all runs it"))


@pytest.mark.runtime
@pytest.mark.root
@pytest.mark.parametrize("group", list(_group_params()))
def test_group_runs_in_an_empty_chroot(group: str, runtime: Path, tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("the chroot needs root")
    check_group(group, compat.run_group(group, tmp_path, startup=False, log=lambda _message: None))


def _aarch64_params():
    for group in compat.GROUPS:
        chosen = FULL or group in AARCH64_CI_GROUPS
        yield pytest.param(group, marks=() if chosen else pytest.mark.skip(reason="AMBER_COMPAT=all runs it"))


# Under emulation in every test run: the group with the most native code of every kind (vendored BLAS,
# C++, fonts read by FreeType, Arrow); all nine with AMBER_COMPAT=all (1.9 min here).
AARCH64_CI_GROUPS = ("data",)


@pytest.mark.runtime
@pytest.mark.root
@pytest.mark.parametrize("group", list(_aarch64_params()))
def test_group_built_for_aarch64_runs_in_an_empty_aarch64_root(group: str, runtime: Path, tmp_path: Path, emulated):
    """The same group built with --target aarch64-linux-gnu (aarch64 wheels) and run under qemu in a root holding
    Debian's arm64 C library and nothing else."""
    from amber import targets
    from amber.runtime.build import build_runtime

    build_runtime(quiet=True, target=targets.AARCH64_GNU)
    check_group(group, compat.run_group(group, tmp_path, startup=False, log=lambda _message: None,
                                        target=targets.AARCH64_GNU))


def check_group(group: str, result: compat.GroupResult) -> None:
    """Every package's check passed at the version the fixture pins, and the reported glibc is the measured one."""
    report = f"{result.stdout}\n{result.stderr[-6000:]}"
    assert result.returncode == 0, report
    pins = compat.pinned_versions(group)
    assert [(p.dist, p.version, p.ok) for p in result.packages] == [
        (dist, pins[dist], True) for dist in compat.GROUPS[group]], report
    assert result.stdout.splitlines()[-1] == f"{group}: {len(compat.GROUPS[group])} packages OK"
    # The baseline amber reports is what the interpreter and the wheels' ELF files need, measured
    # here independently from the archive's members; the .amber/lib/ fallbacks are not part of it.
    assert result.libc_reported == result.libc_measured, (result.libc_reported, result.system_libraries)
    assert result.ok


def test_fixtures_pin_every_checked_package():
    """Each group checks what it pins, and the suite covers at least the 35 distributions issue #6 asks for."""
    checked = [dist for dists in compat.GROUPS.values() for dist in dists]
    assert len(set(checked)) == len(checked) >= 35
    for group, dists in compat.GROUPS.items():
        pins = compat.pinned_versions(group)
        assert set(dists) <= set(pins), (group, set(dists) - set(pins))
        source = (compat.HERE / group / "src" / f"compat_{group}" / "__init__.py").read_text()
        registered = re.findall(r'^@check\("([^"]+)"', source, re.MULTILINE)
        assert registered == list(dists), (group, registered)


def test_docs_table_matches_the_fixtures():
    """docs/compat.md is the runner's output for the pinned versions: a pin bumped without rerunning
    the suite shows up here. Each other target's section (run.py --target) adds up to its headline, and on
    aarch64-linux-gnu every group passes."""
    text = DOC.read_text()
    sections = dict(re.findall(r"<!-- cross_(\w+): begin .*?-->\n(.*?)<!-- cross_\1: end -->", text, re.DOTALL))
    rows = {}
    for line in re.sub(r"<!-- cross_(\w+): begin .*?<!-- cross_\1: end -->", "", text, flags=re.DOTALL).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] in compat.GROUPS and cells[1] in compat.GROUPS[cells[0]]:
            rows[(cells[0], cells[1])] = (cells[2], cells[3])  # group, package, version, result, ...
    expected = {(group, dist): (compat.pinned_versions(group)[dist], "pass")
                for group, dists in compat.GROUPS.items() for dist in dists}
    assert rows == expected
    assert {"aarch64_linux_gnu", "x86_64_linux_musl"} <= set(sections)
    for name, section in sections.items():
        counts = {}
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 7 and cells[0] in compat.GROUPS:  # group, passed/checked, build, ...
                counts[cells[0]] = tuple(int(n) for n in cells[1].split("/"))
        assert set(counts) == set(compat.GROUPS), name
        assert all(total == len(compat.GROUPS[group]) for group, (_, total) in counts.items()), name
        passed = sum(ok for ok, _ in counts.values())
        assert f"**{passed}/{sum(len(d) for d in compat.GROUPS.values())} packages pass**" in section, name
        if name == "aarch64_linux_gnu":
            assert all(ok == total for ok, total in counts.values())


def test_report_lines_are_parsed_with_their_result():
    out = "numpy==2.5.5: matmul OK\npandas==3.1.1: FAIL AssertionError: x OK\nnoise\ndata: 1 of 2 failed: pandas\n"
    parsed = compat.parse_report("data", out)
    assert [(p.dist, p.version, p.ok, p.detail) for p in parsed] == [
        ("numpy", "2.5.5", True, "matmul"), ("pandas", "3.1.1", False, "AssertionError: x OK")]
