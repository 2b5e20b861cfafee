"""Extension modules in the archive for the import system (runs inside the binary; becomes
`__amber_extensions__`): the finder that runs before the path finder, and the loader that hands each
module's shared object to the native loader (`__amber_native__`), which loads it from memory.
"""

import _imp
import sys
from _frozen_importlib import ModuleSpec  # importlib.machinery's, without importing importlib

EXTENSION_SUFFIXES = _imp.extension_suffixes()  # importlib.machinery.EXTENSION_SUFFIXES


class ExtensionLoader:
    def __init__(self, native, name):
        self.native = native
        self.name = name

    def create_module(self, spec):
        return self.native.create_extension(spec, self.name)

    def exec_module(self, module):
        _imp.exec_dynamic(module)

    def is_package(self, fullname):
        return self.name.rpartition("/")[2].startswith("__init__.")

    def get_code(self, fullname):
        return None

    def get_source(self, fullname):
        return None


# The Python files that make a directory a package for the path finder (FileFinder's loaders, after
# the extension suffixes).
_PACKAGE_SOURCES = ("__init__.py", "__init__.pyc")


class ExtensionFinder:
    """Finds extension modules (`*.cpython-313-x86_64-linux-gnu.so`, `*.abi3.so`, `*.so`) in the archive,
    and packages whose `__init__` is one (mypyc compiles black's `black/__init__.py` to
    `black/__init__.cpython-313-x86_64-linux-gnu.so`, beside the source).

    It runs before the path finder and decides as FileFinder does in a directory: a package directory
    wins over a module of the same name, and in a package the extension `__init__` wins over its
    `.py`; a package whose `__init__` is Python code is left to the path finder.
    """

    def __init__(self, native):
        self.native = native
        self.fs = native.fs

    def find_spec(self, fullname, path=None, target=None):
        leaf = fullname.rpartition(".")[2]
        if path is None:
            dirs = [""] if self.fs.archive in sys.path else []
        else:
            dirs = [d for d in (self.fs.listable(entry) for entry in path) if d is not None]
        for directory in dirs:
            base = f"{directory}/{leaf}" if directory else leaf
            if base in self.fs.dirs:
                for suffix in EXTENSION_SUFFIXES:
                    name = f"{base}/__init__{suffix}"
                    if self.fs.exists(name):
                        spec = ModuleSpec(fullname, ExtensionLoader(self.native, name), origin=self.fs.prefix + name,
                                          is_package=True)
                        spec.submodule_search_locations.append(self.fs.prefix + base)
                        return spec
                if any(self.fs.exists(f"{base}/{init}") for init in _PACKAGE_SOURCES):
                    return None  # a package of Python code: the path finder's
            for suffix in EXTENSION_SUFFIXES:
                name = base + suffix
                if self.fs.exists(name):
                    loader = ExtensionLoader(self.native, name)
                    return ModuleSpec(fullname, loader, origin=self.fs.prefix + name)
        return None

    def invalidate_caches(self):
        pass
