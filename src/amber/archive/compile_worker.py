"""Byte-compile sources with the *target* interpreter (run by it, its source given with -c).

The archive step runs this file with the runtime's own python, so the .pyc
files carry that interpreter's magic number and bytecode. Input on stdin: a
JSON list of [source_path, name_in_archive]; each result is written to
OUTDIR/<name_in_archive>c as an unchecked hash-based pyc (PEP 552): the
archive is immutable, so no timestamp or source check is ever needed, and no
build-time mtime leaks into the output. co_filename is the archive-relative
name; the importer rewrites it to the full path at import time.
Output on stdout: a JSON list of [name, error] for files that do not compile.
"""

import importlib.util
import json
import os
import sys
from importlib._bootstrap_external import _code_to_hash_pyc


def main() -> None:
    outdir = sys.argv[1]
    optimize = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    failures = []
    for source_path, name in json.load(sys.stdin):
        with open(source_path, "rb") as f:
            source = f.read()
        try:
            code = compile(source, name, "exec", dont_inherit=True, optimize=optimize)
        except (SyntaxError, ValueError) as exc:
            failures.append([name, f"{type(exc).__name__}: {exc}"])
            continue
        data = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False)
        target = os.path.join(outdir, name + "c")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
    json.dump(failures, sys.stdout)


if __name__ == "__main__":
    main()
