"""The user documentation agrees with the command line, and its links lead somewhere.

Every long flag of `amber` and of each subcommand's `--help` must be described in the
section of docs/configuration.md headed by that command, every `[tool.amber]` key in a
table row of the `[tool.amber]` section, and every relative link of docs/*.md and README.md must name an existing
file (and, for a `#fragment`, a heading of it). Only the CLI -> docs direction is checked:
the docs may describe more (options being added).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from amber.builder.project import TOOL_OPTIONS
from amber.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = DOCS / "configuration.md"
TOOL_HEADING = "`[tool.amber]`"

FENCE_RE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
CODE_SPAN_RE = re.compile(r"``.+?``|`[^`\n]*`")
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def cli_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("amber",)
                 ) -> Iterator[tuple[str, list[str]]]:
    """("amber cache clean", its long flags) for the parser and every subcommand below it."""
    flags = sorted(opt for action in parser._actions for opt in action.option_strings
                   if opt.startswith("--") and opt != "--help")
    yield " ".join(path), flags
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from cli_commands(sub, (*path, name))


def without_code_blocks(text: str) -> str:
    return FENCE_RE.sub("", text)


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, title, offset) of every heading outside fenced code."""
    text = FENCE_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)  # blanked: offsets kept
    return [(len(m.group(1)), m.group(2), m.start()) for m in HEADING_RE.finditer(text)]


def section(text: str, marker: str) -> str | None:
    """The text under the first heading whose title contains `marker`, down to the next
    heading of the same or a higher level (subsections included)."""
    found = headings(text)
    for i, (level, title, start) in enumerate(found):
        if marker in title:
            end = next((s for lvl, _, s in found[i + 1:] if lvl <= level), len(text))
            return text[start:end]
    return None


def mentions(text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def missing_flags(doc: str) -> list[str]:
    """'amber build --locked'-style names of what the CLI has and `doc` does not describe."""
    missing = []
    for command, flags in cli_commands(build_parser()):
        body = section(doc, f"`{command}`")
        if body is None:
            missing.append(f"{command} (no section headed `{command}`)")
            continue
        missing += [f"{command} {flag}" for flag in flags if not mentions(body, flag)]
    return missing


def missing_keys(doc: str) -> list[str]:
    body = section(doc, TOOL_HEADING)
    if body is None:
        return [f"(no section headed {TOOL_HEADING})"]
    # A row of the keys' table: | `key` | type | default | ...
    return [key for key in TOOL_OPTIONS if not re.search(rf"^\|\s*`{re.escape(key)}`\s*\|", body, re.M)]


def slug(title: str) -> str:
    """The anchor a heading gets when the Markdown is rendered (GitHub's rule)."""
    text = re.sub(r"<[^>]+>", "", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, title, _ in headings(path.read_text(encoding="utf-8")):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    text = CODE_SPAN_RE.sub("", without_code_blocks(path.read_text(encoding="utf-8")))
    broken = []
    for match in LINK_RE.finditer(text):
        target = match.group(1)
        if SCHEME_RE.match(target):
            continue  # a web address: not checked here
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{path.name}: {target} (no such heading in {dest.name})")
    return broken


def test_every_cli_flag_is_in_the_configuration_reference():
    assert missing_flags(CONFIG.read_text(encoding="utf-8")) == []


def test_every_tool_amber_key_is_in_the_configuration_reference():
    assert missing_keys(CONFIG.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path):
    assert broken_links(path) == []


def test_the_commands_seen_are_the_real_ones():
    """The parser walk finds the subcommands and flags the user sees in --help."""
    commands = dict(cli_commands(build_parser()))
    assert {"amber", "amber build", "amber inspect", "amber venv", "amber cache", "amber cache clean",
            "amber runtime build"} <= set(commands)
    assert "--locked" in commands["amber build"] and "--older-than" in commands["amber cache clean"]
    assert "--version" in commands["amber"] and "--jobs" in commands["amber runtime path"]


def test_the_checks_can_fail(tmp_path: Path):
    doc = CONFIG.read_text(encoding="utf-8")
    undocumented = re.sub(r"(?<![\w-])--requirements(?![\w-])", "--reqs", doc)
    assert "amber build --requirements" in missing_flags(undocumented)
    no_section = doc.replace("`amber cache clean`", "cache clean")
    assert any(m.startswith("amber cache clean") for m in missing_flags(no_section))
    assert missing_keys(doc.replace("| `no-extract` |", "| no-extract |")) == ["no-extract"]
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere) `[code](x.md)`\n"
                    "```\n[fenced](y.md)\n```\n[web](https://example.invalid/x)\n")
    assert broken_links(page) == ["page.md: missing.md (no such file)",
                                  "page.md: #nowhere (no such heading in page.md)"]


def architecture_tree() -> set[str]:
    """The files docs/ARCHITECTURE.md's tree names (src/amber/ relative; a directory entry `patches/` for
    its files)."""
    text = (DOCS / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tree = re.search(r"```\nsrc/amber/\n(.*?)```", text, re.S).group(1)
    named, parents = set(), []
    for line in tree.splitlines():
        match = re.match(r"^( +)(\S+)", line)
        if not match or len(match.group(1)) % 2 or len(match.group(1)) > 8 or "/" in match.group(2)[:-1]:
            continue  # not an entry: a description's continuation is indented past the names
        depth, name = len(match.group(1)) // 2 - 1, match.group(2)
        if not re.match(r"^[\w.-]+/?$", name):
            continue  # a continuation line of a description
        parents = parents[:depth]
        named.add("/".join([*parents, name]).rstrip("/"))
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
    return named


def test_architecture_tree_matches_the_files():
    """Every module and data file of src/amber is in docs/ARCHITECTURE.md's tree, and nothing else is."""
    source = ROOT / "src" / "amber"
    files = {p.relative_to(source).as_posix() for p in source.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py" and p.suffix != ".patch"}
    named = architecture_tree()
    directories = {name for name in named if (source / name).is_dir()}
    assert named - directories == files
