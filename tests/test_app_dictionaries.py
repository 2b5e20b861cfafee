"""An app's own files, of a kind that is many and alike, get a zstd dictionary of their own
(builder/app_dictionaries.py).

The sources here are what such apps ship: a generated API client, a module per model, each model a class
with typed attributes, properties and docstrings (as kubernetes' client is); the data files, translation
catalogs (as Django's locale directories are).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import zipfile
from pathlib import Path

import pytest

from amber.archive import dictionaries, packing
from amber.archive.codecs import zstd_compress, zstd_decompress, zstd_frame_dictionary
from amber.archive.reader import open_binary
from amber.archive.writer import ZSTD, Member
from amber.builder.app_dictionaries import MAX_OWN, with_own_dictionaries
from helpers.proc import run

AMBER = [sys.executable, "-m", "amber"]
WORDS = ("pod", "node", "volume", "claim", "policy", "binding", "role", "service", "account", "endpoint",
         "secret", "config", "map", "status", "spec", "condition", "template", "selector", "affinity", "quota")


def model_module(rng: random.Random, index: int) -> str:
    """One generated model module: what an OpenAPI generator writes, with names of its own."""
    name = "V1" + "".join(rng.choice(WORDS).title() for _ in range(3)) + str(index)
    fields = sorted({"_".join(rng.sample(WORDS, 2)) for _ in range(rng.randint(6, 14))})
    lines = ["# coding: utf-8", "", '"""', "    Generated API client", "",
             "    The version of the OpenAPI document: v1.33", '"""', "", "import pprint", "import re  # noqa: F401",
             "", "import six", "", "from client.configuration import Configuration", "", "",
             f"class {name}(object):", '    """NOTE: This class is auto generated. Do not edit the class manually."""',
             "", "    openapi_types = {"]
    types = ("str", "int", "bool", "list[str]", "dict(str, str)")
    lines += [f"        '{field}': '{rng.choice(types)}'," for field in fields]
    lines += ["    }", "", "    attribute_map = {"]
    lines += [f"        '{field}': '{field.split('_')[0]}{field.split('_')[1].title()}'," for field in fields]
    arguments = ", ".join(f"{f}=None" for f in fields)
    lines += ["    }", "", f"    def __init__(self, {arguments}, local_vars_configuration=None):",
              f'        """{name} - a model defined in OpenAPI"""',
              "        if local_vars_configuration is None:",
              "            local_vars_configuration = Configuration.get_default_copy()",
              "        self.local_vars_configuration = local_vars_configuration", ""]
    lines += [f"        self._{field} = None" for field in fields]
    for field in fields:
        lines += ["", "    @property", f"    def {field}(self):",
                  f'        """Gets the {field} of this {name}.  # noqa: E501', "",
                  f"        :return: The {field} of this {name}.  # noqa: E501", '        """',
                  f"        return self._{field}", "", f"    @{field}.setter", f"    def {field}(self, {field}):",
                  f'        """Sets the {field} of this {name}.', "",
                  f"        :param {field}: The {field} of this {name}.  # noqa: E501", '        """', "",
                  f"        self._{field} = {field}"]
    lines += ["", "    def to_dict(self):", '        """Returns the model properties as a dict"""',
              "        result = {}",
              "        for attr, _ in six.iteritems(self.openapi_types):", "            value = getattr(self, attr)",
              "            result[attr] = value", "        return result", "", "    def __repr__(self):",
              '        """For `print` and `pprint`"""', "        return pprint.pformat(self.to_dict())", ""]
    return "\n".join(lines)


def client_sources(count: int, seed: int = 7) -> dict[str, str]:
    rng = random.Random(seed)
    return {f"client/models/model_{i}.py": model_module(rng, i) for i in range(count)}


