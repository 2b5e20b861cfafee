"""Real tools, first try (issue #20): wrapper projects of popular command line tools from PyPI, and `run.py`,
which builds each into one file, uses it in an empty chroot and writes the real tools section of docs/compat.md.
tests/test_realapps.py drives it."""
