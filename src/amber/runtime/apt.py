"""Fetching from Debian's archive with a private apt state: upstream tarballs as source packages, and binary
packages of a suite this machine does not use (trixie's musl for the musl test roots).

Machines usually have only binary (`deb`) entries of their own release configured. We derive
entries from them at run time (same URIs and keyring; `deb-src`, or `deb` of another suite) and
run apt-get with its lists and caches in a temporary directory, so the machine's own apt state is
never touched. A tarball's integrity comes from the recipe's sha256, checked by the caller.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amber.errors import AmberError
from amber.progress import BuildLog

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class AptSource:
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    signed_by: str


def _parse_deb822(text: str) -> list[dict[str, str]]:
    stanzas, current, last = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
        elif line.startswith("#"):
            continue
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def configured_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """The machine's binary package sources, from deb822 files and sources.list."""
    found = []
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for stanza in _parse_deb822(path.read_text(errors="replace")):
            if "deb" in stanza.get("types", "").split() and stanza.get("enabled", "yes") != "no":
                found.append(AptSource(tuple(stanza.get("uris", "").split()),
                                       tuple(stanza.get("suites", "").split()),
                                       stanza.get("signed-by", "")))
    lists = [apt_dir / "sources.list"] + (sorted(parts.glob("*.list")) if parts.is_dir() else [])
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            words = words[1:]
            signed_by = ""
            if words and words[0].startswith("["):
                options = []
                while words:
                    options.append(words.pop(0))
                    if options[-1].endswith("]"):
                        break
                for opt in " ".join(options).strip("[]").split():
                    if opt.startswith("signed-by="):
                        signed_by = opt.split("=", 1)[1]
            if len(words) >= 2:
                found.append(AptSource((words[0],), (words[1],), signed_by))
    return found


def derive_deb_src(sources: list[AptSource], suites: tuple[str, ...], types: str = "deb-src") -> str:
    """A deb822 `deb-src` file (or of other `types`: `deb`) for `suites`, reusing the URIs of matching entries.

    Security suites (`*-security`) come from the URIs configured for a security
    suite; every other suite from the URIs configured for the main archive.
    """
    def is_security(suite: str) -> bool:
        return suite.endswith("-security") or "/updates" in suite

    stanzas = []
    for want_security in (False, True):
        wanted = [s for s in suites if is_security(s) == want_security]
        if not wanted:
            continue
        for src in sources:
            if any(is_security(s) == want_security for s in src.suites) and src.uris:
                lines = [f"Types: {types}", f"URIs: {' '.join(src.uris)}", f"Suites: {' '.join(wanted)}",
                         "Components: main"]
                if src.signed_by:
                    lines.append(f"Signed-By: {src.signed_by}")
                stanzas.append("\n".join(lines))
                break
    if not stanzas:
        raise AmberError("no Debian package source is configured on this machine to derive a deb-src entry from")
    return "\n\n".join(stanzas) + "\n"


class PrivateApt:
    """apt-get and apt-cache with their sources, lists and caches under `workdir` (downloads go to
    `workdir/dl`): `entries` (a deb822 file) are all they know of, and `update` has fetched their lists."""

    def __init__(self, workdir: Path, entries: str, log: BuildLog | None = None):
        self.apt_get = shutil.which("apt-get")
        if not self.apt_get:
            raise AmberError("apt-get is not available to fetch Debian packages")
        self.workdir, self.log = workdir, log
        parts, lists, cache = workdir / "sources.list.d", workdir / "lists", workdir / "cache"
        for d in (parts, lists / "partial", cache / "archives" / "partial", self.downloads):
            d.mkdir(parents=True, exist_ok=True)
        (parts / "amber.sources").write_text(entries)
        self.options = [
            "-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={cache}",
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
            "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=2", "-q",
        ]
        self.check(self.run(self.apt_get, "update"), "apt-get update")

    @property
    def downloads(self) -> Path:
        return self.workdir / "dl"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([tool, *self.options, *args], cwd=self.downloads, capture_output=True, text=True)
        if self.log:
            self.log.write(f"$ {Path(tool).name} {' '.join(args)}\n{proc.stdout[-4000:]}{proc.stderr}")
        return proc

    @staticmethod
    def check(proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise AmberError(f"{what} failed: {reason}")


def download_debs(packages: list[str], suite: str, workdir: Path) -> list[Path]:
    """`apt-get download packages` (name:arch) from Debian's `suite`, which this machine need not use; the
    .deb files, in `workdir/dl`."""
    private = PrivateApt(workdir, derive_deb_src(configured_sources(), (suite,), types="deb"))
    private.check(private.run(private.apt_get, "download", *packages), f"apt-get download {' '.join(packages)}")
    return sorted(private.downloads.glob("*.deb"))


def download_orig(spec: str, suites: tuple[str, ...], filename: str, workdir: Path,
                  log: BuildLog | None = None) -> Path:
    """Run `apt-get source --download-only --tar-only spec` in `workdir`; return the orig tarball."""
    private = PrivateApt(workdir, derive_deb_src(configured_sources(), suites), log)
    apt = private.run
    # The pinned Debian revision first. Debian replaces revisions (security
    # updates, +debNuM) while the upstream .orig tarball stays the very same
    # file, so another revision shipping that file is just as good; the caller
    # checks its sha256 either way.
    package, _, pinned = spec.partition("=")
    versions = [pinned] + [v for v in _versions_shipping(apt, package, filename) if v != pinned]
    for version in versions:
        # --tar-only: the .orig tarball is all we take, and the archive may have dropped a revision's
        # .dsc and Debian diff while still serving its .orig (libedit 3.1-20250104-1 did).
        proc = apt(private.apt_get, "source", "--download-only", "--tar-only", f"{package}={version}")
        got = private.downloads / filename
        if proc.returncode == 0 and got.is_file():
            return got
    private.check(proc, f"apt-get source {spec}")
    raise AmberError(f"apt-get source {spec} gave no {filename}")


def _versions_shipping(apt, package: str, filename: str) -> list[str]:
    """Versions of source package `package` whose file list contains `filename`."""
    apt_cache = shutil.which("apt-cache")
    if not apt_cache:
        return []
    found = []
    for stanza in _parse_deb822(apt(apt_cache, "showsrc", package).stdout):
        files = stanza.get("files", "") + stanza.get("checksums-sha256", "")
        if stanza.get("package") == package and filename in files and stanza.get("version"):
            found.append(stanza["version"])
    return found
