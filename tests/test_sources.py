"""Source lookup: caches, sha256 verification, deb-src derivation, the real apt path."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from amber.errors import AmberError
from amber.runtime import apt, sources
from amber.runtime.recipe import load_recipe


def bzip2():
    return load_recipe().sources["bzip2"]


def test_source_cache_hit_is_verified(tmp_path: Path, monkeypatch):
    cache = tmp_path / "ro"
    cache.mkdir()
    monkeypatch.setenv("AMBER_SOURCES", f"{tmp_path / 'missing'}:{cache}")
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path / "cache"))
    src = bzip2()
    (cache / src.file).write_bytes(b"not the real tarball")
    with pytest.raises(AmberError, match=rf"sha256 mismatch for {cache / src.file}"):
        sources.fetch(src)


def test_shared_cache_files_match_the_recipe():
    dirs = sources.source_dirs()
    if not dirs:
        pytest.skip("AMBER_SOURCES is not set")
    for src in load_recipe().sources.values():
        for d in dirs:
            if (d / src.file).is_file():
                assert sources.verify(d / src.file, src) == d / src.file


DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb_src_is_derived_from_binary_entries(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian bookworm main\n"
    )
    configured = apt.configured_sources(tmp_path)
    assert len(configured) == 3
    text = apt.derive_deb_src(configured, ("trixie", "sid", "trixie-security"))
    stanzas = text.strip().split("\n\n")
    assert "Types: deb-src" in stanzas[0] and "URIs: http://mirror.example/debian\n" in stanzas[0] + "\n"
    assert "Suites: trixie sid" in stanzas[0]
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in stanzas[0]
    assert "URIs: http://mirror.example/debian-security" in stanzas[1] and "Suites: trixie-security" in stanzas[1]


def test_no_apt_source_configured(tmp_path: Path):
    with pytest.raises(AmberError, match="no Debian package source"):
        apt.derive_deb_src(apt.configured_sources(tmp_path), ("sid",))


@pytest.mark.skipif(not shutil.which("apt-get") or not Path("/etc/apt/sources.list.d").is_dir(),
                    reason="needs apt")
def test_real_fetch_through_debian_source_package(tmp_path: Path, monkeypatch):
    """The whole fallback path: no source cache, apt-get source, sha256 check."""
    monkeypatch.delenv("AMBER_SOURCES", raising=False)
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path))
    src = bzip2()
    path = sources.fetch(src)
    assert path == tmp_path / "sources" / src.file
    assert sources.sha256_of(path) == src.sha256
    assert not [p for p in (tmp_path / "sources").iterdir() if p.name.startswith(".")]


def test_failed_fetch_names_every_attempt(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("AMBER_SOURCES", raising=False)
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path))
    broken = replace(bzip2(), debian="bzip2=0.0-does-not-exist", file="bzip2_0.0.orig.tar.gz",
                     url="http://127.0.0.1:9/none.tar.gz")
    with pytest.raises(AmberError) as info:
        sources.fetch(broken)
    message = str(info.value)
    assert message.startswith(f"cannot fetch {broken.file}")
    assert "apt-get" in message and "127.0.0.1:9" in message


@pytest.mark.skipif(not shutil.which("apt-get") or not Path("/etc/apt/sources.list.d").is_dir(),
                    reason="needs apt")
def test_superseded_debian_revision_falls_back_to_the_same_orig(tmp_path: Path, monkeypatch):
    """Debian replaced xz-utils 5.8.1-1 by 5.8.1-1+deb13u1 with the same orig tarball."""
    monkeypatch.delenv("AMBER_SOURCES", raising=False)
    monkeypatch.setenv("AMBER_CACHE", str(tmp_path))
    src = replace(load_recipe().sources["xz"], debian="xz-utils=5.8.1-0-never-existed")
    path = sources.fetch(src)
    assert sources.sha256_of(path) == src.sha256
