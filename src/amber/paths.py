"""Where amber keeps its caches: $AMBER_CACHE, else $XDG_CACHE_HOME/amber, else ~/.cache/amber."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    explicit = os.environ.get("AMBER_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "amber"
