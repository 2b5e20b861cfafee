"""Where amber keeps its caches: $AMBER_CACHE, else $XDG_CACHE_HOME/amber, else ~/.cache/amber.

The binaries find the same directory (their extraction cache is its `extract/`): both sides call
boot/cache.py's cache_root(), which runs inside binaries and so uses the standard library only.
"""

from __future__ import annotations

from pathlib import Path

from amber.boot.cache import CacheError
from amber.boot.cache import cache_root as _cache_root
from amber.errors import AmberError


def cache_root() -> Path:
    try:
        return Path(_cache_root())
    except CacheError as exc:
        raise AmberError(str(exc)) from None
