"""Test support shipped with the package: the in-process venue (harness.py)."""