def catalogs(kind: str, count: int, seed: int = 11) -> dict[str, str]:
    """Translation catalogs: the same messages in `count` languages (Django ships 1,226 such files)."""
    rng = random.Random(seed)
    messages = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + "." for _ in range(300)]
    out = {}
    for lang in range(count):
        entries = [f'#: contrib/admin/{rng.choice(WORDS)}.py:{rng.randint(10, 900)}\nmsgid "{message}"\n'
                   f'msgstr "{" ".join(rng.choice(WORDS)[::-1] for _ in message.split())}"\n' for message in messages]
        out[f"client/locale/l{lang}/LC_MESSAGES/django{kind}"] = (
            f'msgid ""\nmsgstr ""\n"Project-Id-Version: client\\n"\n"Language: l{lang}\\n"\n\n' + "\n".join(entries))
    return out


def members_of(sources: dict[str, str]) -> list[Member]:
    return [Member(name, text.encode()) for name, text in sources.items()]


@pytest.fixture(scope="module")
def runtime_dictionaries() -> dict[str, bytes]:
    """The dictionaries by kind, trained the way the runtime trains its own: on a standard library's files."""
    stdlib = Path(json.__file__).parents[1]
    members = [Member(str(p.relative_to(stdlib)), p.read_bytes()) for p in sorted(stdlib.glob("*.py"))]
    return dictionaries.by_kind(dictionaries.train(members))


def test_many_alike_files_get_a_dictionary_per_kind_that_pays_and_reads_back(runtime_dictionaries):
    members = [*members_of(client_sources(160)), *members_of(catalogs(".po", 40)),
               Member("client/data.json", b"{}" * 1000), Member("__amber_boot__.py", b"# boot code: stored\n" * 100),
               Member("client/models/model_0.pyc", b"compiled code keeps the runtime's dictionary" * 1000)]
    packed, made = with_own_dictionaries(members, None, runtime_dictionaries)
    assert sorted(own.kind for own in made) == [".po", ".py"]
    assert made[0].saved > made[1].saved > 0  # by what they save
    assert next(own for own in made if own.kind == ".py").members > 100
    named = {m.name: m for m in packed}
    held = dictionaries.by_id([*runtime_dictionaries.values(), *(named[own.member].data for own in made)])
    for own in made:
        trained = named[own.member].data
        assert own.member == f".amber/zstd/app{own.kind}-{dictionaries.dictionary_id(trained)}.dict"
        assert dictionaries.is_dictionary(own.member) and dictionaries.kind_of(own.member) is None  # writer's
        with_own = [m for m in packed if m.packed is not None and m.name.endswith(own.kind)]
        assert len(with_own) == own.members
        theirs = runtime_dictionaries.get(own.kind)
        for m in with_own:
            assert m.packed.method == ZSTD
            assert zstd_frame_dictionary(m.packed.payload) == dictionaries.dictionary_id(trained)
            assert zstd_decompress(m.packed.payload, len(m.data), held) == m.data
            assert len(m.packed.payload) < len(zstd_compress(m.data, packing.APP_LEVEL, theirs))
        shared = sum(len(zstd_compress(m.data, packing.APP_LEVEL, theirs)) for m in with_own)
        stored = len(zstd_compress(trained, 19))
        assert sum(len(m.packed.payload) for m in with_own) + stored + own.saved == shared
    assert all(named[name].packed is None for name in ("client/data.json", "__amber_boot__.py",
                                                       "client/models/model_0.pyc"))
    again, _ = with_own_dictionaries(list(reversed(members)), None, runtime_dictionaries)
    assert {m.name: m.packed for m in again} == {m.name: m.packed for m in packed}  # same bytes, any order
    assert {m.name for m in again} == set(named)


def test_at_most_six_dictionaries_the_ones_that_save_most(runtime_dictionaries):
    kinds = [".po", ".mo", ".txt", ".html", ".xml", ".json", ".ini", ".cfg"]
    members = [m for i, kind in enumerate(kinds) for m in members_of(catalogs(kind, 30 + 4 * i, seed=i))]
    _, made = with_own_dictionaries(members, None, runtime_dictionaries)
    assert len(made) == MAX_OWN
    assert [own.saved for own in made] == sorted((own.saved for own in made), reverse=True)
    assert {".cfg", ".ini"} <= {own.kind for own in made}  # the most files: the most saved


