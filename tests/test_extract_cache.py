"""The extraction cache (boot/cache.py) under hostile conditions, and the rule that feeds it.

boot/cache.py uses the standard library only, so these tests drive it directly with
the host's Python: real directories, real ownership, a real full tmpfs, real processes.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amber.boot import cache
from amber.builder import extract_rule, native_scan
from amber.errors import AmberError
from helpers.mounts import tmpfs

FILES = {"pkg/__init__.py": ("pkg/__init__.py", False), "pkg/data/cert.pem": ("pkg/data/cert.pem", False),
         "pkg/bin/tool": ("pkg/bin/tool", True)}
CONTENT = {"pkg/__init__.py": b"X = 1\n", "pkg/data/cert.pem": b"-----BEGIN CERTIFICATE-----\n",
           "pkg/bin/tool": b"#!/bin/sh\necho hi\n"}


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "amber-cache"
    monkeypatch.setenv("AMBER_CACHE", str(root))
    return root


def test_materialize_writes_once_and_reuses(cache_env: Path):
    entry = Path(cache.materialize("k1", FILES, CONTENT.__getitem__))
    assert entry == cache_env / "extract" / "k1"
    assert (entry / "pkg/data/cert.pem").read_bytes() == CONTENT["pkg/data/cert.pem"]
    assert os.access(entry / "pkg/bin/tool", os.X_OK) and not os.access(entry / "pkg/__init__.py", os.X_OK)
    assert (cache_env / "extract").stat().st_mode & 0o777 == 0o700
    before = (entry / cache.MARKER).stat().st_mtime_ns
    assert Path(cache.materialize("k1", FILES, lambda name: pytest.fail("must not read again"))) == entry
    assert (entry / cache.MARKER).stat().st_mtime_ns == before


def test_tampered_or_truncated_entries_are_rebuilt(cache_env: Path):
    entry = Path(cache.materialize("k2", FILES, CONTENT.__getitem__))
    target = entry / "pkg/__init__.py"
    target.chmod(0o600)
    target.write_bytes(b"import os; os.system('evil')\n")
    entry = Path(cache.materialize("k2", FILES, CONTENT.__getitem__))
    assert (entry / "pkg/__init__.py").read_bytes() == CONTENT["pkg/__init__.py"]
    (entry / cache.MARKER).unlink()  # an entry that was never completed
    entry = Path(cache.materialize("k2", FILES, CONTENT.__getitem__))
    assert (entry / cache.MARKER).is_file()
    assert not [p for p in (cache_env / "extract").iterdir() if p.name.startswith(".")]


def test_refuses_entries_it_does_not_own_or_others_can_write(cache_env: Path):
    extract = cache_env / "extract"
    cache.materialize("k3", FILES, CONTENT.__getitem__)
    (extract / "k3").chmod(0o777)
    with pytest.raises(cache.CacheError, match="writable by others.*AMBER_CACHE"):
        cache.materialize("k3", FILES, CONTENT.__getitem__)
    if os.geteuid() == 0:
        planted = extract / "k4"
        planted.mkdir(mode=0o700)
        os.chown(planted, 65534, 65534)
        with pytest.raises(cache.CacheError, match="owned by uid 65534"):
            cache.materialize("k4", FILES, CONTENT.__getitem__)


def test_refuses_symlinks_planted_for_the_root_or_an_entry(cache_env: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache_env.mkdir()
    (cache_env / "extract").symlink_to(elsewhere)
    with pytest.raises(cache.CacheError, match="symbolic link"):
        cache.materialize("k5", FILES, CONTENT.__getitem__)
    (cache_env / "extract").unlink()
    (cache_env / "extract").mkdir(mode=0o700)
    (cache_env / "extract" / "k5").symlink_to(elsewhere)
    with pytest.raises(cache.CacheError, match="symbolic link"):
        cache.materialize("k5", FILES, CONTENT.__getitem__)
    assert list(elsewhere.iterdir()) == []


def test_refuses_a_world_writable_parent(tmp_path: Path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could swap our directory out
    monkeypatch.setenv("AMBER_CACHE", str(shared / "mine"))
    with pytest.raises(cache.CacheError, match="writable by everyone"):
        cache.materialize("k6", FILES, CONTENT.__getitem__)
    shared.chmod(0o1777)  # sticky, like /tmp: fine
    assert Path(cache.materialize("k6", FILES, CONTENT.__getitem__)).is_dir()


def test_full_disk_leaves_nothing_partial(tmp_path: Path, monkeypatch):
    with tmpfs(tmp_path / "small", "size=256k") as small:
        monkeypatch.setenv("AMBER_CACHE", str(small))
        big = {"big.bin": ("big.bin", False)}
        with pytest.raises(cache.CacheError, match="No space left on device.*AMBER_CACHE"):
            cache.materialize("k7", big, lambda name: b"x" * (1 << 20))
        assert os.listdir(small / "extract") == []


def test_no_home_and_no_override_is_a_clear_error(monkeypatch):
    for name in ("AMBER_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    with pytest.raises(cache.CacheError, match="HOME is not set; set AMBER_CACHE"):
        cache.extract_root()


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("AMBER_CACHE", "~/c", "{home}/c"),
    ("AMBER_CACHE", "rel", "{cwd}/rel"),
    ("XDG_CACHE_HOME", "~/x", "{home}/x/amber"),
    (None, None, "{home}/.cache/amber"),
])
def test_binaries_and_amber_agree_on_the_cache(monkeypatch, tmp_path: Path, variable, value, expected):
    """One function for both sides: `amber cache clean` looks where the binaries write, `~` included."""
    from amber.paths import cache_root

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in ("AMBER_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    if variable:
        monkeypatch.setenv(variable, value)
    want = expected.format(home=home, cwd=tmp_path)
    assert cache.cache_root() == want == str(cache_root())
    assert cache.extract_root() == f"{want}/extract"


CONCURRENT = """
import sys
sys.path.insert(0, sys.argv[1])
import cache
print(cache.materialize("k8", {"a/b.txt": ("a/b.txt", False), "c.so": ("c.so", True)},
                        lambda name: name.encode() * 100000))
