"""pyproject.toml reading and entry point choice (no runtime needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amber.builder.project import BuildFlags, choose_entry, load_project, load_target, merge_options
from amber.builder.resolve import InstalledDist, check_portable, parse_platform
from amber.errors import AmberError


def project(tmp_path: Path, text: str):
    (tmp_path / "pyproject.toml").write_text(text)
    return load_project(tmp_path)


BASE = '[project]\nname = "My_App"\nversion = "1"\n'


@pytest.mark.parametrize("text, message", [
    ("[project\n", "is not valid TOML"),
    ("[tool.black]\nx = 1\n", "has no [project] table"),
    ("[project]\nversion = '1'\n", "has no name"),
    (BASE + "[project.scripts]\napp = 'not an entry'\n", "is not 'module:function'"),
    (BASE + "[tool.amber]\ncompress = \"max\"\n",
     "[tool.amber] compress must be true, false or a zstd level from 1 to 22"),
    (BASE + "[tool.amber]\ntrim = 1\n", "[tool.amber] trim must be true or false"),
    (BASE + "[tool.amber]\nkeep = \"json\"\n", "[tool.amber] keep must be a list of strings"),
    (BASE + "[tool.amber]\nentry = 3\n", "[tool.amber] entry must be a string"),
])
def test_malformed_pyproject(tmp_path: Path, text: str, message: str):
    with pytest.raises(AmberError, match=message.replace("[", r"\[").replace("]", r"\]")):
        project(tmp_path, text)


def test_missing_pyproject(tmp_path: Path):
    with pytest.raises(AmberError, match="no pyproject.toml"):
        load_project(tmp_path)
    with pytest.raises(AmberError, match="is not a directory"):
        load_project(tmp_path / "nope")


def test_build_target_is_a_directory_or_a_requirement(tmp_path: Path):
    """As pip reads its arguments: a local project needs a path; anything else is a requirement."""
    (tmp_path / "app").mkdir()
    project(tmp_path / "app", BASE)
    assert load_target("app", tmp_path).requirement is None
    assert load_target(str(tmp_path / "app"), Path("/")).name == "My_App"
    wanted = load_target("httpie==3.2.4", tmp_path)
    assert (wanted.name, wanted.requirement, wanted.root) == ("httpie", "httpie==3.2.4", tmp_path)
    assert load_target("black[d]>=24", tmp_path).requirement == "black[d]>=24"
    with pytest.raises(AmberError, match="is not a directory"):
        load_target("./httpie", tmp_path)
    with pytest.raises(AmberError, match="is not a directory"):
        load_target("sub/dir", tmp_path)
    with pytest.raises(AmberError, match="'httpie=3' is neither a project directory nor a requirement"):
        load_target("httpie=3", tmp_path)


def test_requirement_entry_choice(tmp_path: Path):
    wanted = load_target("httpie==3.2.4", tmp_path)
    scripts = {"http": "httpie.__main__:main", "https": "httpie.__main__:main", "httpie": "httpie.manager:main"}
    available = {**scripts, "pygmentize": "pygments.cmdline:main"}
    assert choose_entry(wanted, scripts, None, available) == "httpie"  # named like the distribution
    assert choose_entry(wanted, scripts, "pygmentize", available) == "pygmentize"  # another distribution's
    with pytest.raises(AmberError, match="unknown entry point 'nope': the requirement's scripts are http, httpie, "
                                         "https, pygmentize"):
        choose_entry(wanted, scripts, "nope", available)
    with pytest.raises(AmberError, match="has several scripts \\(a, b\\) and none is named like the distribution"):
        choose_entry(wanted, {"a": "m:a", "b": "m:b"}, None, available)
    with pytest.raises(AmberError, match="httpie has no console scripts: give --entry NAME"):
        choose_entry(wanted, {}, None, {"pygmentize": "pygments.cmdline:main"})


def test_command_line_wins_over_tool_amber(tmp_path: Path):
    p = project(tmp_path, BASE + '[tool.amber]\nentry = "a"\nplatform = "manylinux_2_17"\nsources = false\n')
    options = merge_options(p, BuildFlags(entry="b", output="out/x"))
    assert (options.entry, options.platform, options.sources, options.output) == ("b", "manylinux_2_17", False,
                                                                                  Path("out/x"))


def test_entry_choice(tmp_path: Path):
    p = project(tmp_path, BASE)
    scripts = {"my-app": "m:main", "other": "m:other"}
    assert choose_entry(p, scripts, None) == "my-app"  # named like the project (normalized)
    assert choose_entry(p, {"only": "m:f"}, None) == "only"
    assert choose_entry(p, scripts, "other") == "other"
    assert choose_entry(p, scripts, "pkg.mod:func") == "pkg.mod:func"
    with pytest.raises(AmberError, match="unknown entry point 'nope'"):
        choose_entry(p, scripts, "nope")
    with pytest.raises(AmberError, match="declares no"):
        choose_entry(p, {}, None)
    with pytest.raises(AmberError, match="several scripts"):
        choose_entry(p, {"a": "m:a", "b": "m:b"}, None)


def test_platform_tags():
    from amber import targets

    assert parse_platform("manylinux_2_28") == (2, 28)
    assert parse_platform("manylinux2014") == (2, 17)
    assert parse_platform("musllinux_1_2", targets.X86_64_MUSL) == (1, 2)
    with pytest.raises(AmberError, match="unsupported --platform 'linux_x86_64'"):
        parse_platform("linux_x86_64")
    with pytest.raises(AmberError, match="^--platform musllinux_1_2 is for musl systems, and x86_64-linux-gnu uses "
                                         "glibc: use manylinux_2_28$"):
        parse_platform("musllinux_1_2")
    with pytest.raises(AmberError, match="^--platform manylinux_2_17 is for glibc systems, and aarch64-linux-musl "
                                         "uses musl: use musllinux_1_2$"):
        parse_platform("manylinux_2_17", targets.AARCH64_MUSL)
    with pytest.raises(AmberError, match="musl targets take musllinux_1_2 wheels"):
        parse_platform("musllinux_1_1", targets.X86_64_MUSL)


def test_the_platform_follows_the_targets_c_library(tmp_path: Path):
    """A project's manylinux platform is its glibc builds' baseline: a musl build of it takes musllinux_1_2, while
    a --platform flag of the other family is refused before anything is resolved."""
    from amber import targets

    app = project(tmp_path, BASE + '[tool.amber]\nplatform = "manylinux_2_17"\n')
    assert merge_options(app, BuildFlags()).platform == "manylinux_2_17"
    musl = merge_options(app, BuildFlags(target="x86_64-linux-musl"))
    assert (musl.target, musl.platform) == (targets.X86_64_MUSL, "musllinux_1_2")
    with pytest.raises(AmberError, match="^--platform manylinux_2_28 is for glibc systems"):
        merge_options(app, BuildFlags(target="x86_64-linux-musl", platform="manylinux_2_28"))


def test_musllinux_wheels():
    """musllinux tags name musl's version and the CPU; a musl target refuses a manylinux wheel by name and a glibc
    target a musllinux one."""
    from amber import targets

    orjson = InstalledDist("orjson", "3", ("cp313-cp313-musllinux_1_2_x86_64",), "orjson")
    assert (orjson.libc_floor("musllinux"), orjson.glibc, orjson.arches, orjson.policies) == (
        (1, 2), None, {"x86_64"}, {"musllinux"})
    numpy = InstalledDist("numpy", "2", ("cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64",), "numpy")
    check_portable([orjson], targets.X86_64_MUSL)
    with pytest.raises(AmberError, match=r"^numpy 2 \(manylinux\): the wheel is not for musl systems "
                                         r"\(x86_64-linux-musl\); pin a version that ships musllinux wheels$"):
        check_portable([orjson, numpy], targets.X86_64_MUSL)
    with pytest.raises(AmberError, match=r"^orjson 3 \(musllinux\): the wheel is not for glibc systems"):
        check_portable([orjson, numpy], targets.X86_64_GNU)
    local = InstalledDist("cext", "0.1", ("cp313-cp313-linux_x86_64",), "cext")
    with pytest.raises(AmberError, match="^cext 0.1: no musllinux wheel for x86_64-linux-musl exists"):
        check_portable([local], targets.X86_64_MUSL)


# uv 0.13.9's report when a distribution has wheels for glibc only (the line breaks are its terminal's).
UV_NO_MUSLLINUX_WHEEL = """error: No solution found when resolving dependencies
  cause: Because onnxruntime==1.23.2 has no wheels with a matching platform tag (e.g., `musllinux_1_2_x86_64`) and
 you require onnxruntime==1.23.2, we can conclude that your requirements are unsatisfiable.

