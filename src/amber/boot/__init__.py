"""Code that runs inside a built binary (standard library only).

The builder copies these modules into the archive under fixed top-level
names: `entry.py` becomes `__amber_boot__`, which the launcher imports first in
an app binary. The per-app constants go into a generated `__amber_app__`.
"""

from pathlib import Path

BOOT_DIR = Path(__file__).parent
BOOT_MODULES = {
    "__amber_boot__": BOOT_DIR / "entry.py",
    "__amber_vfs__": BOOT_DIR / "vfs.py",
    "__amber_native__": BOOT_DIR / "native.py",
    "__amber_elf__": BOOT_DIR / "elf.py",
    "__amber_cache__": BOOT_DIR / "cache.py",
    "__amber_extract__": BOOT_DIR / "extract.py",
    "__amber_exec__": BOOT_DIR / "executables.py",
    "__amber_children__": BOOT_DIR / "children.py",
    "__amber_zipzstd__": BOOT_DIR / "zipzstd.py",
}


def boot_modules_used(native: bool, extract: bool, programs: bool) -> list[str]:
    """The boot modules an app's start-up and run can import, by what the app carries (see entry.py's
    setup(): each loader is imported only when the app has what it loads)."""
    used = ["__amber_boot__", "__amber_vfs__", "__amber_children__"]
    if native:
        used += ["__amber_native__", "__amber_elf__", "__amber_cache__"]
    if extract:
        used += ["__amber_extract__", "__amber_cache__"]
    if programs:
        used += ["__amber_exec__", "__amber_cache__"]
    return list(dict.fromkeys(used))