"""


def test_concurrent_first_uses_agree_on_one_entry(cache_env: Path):
    boot = str(Path(cache.__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, boot], stdout=subprocess.PIPE, text=True)
             for _ in range(32)]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert outputs == {str(cache_env / "extract" / "k8")}
    assert os.listdir(cache_env / "extract") == ["k8"]


def test_only_named_distributions_are_extracted(tmp_path: Path):
    """No rule guesses any more (the C file layer serves CA bundles and fonts from the archive): certifi
    and matplotlib's fonts stay in the archive unless the project names them."""
    for name in ("certifi/cacert.pem", "mpl/fonts/DejaVuSans.ttf", "mpl/ft2font.so", "m.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    dists = {"certifi": ["certifi/cacert.pem"], "mpl": ["mpl/fonts/DejaVuSans.ttf", "mpl/ft2font.so"], "m": ["m.py"]}
    files = {name: tmp_path / name for paths in dists.values() for name in paths}
    choose = functools.partial(extract_rule.choose, dists, files, keep_sources=True, cache_tag="cpython-313",
                               salt="s")
    assert choose(extract=[], no_extract=[]) == []
    assert [e.dist for e in choose(extract=["certifi", "mpl"], no_extract=["mpl"])] == ["certifi"]
    assert extract_rule.top_level_names(["six.py", "pkg/__init__.py", "pkg-1.0.dist-info/RECORD",
                                         "pkg.libs/libz.so", "fast.cpython-313-x86_64-linux-gnu.so"]) \
        == ("fast", "pkg", "six")


def test_rule_options_name_real_distributions(tmp_path: Path):
    (tmp_path / "m.py").write_text("")
    files = {"m.py": tmp_path / "m.py"}
    with pytest.raises(AmberError, match="extract: no bundled distribution is named 'nope'"):
        extract_rule.choose({"m": ["m.py"]}, files, keep_sources=True, cache_tag="cpython-313", salt="s",
                            extract=["nope"], no_extract=[])
    chosen = extract_rule.choose({"m": ["m.py"]}, files, keep_sources=True, cache_tag="cpython-313", salt="s",
                                 extract=["M"], no_extract=[])
    assert [(e.dist, e.top_level) for e in chosen] == [("m", ("m",))]
    assert [d for d, _, _ in chosen[0].files] == ["__pycache__/m.cpython-313.pyc", "m.py"]


def test_elf_scan_measures_glibc_and_finds_programs():
    libstdcxx = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not libstdcxx.exists():
        pytest.skip("needs the host's libstdc++")
    data = libstdcxx.read_bytes()
    assert native_scan.glibc_needed(data) >= (2, 17)
    assert not native_scan.is_program(data) and native_scan.is_program(Path("/bin/ls").read_bytes())
    libraries, missing, _ = native_scan.bundle_missing({"pkg/ext.so": data})
    assert [lib.soname for lib in libraries] == ["libgcc_s.so.1"] and missing == []


def test_cache_clean_removes_unused_entries_and_dead_leftovers(cache_env: Path):
    from amber.cache_admin import clean, info, parse_age

    old = Path(cache.materialize("old", FILES, CONTENT.__getitem__))
    fresh = Path(cache.materialize("fresh", FILES, CONTENT.__getitem__))
    month_ago = os.path.getmtime(old / cache.MARKER) - 31 * 86400
    os.utime(old / cache.MARKER, (month_ago, month_ago))
    leftover = cache_env / "extract" / ".tmp-dead-1-abcd"
    leftover.mkdir()
    os.utime(leftover, (month_ago, month_ago))
    assert {a.name: a.entries for a in info()}["extract"] == 2
    assert clean(parse_age("30d"))[0] == 2  # the old entry and the dead process's leftover
    assert sorted(p.name for p in (cache_env / "extract").iterdir()) == ["fresh"]
    # Using an entry whose last-use stamp is older than a day refreshes it.
    os.utime(fresh / cache.MARKER, (month_ago, month_ago))
    cache.materialize("fresh", FILES, CONTENT.__getitem__)
    assert clean(parse_age("30d"))[0] == 0
    assert clean()[0] == 1 and not any((cache_env / "extract").iterdir())


def test_the_code_compiled_from_sources_is_one_entry_whose_use_is_stamped_daily(cache_env: Path, monkeypatch):
    from amber.cache_admin import clean, parse_age

    monkeypatch.setattr(cache, "_bytecode_directory", [])
    directory = Path(cache._make_bytecode_directory(b"\xf3\r\r\n"))
    assert directory == cache_env / "extract" / "bytecode" / "f30d0d0a"
    assert directory.stat().st_mode & 0o777 == directory.parent.stat().st_mode & 0o777 == 0o700
    month_ago = directory.parent.stat().st_mtime - 31 * 86400
    os.utime(directory.parent, (month_ago, month_ago))
    monkeypatch.setattr(cache, "_bytecode_directory", [])  # another process using it
    cache._make_bytecode_directory(b"\xf3\r\r\n")
    assert clean(parse_age("30d"))[0] == 0  # used: kept
    os.utime(directory.parent, (month_ago, month_ago))
    assert clean(parse_age("30d"))[0] == 1 and not directory.parent.exists()


def test_cache_commands(cache_env: Path):
    cache.materialize("k9", FILES, CONTENT.__getitem__)
    env = dict(os.environ, AMBER_CACHE=str(cache_env))
    out = subprocess.run([sys.executable, "-m", "amber", "cache", "info"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("extract       1 entries")
    out = subprocess.run([sys.executable, "-m", "amber", "cache", "clean", "--older-than", "soon"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.startswith("amber: --older-than 'soon'")
    out = subprocess.run([sys.executable, "-m", "amber", "cache", "clean"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "removed 1 cache entries" in out.stderr
