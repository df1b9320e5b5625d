"""The ``hwbench`` command line: parse, call the API, render."""

from .app import cli, main

__all__ = ["cli", "main"]
