"""Compatibility fixture, CLI group: each check uses its package for real and raises if anything is off.

`compat-cli` runs every check and prints one line per package, then a summary line ending in OK;
`compat-cli NAME...` runs some; `compat-cli import NAME` only imports NAME's modules (start-up timing).
"""


from ._harness import check
from ._harness import main as _main


@check("click", "click")
def check_click():
    import click
    from click.testing import CliRunner

    @click.group()
    def cli():
        pass

    @cli.command()
    @click.option("--count", type=int, default=1)
    @click.argument("name")
    def greet(count, name):
        for _ in range(count):
            click.echo(f"hi {name}")

    runner = CliRunner()
    result = runner.invoke(cli, ["greet", "--count", "2", "amber"])
    assert result.exit_code == 0 and result.output == "hi amber\nhi amber\n", result.output
    bad = runner.invoke(cli, ["greet", "--count", "x", "amber"])
    assert bad.exit_code == 2 and "not a valid integer" in bad.output, bad.output
    return "group, options, usage error exit code 2"


@check("rich", "rich.console", "rich.table", "rich.markdown", "rich.syntax")
def check_rich():
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console(record=True, width=60, force_terminal=True, color_system="truecolor")
    table = Table("package", "result")
    table.add_row("rich", "[green]OK[/]")
    console.print(table)
    console.print(Markdown("# Title\n\n* one\n* two"))
    console.print(Syntax("def f():\n    return 42\n", "python", theme="monokai"))  # pygments lexer and style
    text = console.export_text(clear=False)
    assert "│ rich" in text and "• one" in text and "return 42" in text, text
    svg = console.export_svg()
    assert svg.startswith("<svg") and "#a6e22e" in svg.lower(), "no monokai colours"
    return "table, markdown, syntax highlighting (pygments), SVG export"


@check("typer", "typer")
def check_typer():
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.command()
    def add(a: int, b: int, shout: bool = False):
        """Add two numbers."""
        text = f"sum {a + b}"
        typer.echo(text.upper() if shout else text)

    @app.command()
    def other():
        pass

    runner = CliRunner()
    result = runner.invoke(app, ["add", "2", "40", "--shout"])
    assert result.exit_code == 0 and result.output == "SUM 42\n", result.output
    helped = runner.invoke(app, ["add", "--help"], env={"COLUMNS": "80"})
    assert helped.exit_code == 0 and "Add two numbers." in helped.output and "--shout" in helped.output, helped.output
    assert runner.invoke(app, ["add", "x", "1"]).exit_code == 2
    return "typed arguments, --help through rich, usage error"


# ---- the same harness in every compat fixture ----

def main():
    return _main("cli")