hint: Wheels are available for `onnxruntime` (v1.23.2) on the following platforms: `manylinux_2_27_aarch64`,
`manylinux_2_27_x86_64`, `macosx_13_0_arm64`, `win_amd64`
"""


def test_no_wheel_for_the_targets_c_library_is_one_line():
    from amber import targets
    from amber.builder.resolve import foreign_wheel_failure

    assert foreign_wheel_failure(UV_NO_MUSLLINUX_WHEEL, targets.X86_64_MUSL) == (
        "onnxruntime: no wheel for x86_64-linux-musl (musllinux_1_2_x86_64) exists (its Linux wheels: "
        "manylinux_2_27_aarch64, manylinux_2_27_x86_64); build for x86_64-linux-gnu, or pin a version that ships "
        "musllinux wheels for x86_64")
    assert foreign_wheel_failure("error: something else", targets.X86_64_MUSL) is None
    # an sdist uv downloads and builds here (a dependency of a dependency), for another CPU
    assert foreign_wheel_failure(UV_BUILT_FOR_THIS_MACHINE, targets.AARCH64_MUSL) == (
        "zope-interface: no wheel for aarch64-linux-musl exists, and building it from source here gave "
        "zope_interface-8.7-cp313-cp313-linux_x86_64.whl (code for this machine); pin a version that ships aarch64 "
        "musllinux wheels")


def test_an_sdist_that_does_not_build_for_another_target_is_one_line():
    """matplotlib 3.11.2 ships no aarch64 musllinux wheel; its sdist's build fails here (it downloads FreeType)."""
    from amber import targets
    from amber.builder.resolve import foreign_wheel_failure

    stderr = "error: Failed to build `matplotlib==3.11.2`\n  cause: The build backend returned an error\n  ...\n"
    assert foreign_wheel_failure(stderr, targets.AARCH64_MUSL) == (
        "matplotlib: no wheel for aarch64-linux-musl exists, and building it from source here failed; pin a version "
        "that ships musllinux wheels for aarch64")
    assert foreign_wheel_failure(stderr, targets.host()) is None  # for this machine, uv's own words say why


