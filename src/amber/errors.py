"""The one exception type that reaches the user as a one-line `amber: ...` message."""


class AmberError(Exception):
    """A failure the user can act on: printed as one line, exit code 1, no traceback."""


class RuntimeMissing(AmberError):
    """The runtime an operation needs is not built yet; the CLI may offer to build it."""

    def __init__(self, python: str, version: str) -> None:
        super().__init__(f"no amber runtime for Python {version} is built yet: run "
                         f"'amber runtime build --python {python}' first (about 20 minutes, once)")
        self.python = python
