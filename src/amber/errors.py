"""The one exception type that reaches the user as a one-line `amber: ...` message."""


class AmberError(Exception):
    """A failure the user can act on: printed as one line, exit code 1, no traceback."""