# uv 0.13.9's report when the wheel it built from a dependency's sdist is this machine's.
UV_BUILT_FOR_THIS_MACHINE = """error: Failed to download and build `zope-interface==8.7`
  Caused by: The built wheel `zope_interface-8.7-cp313-cp313-linux_x86_64.whl` is not compatible with the target
Python 3.13 on Linux aarch64. Consider using `--no-build` to disable building wheels.
hint: `zope-interface` (v8.7) was included because `compat-concurrency` (v1.0) depends on `zope-interface`
"""


def test_glibc_need_of_wheels():
    numpy = InstalledDist("numpy", "2", ("cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64",), "numpy")
    assert numpy.glibc == (2, 27)
    assert InstalledDist("x", "1", ("cp313-cp313-manylinux2014_x86_64",), "x").glibc == (2, 17)
    pure = InstalledDist("click", "8", ("py3-none-any",), "click")
    assert pure.glibc is None and pure.is_pure
    check_portable([numpy, pure])
    local = InstalledDist("cext", "0.1", ("cp313-cp313-linux_x86_64",), "cext")
    with pytest.raises(AmberError, match="cext 0.1: no manylinux wheel"):
        check_portable([numpy, local])


def test_wheel_tags_of_another_cpu():
    """aarch64 tags count as manylinux for an aarch64 target, and a wheel for another CPU is refused by name."""
    from amber import targets

    arm = InstalledDist("numpy", "2", ("cp313-cp313-manylinux_2_26_aarch64.manylinux_2_28_aarch64",), "numpy")
    assert (arm.glibc, arm.arches) == ((2, 26), {"aarch64"})
    check_portable([arm], targets.AARCH64_GNU)
    x86 = InstalledDist("orjson", "3", ("cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64",), "orjson")
    with pytest.raises(AmberError, match=r"orjson 3 \(x86_64\): the wheel is for another CPU than aarch64-linux-gnu"):
        check_portable([arm, x86], targets.AARCH64_GNU)
    with pytest.raises(AmberError, match=r"numpy 2 \(aarch64\): the wheel is for another CPU than x86_64-linux-gnu"):
        check_portable([arm, x86], targets.X86_64_GNU)


def test_target_option_and_its_errors(tmp_path: Path):
    from amber import targets
    from amber.builder.project import BuildFlags, load_project, merge_options
    from amber.errors import RuntimeMissing

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\n[tool.amber]\ntarget = "aarch64-linux-gnu"\n')
    project = load_project(tmp_path)
    assert merge_options(project, BuildFlags()).target is targets.AARCH64_GNU
    assert merge_options(project, BuildFlags(target="x86_64-linux-gnu")).target is targets.X86_64_GNU
    assert merge_options(load_project(tmp_path), BuildFlags()).target.arch == "aarch64"
    with pytest.raises(AmberError, match=r"^--target: unknown target 'arm64' \(known: x86_64-linux-gnu, aarch64"):
        merge_options(project, BuildFlags(target="arm64"))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\n[tool.amber]\ntarget = "riscv64"\n')
    with pytest.raises(AmberError, match=r"pyproject.toml: \[tool.amber\] target: unknown target 'riscv64'"):
        merge_options(load_project(tmp_path), BuildFlags())
    assert str(RuntimeMissing("3.13", "3.13.15", targets.AARCH64_GNU)) == (
        "no amber runtime for Python 3.13.15 on aarch64-linux-gnu is built yet: run "
        "'amber runtime build --python 3.13 --target aarch64-linux-gnu' first (about 20 minutes, once)")
