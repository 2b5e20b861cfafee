"""The installed tree (`<tmp>/site`, what `uv pip install --target` wrote): what of it the binary carries.

Installer noise is dropped and every RECORD made to list exactly the files kept (so that two builds
of the same inputs are byte-identical and importlib.metadata tells the truth); the files, the
programs wheels install as scripts, each distribution's files and console scripts are read from it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from amber.builder import native_scan, resolve
from amber.errors import AmberError

# Files an installed distribution carries that have no use inside a binary.
SKIP_TOP = {"bin", "__pycache__", ".lock"}
SKIP_SUFFIXES = (".pyc", ".pyo")
# Installer records that name this build's temporary paths or times: dropped, so
# that two builds of the same inputs are byte-identical.
INSTALLER_NOISE = ("direct_url.json", "uv_cache.json")


def normalize_site(site: Path) -> None:
    """Drop installer noise and make each RECORD list exactly the files the binary carries."""
    for info in site.glob("*.dist-info"):
        for name in INSTALLER_NOISE:
            (info / name).unlink(missing_ok=True)
        record = info / "RECORD"
        if not record.is_file():
            continue
        kept = []
        for line in record.read_text().splitlines():
            path = line.split(",", 1)[0]
            rel = Path(path)
            if rel.parts and rel.parts[0] not in SKIP_TOP and ".." not in rel.parts and (site / rel).is_file():
                kept.append(line)
        record.write_text("".join(f"{line}\n" for line in sorted(kept)))


def dist_files(site: Path, dists: list[resolve.InstalledDist]) -> dict[str, list[str]]:
    """Each distribution's installed files, from its RECORD (as normalize_site left it)."""
    files = {}
    for dist in dists:
        record = site / dist.dist_info / "RECORD"
        lines = record.read_text().splitlines() if record.is_file() else []
        files[dist.name] = [line.split(",", 1)[0] for line in lines if line]
    return files


def console_scripts(site: Path, dist_info: str, group: str = "console_scripts") -> dict[str, str]:
    """[console_scripts] (or another group) of one installed distribution (what pip makes wrappers for)."""
    path = site / dist_info / "entry_points.txt"
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # script names are case-sensitive
    parser.read_string(path.read_text())
    if not parser.has_section(group):
        return {}
    return {name: value.split("[")[0].strip() for name, value in parser.items(group)}


def entry_point_modules(site: Path, dist_info: str) -> set[str]:
    """The modules every entry point of one installed distribution names, whatever the group: scripts, and
    the plugins other packages find through importlib.metadata (pytest11, flask.commands...)."""
    path = site / dist_info / "entry_points.txt"
    if not path.is_file():
        return set()
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str
    try:
        parser.read_string(path.read_text(errors="replace"))
    except configparser.Error:
        return set()  # importlib.metadata could not read it either
    return {value.split(":")[0].split("[")[0].strip() for group in parser.sections()
            for _name, value in parser.items(group)}


def site_files(site: Path) -> list[tuple[Path, str]]:
    files = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if rel.parts[0] in SKIP_TOP or "__pycache__" in rel.parts or path.name.endswith(SKIP_SUFFIXES):
            continue
        if path.is_symlink():
            raise AmberError(f"installed package file {rel} is a symlink; amber archives hold regular files only")
        if path.is_file():
            files.append((path, rel.as_posix()))
    return files


def script_programs(site: Path, wrappers: set[str]) -> list[tuple[Path, str]]:
    """Programs wheels install as scripts (`<dist>.data/scripts/`), stored as `bin/<name>`: ELF
    executables and `#!` scripts for another interpreter. The installer's console-script wrappers
    (`wrappers`) and Python scripts are left out: the binary runs its entry points itself."""
    found = []
    for path in sorted((site / "bin").glob("*")):
        if path.name in wrappers or not path.is_file() or path.is_symlink() or not path.stat().st_mode & 0o111:
            continue
        head = native_scan.file_head(path, 128)
        first_line = head.split(b"\n", 1)[0]
        if native_scan.is_elf(head) or (first_line.startswith(b"#!") and b"python" not in first_line):
            found.append((path, f"bin/{path.name}"))
    return found

