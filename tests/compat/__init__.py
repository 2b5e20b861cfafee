"""The compatibility suite (issue #6): fixture apps per group of popular packages, and `run.py`, which
builds them, runs them in an empty chroot and writes docs/compat.md. tests/test_compat.py drives it."""
