"""The runtime inside a self-built amber: written back from the running binary's own bytes.

An app binary is the runtime's ELF followed by one archive that holds the runtime's members
(its standard library) and the app's. `amber build` records which members came from the
runtime, with the runtime's metadata, in `.amber/runtime.json`. So an amber that was itself
built by amber (`dist/amber`) needs no runtime build, no zig and no download: the first
time it needs its runtime it writes the runtime file into the cache
(`~/.cache/amber/runtimes/<version>-<recipe hash>/bin/pythonX.Y`, the same store
`amber runtime build` fills) from its own ELF and those members, and uses it from then on.
"""

from __future__ import annotations

import json
import sys
import tempfile
import zipimport
from dataclasses import replace
from pathlib import Path

from amber.archive import dictionaries
from amber.archive.reader import open_binary
from amber.archive.writer import Member, write_archive
from amber.errors import AmberError
from amber.runtime import store
from amber.runtime.recipe import PythonRecipe, recipe_hash
from amber.targets import Target

MANIFEST = ".amber/runtime.json"
# Runtime metadata that describes the file itself (what a rebuild elsewhere reproduces);
# build times and job counts are left out so that app archives stay reproducible.
KEPT_METADATA = ("exported_symbols", "glibc_max", "libraries", "modules_checked", "needed", "openssl",
                 "python_minor", "python_version", "recipe_hash", "size", "target", "zig")


def manifest_member(runtime: store.Runtime, members: list[Member]) -> Member:
    """`.amber/runtime.json` for an app built on `runtime` whose archive starts with `members`."""
    data = {"metadata": {k: runtime.metadata[k] for k in KEPT_METADATA if k in runtime.metadata},
            "members": sorted(m.name for m in members),
            # How each was stored in the runtime: an app may store them otherwise (--no-compress,
            # --compress N), and the runtime written back must be the runtime's own bytes again.
            "deflated": sorted(m.name for m in members if m.compress and m.zstd is None),
            "zstd": {m.name: m.zstd for m in members if m.zstd is not None}}
    return Member(MANIFEST, (json.dumps(data, sort_keys=True) + "\n").encode(), compress=True)


def running_binary() -> Path | None:
    """This process's own file when it is an amber app binary (its archive is on sys.path)."""
    executable = sys.executable
    if executable and executable in zipimport._zip_directory_cache and MANIFEST in \
            zipimport._zip_directory_cache[executable]:
        return Path(executable)
    return None


def restore(rec: PythonRecipe, target: Target) -> store.Runtime | None:
    """Write the runtime of `rec` for `target` into the store from this binary, if this binary carries it
    (an amber built for aarch64 carries the aarch64 runtime)."""
    binary = running_binary()
    if binary is None:
        return None
    image = open_binary(binary)
    members = {m.name: m for m in image.members()}
    manifest = json.loads(members[MANIFEST].data)
    metadata = manifest["metadata"]
    if metadata.get("recipe_hash") != recipe_hash(rec.minor, target) or metadata.get("python_version") != rec.version:
        return None
    missing = [name for name in manifest["members"] if name not in members]
    if missing and all(dictionaries.is_dictionary(name) for name in missing):
        # built with --no-compress, which leaves them out: trained again, the same bytes from the same files
        members.update({m.name: m for m in dictionaries.train(members[name] for name in manifest["members"]
                                                                 if name in members)})
        missing = [name for name in manifest["members"] if name not in members]
    if missing and all(name.endswith(".pyc") and name[:-1] in members for name in missing):
        raise AmberError(f"{binary} does not carry its whole runtime: {len(missing)} standard library modules "
                         "carry their source only; build amber with --all-bytecode, or run: amber runtime build")
    if missing:  # built with --exclude of standard library modules: not the whole runtime
        raise AmberError(f"{binary} does not carry its whole runtime ({len(missing)} standard library files "
                         "were excluded); build amber without --exclude, or run: amber runtime build")
    with tempfile.TemporaryDirectory(prefix="amber-runtime-") as tmp_name:
        tmp = Path(tmp_name)
        runtime_file = tmp / f"python{rec.minor}"
        with runtime_file.open("wb") as out:
            out.write(image.interpreter())
            deflated, zstd = set(manifest.get("deflated", ())), manifest.get("zstd", {})
            write_archive(out, [replace(members[name], compress=name in deflated, zstd=zstd.get(name))
                                for name in manifest["members"]])
        runtime_file.chmod(0o755)
        log = tmp / "build.log"
        log.write_text(f"restored from {binary} (no build: the runtime is the ELF and standard library of this "
                       "self-built amber)\n")
        return store.install(rec, runtime_file, None, metadata, log, target)
