"""amber build: from a pyproject project to one executable file (host side).

project  -- pyproject.toml and [tool.amber], merged with the command line
resolve  -- the wheel and its dependencies, installed for the runtime with uv
app      -- compile, assemble and write the binary
"""
