"""Code that runs inside a built binary (standard library only).

The builder copies these modules into the archive under fixed top-level
names: `entry.py` becomes `__amber_boot__`, which the launcher imports first in
an app binary. The per-app constants go into a generated `__amber_app__`.

On the host the same modules are this package's, and they import each other by
their in-binary names (`from __amber_vfs__ import ...`): importing this package
makes those names resolve to its modules (`_HostNames`), so every boot module
imports, and is unit-tested, like any other (tests/test_boot_units.py).
"""

import importlib
import sys
from pathlib import Path

BOOT_DIR = Path(__file__).parent
BOOT_MODULES = {
    "__amber_boot__": BOOT_DIR / "entry.py",
    "__amber_hooks__": BOOT_DIR / "hooks.py",
    "__amber_vfs__": BOOT_DIR / "vfs.py",
    "__amber_memfd__": BOOT_DIR / "memfd.py",
    "__amber_native__": BOOT_DIR / "native.py",
    "__amber_extensions__": BOOT_DIR / "extensions.py",
    "__amber_elf__": BOOT_DIR / "elf.py",
    "__amber_cache__": BOOT_DIR / "cache.py",
    "__amber_extract__": BOOT_DIR / "extract.py",
    "__amber_exec__": BOOT_DIR / "executables.py",
    "__amber_children__": BOOT_DIR / "children.py",
    "__amber_zipzstd__": BOOT_DIR / "zipzstd.py",
    "__amber_libc__": BOOT_DIR / "libc.py",
}


def boot_modules_used(native: bool, extract: bool, programs: bool) -> list[str]:
    """The boot modules an app's start-up and run can import, by what the app carries (see entry.py's
    setup(): each loader is imported only when the app has what it loads)."""
    # __amber_cache__ always: AMBER_NATIVE=disk, which any start may set, has the C file layer write there.
    used = ["__amber_boot__", "__amber_hooks__", "__amber_vfs__", "__amber_memfd__", "__amber_children__",
            "__amber_cache__", "__amber_libc__"]
    if native:
        used += ["__amber_native__", "__amber_extensions__", "__amber_elf__", "__amber_cache__"]
    if extract:
        used += ["__amber_extract__", "__amber_cache__"]
    if programs:
        used += ["__amber_exec__", "__amber_native__", "__amber_extensions__", "__amber_cache__"]
    return list(dict.fromkeys(used))


class _HostNames:
    """Last on the host's sys.meta_path: `__amber_vfs__` is `amber.boot.vfs`, and so on. Inside a
    self-built amber the real boot modules in the archive are found first, by the path finder."""

    def find_spec(self, name, path=None, target=None):
        file = BOOT_MODULES.get(name)
        if file is None or path is not None:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(name, _SameModule(importlib.import_module(f"{__name__}.{file.stem}")))


class _SameModule:
    """A loader that gives the module already imported under the package's name."""

    def __init__(self, module):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.spec  # the import system set the alias's spec on it


if not any(isinstance(finder, _HostNames) for finder in sys.meta_path):
    sys.meta_path.append(_HostNames())
