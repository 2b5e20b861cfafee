"""Which of the app's modules keep their bytecode (builder/bytecode.py), on hand-made module sets."""

from __future__ import annotations

from pathlib import Path

from amber.archive.writer import Member
from amber.builder import bytecode
from amber.builder.import_scan import names_in_source
from amber.builder.site import entry_point_modules
from amber.builder.trim import References

SOURCES = {
    "app/__init__.py": "",
    "app/cli.py": "import app.core\ndef main():\n    from app import lazy\n",
    "app/core.py": "from . import helpers\nBACKEND = 'fw.backends.fast'\nAPPS = ['fw.contrib.auth']\n",
    "app/helpers.py": "",
    "app/lazy.py": "",
    "app/unused.py": "import app.also_unused\n",
    "app/also_unused.py": "",
    "fw/__init__.py": "",
    "fw/loader.py": "def load(app, name):\n    return import_module('%s.management.commands.%s' % (app, name))\n",
    "fw/backends/__init__.py": "",
    "fw/backends/fast.py": "from fw.backends import base\n",
    "fw/backends/base.py": "",
    "fw/backends/slow.py": "",
    "fw/contrib/__init__.py": "",
    "fw/contrib/auth/__init__.py": "",
    "fw/contrib/auth/apps.py": "",
    "fw/contrib/auth/models.py": "from fw.contrib.auth import hashers\n",
    "fw/contrib/auth/hashers.py": "",
    "fw/contrib/auth/management/__init__.py": "",
    "fw/contrib/auth/management/commands/__init__.py": "",
    "fw/contrib/auth/management/commands/createuser.py": "",
    "fw/plugins/__init__.py": "",
    "fw/plugins/extra.py": "",
    "ns/inner.py": "",  # a namespace package: no __init__.py
    "img/__init__.py": "",
    "img/Image.py": "def init(plugins):\n    for p in plugins:\n        __import__(f'{__spec__.parent}.{p}')\n",
    "img/PngPlugin.py": "",
    "img/formats/__init__.py": "",
    "img/formats/tiff.py": "",
    "tool-script.py": "",  # not importable by that name
}


def references() -> dict[str, References]:
    refs = {}
    for name, text in SOURCES.items():
        parts = name[:-3].split("/")
        package = ".".join(parts[:-1] if parts[-1] != "__init__" else parts[:-1])
        refs[name] = References(*names_in_source(text.encode(), package))
    return refs


def test_the_graph_follows_imports_strings_packages_named_and_names_built_from_parts():
    modules = bytecode.AppModules.of(SOURCES)
    assert "tool-script" not in modules.sources and "ns.inner" in modules.sources
    found = bytecode.reached(modules, references(), ["app.cli", "fw.loader", "ns.inner", "img.Image"])
    assert {"app", "app.cli", "app.core", "app.helpers", "app.lazy"} <= found  # imports, in functions too
    assert {"fw.backends.fast", "fw.backends.base", "fw.backends"} <= found  # "pkg.mod": the module, its imports
    assert "fw.backends.slow" not in found  # a string naming a module is not its package's other modules
    # a string naming a package in full: its own modules too (a framework imports <app>.apps, <app>.models)
    assert {"fw.contrib.auth", "fw.contrib.auth.apps", "fw.contrib.auth.models", "fw.contrib.auth.hashers"} <= found
    # "%s.management.commands.%s": every package whose name ends so, with its modules
    assert {"fw.contrib.auth.management.commands", "fw.contrib.auth.management.commands.createuser"} <= found
    assert "ns.inner" in found  # its namespace package has no code, and is no error
    # a module that imports names computed at run time (Pillow's plugins): its package's own modules
    assert {"img.PngPlugin", "img.formats", "fw.plugins"} <= found
    assert not {"app.unused", "app.also_unused", "fw.plugins.extra", "img.formats.tiff"} & found


def test_left_out_bytecode_needs_its_source():
    members = [Member("a.py", b"x"), Member("a.pyc", b"c"), Member("b.pyc", b"c"), Member("c.py", b"y"),
               Member("c.pyc", b"c")]
    kept, dropped = bytecode.source_only(members, keep={"c.pyc"})
    assert [m.name for m in dropped] == ["a.pyc"]  # b.pyc has no source: it stays
    assert [m.name for m in kept] == ["a.py", "b.pyc", "c.py", "c.pyc"]
    assert bytecode.record(dropped, []) == {"stdlib": 1, "app": 0, "bytes": 1}
    assert bytecode.record([], []) is None


def test_entry_points_of_every_group_are_roots(tmp_path: Path):
    info = tmp_path / "fw-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nfw = fw.cli:main\n\n[fw.plugins]\nextra = fw.plugins.extra:Plugin [speed]\n"
        "bare = fw.bare\n")
    assert entry_point_modules(tmp_path, info.name) == {"fw.cli", "fw.plugins.extra", "fw.bare"}
    assert entry_point_modules(tmp_path, "missing.dist-info") == set()
    (info / "entry_points.txt").write_text("not [an ini")
    assert entry_point_modules(tmp_path, info.name) == set()


def test_docstrings_are_prose_and_names_built_from_parts_keep_their_dotted_part():
    source = b'''"""Mentions xml.dom.minidom."""
def load(app, name):
    """See pkg.mod."""
    import_module("%s.management.commands.%s" % (app, name))
    import_module(f"{app}.apps.config")
    return "django.contrib.auth"
'''
    _imports, strings = names_in_source(source)
    assert strings == {".management.commands", ".apps.config", "django.contrib.auth"}