def test_few_files_or_incompressible_ones_or_no_compression_get_none(runtime_dictionaries):
    few = members_of(client_sources(20))
    assert with_own_dictionaries(few, None, runtime_dictionaries) == (few, [])
    rng = random.Random(3)
    noise = [Member(f"blob/m{i}.py", rng.randbytes(20_000)) for i in range(80)]  # nothing to share: cannot pay
    assert with_own_dictionaries(noise, None, runtime_dictionaries) == (noise, [])
    many = members_of(client_sources(160))
    assert with_own_dictionaries(many, False, runtime_dictionaries) == (many, [])
    at_level, made = with_own_dictionaries(many, 3, {})  # --compress 3, and a runtime without dictionaries
    assert len(made) == 1 and all(zstd_frame_dictionary(m.packed.payload) for m in at_level[:-1])


@pytest.mark.runtime
def test_an_app_reads_its_files_through_its_own_dictionaries(runtime: Path, tmp_path: Path, clean_env):
    """Sources (inspect, linecache) and data files (open() next to __file__) of the app's own kinds read back
    through the runtime's C file layer, which finds their dictionaries by the ids their frames name."""
    project = tmp_path / "client"
    files = {**client_sources(160), **catalogs(".po", 60)}
    for name, text in files.items():
        (project / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (project / "src" / name).write_text(text)
    (project / "src" / "client" / "__init__.py").write_text("")
    (project / "src" / "client" / "models" / "__init__.py").write_text("")
    (project / "src" / "client" / "configuration.py").write_text("class Configuration:\n    pass\n")
    (project / "src" / "client" / "cli.py").write_text(
        "import importlib\nimport inspect\nimport linecache\nimport os\nimport sys\n\n\n"
        "def main():\n"
        "    module = importlib.import_module('client.models.model_' + sys.argv[1])\n"
        "    print(inspect.getsource(module).splitlines()[-1])\n"
        "    print(linecache.getline(module.__file__, 17).strip())\n"
        "    here = os.path.dirname(os.path.dirname(module.__file__))\n"
        "    with open(os.path.join(here, 'locale', 'l' + sys.argv[1], 'LC_MESSAGES', 'django.po')) as f:\n"
        "        print(f.read().splitlines()[3])\n")
    (project / "MANIFEST.in").write_text("recursive-include src/client/locale *.po\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "client"\nversion = "1.0"\ndependencies = ["six==1.17.0"]\n'
        '[project.scripts]\nclient = "client.cli:main"\n'
        '[tool.setuptools.package-data]\nclient = ["locale/*/LC_MESSAGES/*.po"]\n'
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n')
    binary = tmp_path / "client-app"
    out = run([*AMBER, "build", project, "-o", binary], timeout=600)
    assert out.returncode == 0, out.stderr
    with zipfile.ZipFile(binary) as zf:
        build = json.loads(zf.read(".amber/build.json"))
    own = {d["kind"]: d for d in build["compression"]["app_dictionaries"]}
    assert sorted(own) == [".po", ".py"] and own[".py"]["members"] > 100 and own[".po"]["saved"] > 0
    read = {m.name: m for m in open_binary(binary).members()}
    for kind, name in ((".py", "client/models/model_42.py"), (".po", "client/locale/l42/LC_MESSAGES/django.po")):
        assert zstd_frame_dictionary(read[name].packed.payload) == dictionaries.dictionary_id(
            read[own[kind]["member"]].data) != 0
    runtime_py = next(m for name, m in read.items() if name.startswith(".amber/zstd/py-"))
    assert zstd_frame_dictionary(read["json/decoder.py"].packed.payload) == dictionaries.dictionary_id(runtime_py.data)
    source = files["client/models/model_42.py"].splitlines()
    catalog = files["client/locale/l42/LC_MESSAGES/django.po"].splitlines()
    got = run([binary, "42"], env=clean_env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == [source[-1], source[16].strip(), catalog[3]]
    text = run([*AMBER, "inspect", binary]).stdout
    assert "the app's own .po and .py files with dictionaries of their own" in text
    again = tmp_path / "again"
    assert run([*AMBER, "build", project, "-o", again], timeout=600).returncode == 0
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(binary.read_bytes()).digest()
