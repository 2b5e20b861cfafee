"""Fetching upstream tarballs as Debian source packages, with a private apt state.

Machines usually have only binary (`deb`) entries configured. We derive
`deb-src` entries from them at run time (same URIs and keyring, the suites the
recipe asks for) and run apt-get with its lists and caches in a temporary
directory, so the machine's own apt state is never touched. The tarball's
integrity comes from the recipe's sha256, checked by the caller.
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


def derive_deb_src(sources: list[AptSource], suites: tuple[str, ...]) -> str:
    """A deb822 `deb-src` file for `suites`, reusing the URIs of matching entries.

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
                lines = ["Types: deb-src", f"URIs: {' '.join(src.uris)}", f"Suites: {' '.join(wanted)}",
                         "Components: main"]
                if src.signed_by:
                    lines.append(f"Signed-By: {src.signed_by}")
                stanzas.append("\n".join(lines))
                break
    if not stanzas:
        raise AmberError("no Debian package source is configured on this machine to derive a deb-src entry from")
    return "\n\n".join(stanzas) + "\n"


def download_orig(spec: str, suites: tuple[str, ...], filename: str, workdir: Path,
                  log: BuildLog | None = None) -> Path:
    """Run `apt-get source --download-only --tar-only spec` in `workdir`; return the orig tarball."""
    apt_get = shutil.which("apt-get")
    if not apt_get:
        raise AmberError("apt-get is not available to fetch Debian source packages")
    parts = workdir / "sources.list.d"
    lists = workdir / "lists"
    cache = workdir / "cache"
    for d in (parts, lists / "partial", cache / "archives" / "partial", workdir / "dl"):
        d.mkdir(parents=True, exist_ok=True)
    (parts / "amber-src.sources").write_text(derive_deb_src(configured_sources(), suites))
    options = [
        "-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
        "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={cache}",
        "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
        "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=2", "-q",
    ]

    def apt(tool: str, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([tool, *options, *args], cwd=workdir / "dl", capture_output=True, text=True)
        if log:
            log.write(f"$ {Path(tool).name} {' '.join(args)}\n{proc.stdout[-4000:]}{proc.stderr}")
        return proc

    def failure(proc: subprocess.CompletedProcess, what: str) -> AmberError:
        reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return AmberError(f"{what} failed: {reason}")

    proc = apt(apt_get, "update")
    if proc.returncode != 0:
        raise failure(proc, "apt-get update")
    # The pinned Debian revision first. Debian replaces revisions (security
    # updates, +debNuM) while the upstream .orig tarball stays the very same
    # file, so another revision shipping that file is just as good; the caller
    # checks its sha256 either way.
    package, _, pinned = spec.partition("=")
    versions = [pinned] + [v for v in _versions_shipping(apt, package, filename) if v != pinned]
    for version in versions:
        # --tar-only: the .orig tarball is all we take, and the archive may have dropped a revision's
        # .dsc and Debian diff while still serving its .orig (libedit 3.1-20250104-1 did).
        proc = apt(apt_get, "source", "--download-only", "--tar-only", f"{package}={version}")
        got = workdir / "dl" / filename
        if proc.returncode == 0 and got.is_file():
            return got
    raise failure(proc, f"apt-get source {spec}")


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
