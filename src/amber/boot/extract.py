"""Distributions imported from the extraction cache instead of the archive (runs inside the binary).

The builder marks a distribution for extraction when C code will want real
paths to its files — a certificate bundle, fonts — or when the user asks for it
(`[tool.amber] extract`); see builder/extract_rule.py. Each of its top-level
import names maps to a content key. On the first import of one of them, the
distribution's files are materialized in the cache (`__amber_cache__`) and
the ordinary path finder imports it from there, so `__file__`, `__path__` and
every path derived from them are real files. Nothing happens for an app that
never imports such a distribution.

The file list of an entry is the archive member `.amber/extract/<key>`: one
line per file, `<path on disk>\t<archive member>\t<x if executable>`.
"""

import sys
from importlib.machinery import PathFinder

from __amber_cache__ import CacheError, materialize
from __amber_vfs__ import EXTRACT_LIST_DIR


class ExtractedFinder:
    """Finds the top-level packages of extracted distributions in their cache entry."""

    def __init__(self, fs, table, native):
        self.fs = fs
        self.table = table  # top-level name -> (key, system sonames its native code needs)
        self.native = native
        self._entries = {}  # key -> directory

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or fullname not in self.table:
            return None
        key, sonames = self.table[fullname]
        if key not in self._entries:
            self._entries[key] = self._materialize(fullname, key)
        directory = self._entries[key]
        for soname in sonames:  # the system's copy, else ours, before the extension needs it
            self.native.require_system(soname)
        return PathFinder.find_spec(fullname, [directory], target)

    def _materialize(self, fullname, key):
        files = {}
        for line in self.fs.read(f"{EXTRACT_LIST_DIR}/{key}").decode("utf-8", "surrogateescape").splitlines():
            rel, name, mode = line.split("\t")
            files[rel] = (name, mode == "x")
        try:
            return materialize(key, files, self.fs.read, self.fs.copy_into)
        except CacheError as exc:  # the project asked for real files: without them it would fail later, obscurely
            raise SystemExit(f"amber: cannot extract {fullname}: {exc}") from None

    def invalidate_caches(self):
        pass


def install(fs, table, native):
    """Put the finder in front of every archive finder (it must win over the in-memory extension finder)."""
    finder = ExtractedFinder(fs, table, native)
    position = next((i for i, f in enumerate(sys.meta_path)
                     if getattr(f, "__name__", type(f).__name__) in ("PathFinder", "ExtensionFinder")),
                    len(sys.meta_path))
    sys.meta_path.insert(position, finder)
    return finder
