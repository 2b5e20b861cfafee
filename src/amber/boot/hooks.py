"""Actions that run right after a module is first imported, without importing it earlier (runs inside
the binary): the os functions are wrapped once the app imports os, the process-starting primitives once
subprocess is imported, zipfile learns zstd once imported... so a hello world pays for none of them.
"""

import sys


class _AfterImports:
    """The one finder that runs actions right after a module is first imported, without importing it
    earlier (the os functions are wrapped once the app imports os, the process-starting primitives
    once subprocess is imported...). It sits first on sys.meta_path while actions wait, and costs one
    dict lookup per import whatever the number of actions; it leaves once none waits."""

    def __init__(self):
        self.waiting = {}  # module name -> actions, in the order they were registered

    def find_spec(self, fullname, path=None, target=None):
        actions = self.waiting.pop(fullname, None)
        if actions is None:
            return None
        if not self.waiting:
            sys.meta_path.remove(self)
        import _frozen_importlib

        # The other finders answer (this one no longer has the name, so there is no recursion).
        spec = _frozen_importlib._find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRun(spec.loader, actions)
        return spec


class _ThenRun:
    """A module's own loader, then the actions waiting for the module."""

    def __init__(self, loader, actions):
        self._loader = loader
        self._actions = actions

    def __getattr__(self, attr):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for action in self._actions:
            action()


_after_imports = _AfterImports()


def after_import(name, action):
    """Run `action()` right after module `name` is first imported; at once if it already is."""
    if name in sys.modules:
        action()
        return
    if not _after_imports.waiting:
        sys.meta_path.insert(0, _after_imports)
    _after_imports.waiting.setdefault(name, []).append(action)
