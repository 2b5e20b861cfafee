"""The one exception type that reaches the user as a one-line `amber: ...` message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amber.targets import Target


class AmberError(Exception):
    """A failure the user can act on: printed as one line, exit code 1, no traceback."""


class RuntimeMissing(AmberError):
    """The runtime an operation needs is not built yet; the CLI may offer to build it."""

    def __init__(self, python: str, version: str, target: Target | None = None) -> None:
        from amber import targets

        other = target is not None and target != targets.default()
        on, flag = (f" on {target.name}", f" --target {target.name}") if other else ("", "")
        super().__init__(f"no amber runtime for Python {version}{on} is built yet: run "
                         f"'amber runtime build --python {python}{flag}' first (about 20 minutes, once)")
        self.python = python
        self.target = target
