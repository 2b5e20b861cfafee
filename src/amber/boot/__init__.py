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
}
