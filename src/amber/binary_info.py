"""`amber inspect`: what is inside an amber binary, read from its archive without running it.

An app binary carries `.amber/build.json` (written by `amber build`: runtime,
scripts, distributions); sizes and licenses come from the archive members and
each distribution's METADATA and RECORD. A bare runtime file is described from
its own archive. The SBOM export is CycloneDX 1.5 JSON.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from amber import targets
from amber.archive.format import FLAG_APP, INDEX_NAME
from amber.archive.reader import open_binary
from amber.archive.writer import XZ
from amber.elf import ElfFile
from amber.errors import AmberError

MANIFEST_NAME = ".amber/build.json"
# The installed versions as a requirements file (written by amber build, see builder/lock.py).
REQUIREMENTS_NAME = ".amber/requirements.lock"
SYSCONFIG_RE = re.compile(r"^_sysconfigdata_.*\.py$")


@dataclass
class Distribution:
    name: str
    version: str
    license: str | None
    size: int  # bytes of its files in the archive (uncompressed), .pyc included
    files: int
    native: bool  # carries shared objects, loaded from memory at run time


@dataclass
class BinaryInfo:
    path: Path
    kind: str  # "app" or "runtime"
    size: int
    interpreter_size: int
    archive_size: int
    python_version: str | None
    recipe_hash: str | None
    glibc: str | None  # the oldest glibc it runs on (None for a musl binary)
    libc: str | None  # the C library and that version: "glibc 2.17", "musl 1.2.3"
    platform: str | None
    target: str | None  # the machine it runs on (x86_64-linux-gnu), from its runtime's record or its ELF header
    entry: str | None
    scripts: dict[str, str] = field(default_factory=dict)
    distributions: list[Distribution] = field(default_factory=list)
    stdlib_size: int = 0
    extract: list[dict] = field(default_factory=list)  # distributions materialized at run time, and why
    system_libraries: list[dict] = field(default_factory=list)  # fallbacks copied from the build machine
    programs: list[str] = field(default_factory=list)  # programs inside the archive
    inputs: dict = field(default_factory=dict)  # lock file, its sha256, --locked, --requirements
    excluded: list[str] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)  # name==version of every installed dependency
    compression: dict | None = None  # how the members are compressed (archive/packing.py's manifest_record)
    trim: dict | None = None  # what --trim left out: top-most module names, counts, the --keep list
    source_only: dict | None = None  # how many modules no import of the app reaches carry no .pyc (stdlib, app)
    xz: list[str] = field(default_factory=list)  # the xz members (shared objects no import reaches), largest first

    def as_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "distributions"}
        data["path"] = str(self.path)
        data["distributions"] = [d.__dict__ for d in self.distributions]
        return data


def _license(meta) -> str | None:
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier", []) if c.startswith("License ::")]
    if classifiers:
        return ", ".join(classifiers)
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:80] if text else None


def describe(path: Path) -> BinaryInfo:
    binary = open_binary(path)
    size = path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
    # The few members read, through amber's reader: they are zstd, which zipfile cannot read.
    texts = {m.name: m.data for m in binary.members(lambda n: n in (MANIFEST_NAME, REQUIREMENTS_NAME) or n.endswith(
        (".dist-info/METADATA", ".dist-info/RECORD")) or bool(SYSCONFIG_RE.match(n)))}
    manifest = json.loads(texts[MANIFEST_NAME]) if MANIFEST_NAME in texts else None
    app = bool(binary.trailer.flags & FLAG_APP)
    dists = []
    claimed: set[str] = set()
    for entry in (manifest or {}).get("distributions", []):
        info_dir = entry["dist_info"]
        meta = HeaderParser().parsestr(texts[f"{info_dir}/METADATA"].decode("utf-8", "replace")) \
            if f"{info_dir}/METADATA" in texts else {}
        record = texts[f"{info_dir}/RECORD"].decode() if f"{info_dir}/RECORD" in texts else ""
        names = {line.split(",", 1)[0] for line in record.splitlines() if line}
        names |= {n + "c" for n in names if n.endswith(".py")}
        names = {n for n in names if n in infos}
        claimed |= names
        dists.append(Distribution(
            name=entry["name"], version=entry["version"], license=_license(meta) if meta else None,
            size=sum(infos[n].file_size for n in names), files=len(names),
            native=any(".so" in Path(n).suffixes for n in names),
        ))
    special = {INDEX_NAME, MANIFEST_NAME, REQUIREMENTS_NAME}
    pins = [line for line in texts[REQUIREMENTS_NAME].decode().splitlines() if line and line[0] != "#"] \
        if REQUIREMENTS_NAME in texts else []
    stdlib_size = sum(i.file_size for n, i in infos.items()
                      if n not in claimed and n not in special and not n.startswith("__amber_"))
    runtime = (manifest or {}).get("runtime") or _runtime_metadata(path, texts)
    target = runtime.get("target") or _elf_target(path)
    glibc = (manifest or {}).get("glibc") or (runtime.get("glibc_max") or "").replace("GLIBC_", "") or None
    return BinaryInfo(
        path=path, kind="app" if app else "runtime", size=size,
        interpreter_size=binary.trailer.archive_offset, archive_size=size - binary.trailer.archive_offset,
        python_version=runtime.get("python_version"), recipe_hash=runtime.get("recipe_hash"),
        glibc=glibc, libc=_libc(manifest, target, glibc),
        platform=(manifest or {}).get("platform"), target=target,
        entry=(manifest or {}).get("entry"),
        scripts=(manifest or {}).get("scripts", {}), distributions=dists, stdlib_size=stdlib_size,
        extract=(manifest or {}).get("extract", []), system_libraries=(manifest or {}).get("system_libraries", []),
        programs=(manifest or {}).get("programs", []),
        inputs=(manifest or {}).get("inputs", {}), excluded=(manifest or {}).get("excluded", []), pins=pins,
        compression=(manifest or {}).get("compression"), trim=(manifest or {}).get("trim"),
        source_only=(manifest or {}).get("source_only"),
        xz=sorted((n for n, i in infos.items() if i.compress_type == XZ), key=lambda n: (-infos[n].file_size, n)),
    )


def describe_compression(record: dict) -> str:
    """The `members:` line of inspect, from build.json's compression record (an older binary's says only
    its --compress level)."""
    policy = record.get("policy", "level")
    kinds = record.get("dictionaries")  # absent: amber before dictionaries
    shared = f", {' and '.join(kinds)} files with zstd dictionaries" if kinds else ""
    if own := record.get("app_dictionaries"):  # builder/app_dictionaries.py
        shared += f", the app's own {' and '.join(d['kind'] for d in own)} files with dictionaries of their own"
    if policy == "default":
        startup = "LZ4" if record.get("startup") == "lz4" else "stored"  # stored: amber before LZ4
        return (f"zstd: the standard library at level {record['runtime_zstd_level']}, the app at level "
                f"{record['zstd_level']}{shared}, the code every start runs {startup} (the default)")
    if policy == "none":
        return "code and native objects stored, sources and data deflated (--no-compress)"
    return f"zstd level {record['zstd_level']}{shared} (--compress)"


def _libc(manifest: dict | None, target: str | None, glibc: str | None) -> str | None:
    """"glibc 2.28" or "musl 1.2.3": the app's record, else (a runtime, an older app) the target's C library."""
    recorded = (manifest or {}).get("libc")
    if recorded:
        return f"{recorded['name']} {recorded['version']}"
    known = targets.TARGETS.get(target or "")
    if known is not None and known.libc == "musl":
        return known.libc_label
    return f"glibc {glibc}" if glibc else None


def _elf_target(path: Path) -> str | None:
    """The target whose CPU (e_machine) and dynamic loader (PT_INTERP) the file's ELF headers name, for files
    that record none."""
    with path.open("rb") as f:
        head = f.read(4096)  # the program headers and the loader's name come first
    try:
        elf = ElfFile(head)
        machine, loader = elf.machine, (elf.interpreter or "").rpartition("/")[2]
    except (ValueError, struct.error):
        return None
    return next((t.name for t in targets.TARGETS.values() if t.elf_machine == machine and t.loader == loader), None)


def _runtime_metadata(path: Path, texts: dict[str, bytes]) -> dict:
    """A bare runtime: its runtime.json when it sits in a runtime directory, else its sysconfig VERSION."""
    beside = path.resolve().parent.parent / "runtime.json"
    if beside.is_file():
        try:
            return json.loads(beside.read_text())
        except ValueError:
            pass
    for name in sorted(texts):
        if SYSCONFIG_RE.match(name):
            match = re.search(r"'VERSION': '([^']+)'", texts[name].decode("utf-8", "replace"))
            if match:
                return {"python_version": match.group(1)}
    return {}


def cyclonedx(info: BinaryInfo) -> dict:
    """A CycloneDX 1.5 SBOM of the binary: the app, the CPython runtime, every bundled distribution."""
    components = [{
        "type": "application", "name": "cpython", "version": info.python_version or "unknown",
        "purl": f"pkg:generic/cpython@{info.python_version}" if info.python_version else None,
        "description": f"amber runtime (recipe {info.recipe_hash})" if info.recipe_hash else "amber runtime",
    }]
    for dist in info.distributions:
        component = {"type": "library", "name": dist.name, "version": dist.version,
                     "purl": f"pkg:pypi/{dist.name.lower().replace('_', '-')}@{dist.version}"}
        if dist.license:
            component["licenses"] = [{"license": {"name": dist.license}}]
        components.append(component)
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "application", "name": info.path.name}},
        "components": [{k: v for k, v in c.items() if v is not None} for c in components],
    }


def render(info: BinaryInfo) -> str:
    mb = 1e6
    lines = [
        f"{info.path}: amber {info.kind}, {info.size / mb:.1f} MB "
        f"(interpreter {info.interpreter_size / mb:.1f} MB, archive {info.archive_size / mb:.1f} MB)",
        f"  runtime:  CPython {info.python_version or '?'}"
        + (f", recipe {info.recipe_hash}" if info.recipe_hash else ""),
        f"  target:   {info.target or '?'}",
        f"  libc:     {info.libc or '?'} or newer" + (f" (wheels for {info.platform})" if info.platform else ""),
    ]
    if info.kind == "app":
        lines.append(f"  entry:    {info.entry}")
        for name, target in info.scripts.items():
            lines.append(f"  script:   {name} = {target}")
    if info.inputs:
        lines.append(f"  inputs:   {_describe_inputs(info.inputs)}")
    if info.excluded:
        lines.append(f"  excluded: {', '.join(info.excluded)}")
    if info.compression:
        lines.append(f"  members:  {describe_compression(info.compression)}")
    if info.trim:
        keep = f"; kept by --keep: {', '.join(info.trim['keep'])}" if info.trim["keep"] else ""
        lines.append(f"  trimmed:  {info.trim['dropped_modules']} stdlib modules, "
                     f"{info.trim['dropped_bytes'] / mb:.1f} MB (--trim{keep}): {', '.join(info.trim['dropped'])}")
    if info.source_only:
        counts = info.source_only
        lines.append(f"  source only: {counts['stdlib']} stdlib and {counts['app']} app modules no import of the app "
                     f"reaches ({counts['bytes'] / mb:.1f} MB of bytecode left out, uncompressed; compiled once "
                     "if imported; --all-bytecode keeps them)")
    if info.xz:
        names = ", ".join(name.split(".", 1)[0] for name in info.xz[:6]) + (", ..." if len(info.xz) > 6 else "")
        lines.append(f"  xz:       {len(info.xz)} shared objects no import of the app reaches ({names}; "
                     "decompressed once per machine if imported)")
    lines.append(f"  stdlib:   {info.stdlib_size / mb:.1f} MB")
    for d in info.distributions:
        extra = ", native code" if d.native else ""
        lines.append(f"  {d.name} {d.version}: {d.size / mb:.2f} MB in {d.files} files, "
                     f"license {d.license or 'unknown'}{extra}")
    for e in info.extract:
        # binaries built before extraction became opt-in only recorded why the rule picked each one
        why = f" ({e['reason']})" if e.get("reason") else ""
        lines.append(f"  extracted at run time: {e['distribution']}{why}")
    for lib in info.system_libraries:
        lines.append(f"  system library fallback: {lib['soname']} (used where the system has none; "
                     f"needs glibc {lib['glibc']})")
    for program in info.programs:
        lines.append(f"  program:  {program}")
    return "\n".join(lines)


def _describe_inputs(inputs: dict) -> str:
    """One line: where the bundled versions came from."""
    if inputs.get("lock"):
        text = f"{inputs['lock']} (sha256 {inputs.get('lock_sha256', '?')[:12]})"
        text += ", checked with --locked" if inputs.get("locked") else ""
        text += ", out of date with pyproject.toml" if inputs.get("stale") else ""
    else:
        text = "resolved at build time (no lock)"
    if inputs.get("requirement"):
        text = f"the requirement {inputs['requirement']}, {text}"
    if inputs.get("requirements"):
        text += f", plus {inputs['requirements']} (sha256 {inputs.get('requirements_sha256', '?')[:12]})"
    return text + f"; pins in {REQUIREMENTS_NAME}"


def inspect_binary(path: Path) -> BinaryInfo:
    if not path.is_file():
        raise AmberError(f"{path}: no such file")
    try:
        return describe(path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise AmberError(f"{path}: damaged amber archive ({exc})") from exc
