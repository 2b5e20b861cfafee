"""amber: turn a Python project into one portable Linux executable file."""

__version__ = "0.1.0"
