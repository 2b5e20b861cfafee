"""First code of an amber app binary: choose the entry point and call it.

The launcher has already set up an isolated interpreter whose sys.path is the
binary itself (standard library and the app's packages side by side in its
archive), with the user's argv untouched. This module picks the script: the one
named like the program as invoked (a symlink or hard link named after another
script runs that script, busybox style), else the default, then calls it as
the console_scripts wrapper pip would have written.

The launcher calls `main()` in app mode; in interpreter mode (AMBER_INTERPRETER)
it calls only `setup()`, then CPython runs -c, -m, the script or the REPL.
"""

import sys


def _resolve(target):
    module_name, _, attrs = target.partition(":")
    __import__(module_name)
    obj = sys.modules[module_name]
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def _install_site_builtins():
    # The interpreter runs with site disabled (no site-packages of the target
    # machine may leak in), but apps still expect exit(), quit(), help(), copyright, credits, license.
    # site.setquit()/sethelper() would import os; _sitebuiltins alone does not.
    import _sitebuiltins
    import builtins

    eof = "Ctrl-D (i.e. EOF)"
    builtins.exit = _sitebuiltins.Quitter("exit", eof)
    builtins.quit = _sitebuiltins.Quitter("quit", eof)
    builtins.help = _sitebuiltins._Helper()
    # site.setcopyright()'s three, which some libraries touch (dill pickles builtins by name).
    builtins.copyright = _printer(_sitebuiltins, "copyright", sys.copyright)
    builtins.credits = _printer(_sitebuiltins, "credits",
        "    Thanks to CWI, CNRI, BeOpen, Zope Corporation, the Python Software\n"
        "    Foundation, and a cast of thousands for supporting Python\n"
        "    development.  See www.python.org for more information.")
    builtins.license = _printer(_sitebuiltins, "license", "See https://www.python.org/psf/license/")


def _printer(sitebuiltins, name, text):
    """A `_sitebuiltins._Printer` of `text`, made without its __init__: that imports os (to join the
    file names site passes for license(), which we have none of), and os is a sixth of a hello world's
    start-up. The attributes are the ones __init__ sets (name-mangled)."""
    printer = object.__new__(sitebuiltins._Printer)
    vars(printer).update(_Printer__name=name, _Printer__data=text, _Printer__lines=None, _Printer__filenames=[])
    return printer


# Modules whose process-starting primitives __amber_children__ wraps.
_CHILD_PRIMITIVES = ("_posixsubprocess", "os")


def _install_child_relaunch():
    """Children started as sys.executable get a python: wrap the primitives once their module is imported.

    __amber_children__ itself is imported only then, off a hello world's path.
    """
    from __amber_vfs__ import after_import

    def action(name):
        return lambda: __import__("__amber_children__").wrap(name)

    for name in _CHILD_PRIMITIVES:
        after_import(name, action(name))


def _archive_path():
    """The binary's own sys.path entry (the archive zipimport already read)."""
    import zipimport

    for entry in sys.path:
        if entry in zipimport._zip_directory_cache:
            return entry
    raise SystemExit("amber: this binary's archive is not on sys.path")


def _install_archive_loaders():
    """The archive file system, then what the app's table asks for: native code, extracted
    distributions, programs inside the archive. Each piece is imported only when the app has it."""
    from __amber_app__ import EXECUTABLES, EXTRACT, NATIVE, ZSTD
    from __amber_vfs__ import after_import, install

    filesystem = install(_archive_path())
    native = None
    if NATIVE:  # the app carries C extensions: load them from memory
        from __amber_native__ import install as install_native

        native = install_native(filesystem)
    if EXTRACT:  # distributions whose files C code opens by path: from the extraction cache
        from __amber_extract__ import install as install_extract

        install_extract(filesystem, EXTRACT, native)
    if EXECUTABLES:  # programs started by path: from memory
        filesystem.executables = EXECUTABLES

        def wrap(module_name):
            import __amber_exec__

            __amber_exec__.wrap(module_name, filesystem, EXECUTABLES)

        after_import("os", lambda: wrap("os"))
        after_import("subprocess", lambda: wrap("subprocess"))
    if ZSTD:  # zipfile reading this binary (importlib.resources, metadata) must know its zstd members
        after_import("zipfile", lambda: __import__("__amber_zipzstd__").install())


class _TrimmedModules:
    """Last on sys.meta_path in a `--trim` build: an import of a stdlib module the trim left out fails
    with a ModuleNotFoundError that says why and how to keep it, instead of a bare "No module named".

    It answers only after every other finder has found nothing, and with a spec whose loader raises,
    so that `try: import x / except ImportError` code behaves as without the module.
    """

    def __init__(self, trimmed):
        self.trimmed = trimmed  # top-most trimmed names: a dropped package stands for its submodules

    def find_spec(self, name, path=None, target=None):
        prefix = name
        while prefix not in self.trimmed:
            prefix, dot, _ = prefix.rpartition(".")
            if not dot:
                return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(name, self)

    def create_module(self, spec):
        name = _requested_module(spec.name)
        raise ModuleNotFoundError(
            f"No module named {name!r}: amber build --trim left this standard library module out "
            f"of the binary; rebuild with --keep {name}", name=name)

    def exec_module(self, module):  # never reached: create_module raises
        raise ModuleNotFoundError(module.__name__)


def _requested_module(package):
    """The module whose import is importing `package` (`xml.dom.minidom` first imports `xml`): the name
    in the import system's frames, so that the message names what the code asked for."""
    requested = package
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_find_and_load":
            name = frame.f_locals.get("name")
            if isinstance(name, str) and name.startswith(requested + "."):
                requested = name
        frame = frame.f_back
    return requested


def _install_trim_guard():
    from __amber_app__ import TRIMMED

    if TRIMMED:
        sys.meta_path.append(_TrimmedModules(TRIMMED))


def setup():
    """Everything an app binary does before its entry point.

    The launcher calls this alone in interpreter mode (AMBER_INTERPRETER), so
    that -c, -m, scripts and the REPL see the same importable packages.
    """
    _install_archive_loaders()
    _install_trim_guard()
    _install_site_builtins()
    _install_child_relaunch()


def main():
    """App mode (the launcher's run_command): set up, then run the script named by argv[0]."""
    from __amber_app__ import DEFAULT, SCRIPTS

    invoked = sys.argv[0].rpartition("/")[2] if sys.argv and sys.argv[0] else ""
    target = SCRIPTS.get(invoked) or SCRIPTS[DEFAULT]
    setup()
    func = _resolve(target)
    sys.exit(func())
