"""Typed errors. Each carries the exit code the CLI uses and never needs a traceback."""

from __future__ import annotations


class HwbenchError(Exception):
    """An error a user can act on: printed as one line, exit code ``exit_code``."""

    exit_code = 2


class BadInputError(HwbenchError):
    """Invalid user input (unknown names, malformed values, unreachable URIs)."""

    exit_code = 2


class ConfigFailure(Exception):
    """A config that could not be measured; ``category`` is one of names.ERROR_CATEGORIES."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = " ".join(str(message).split())[:500]


class UnsupportedError(ConfigFailure):
    """The hardware/runtime cannot run this combination (e.g. fp16 on a CPU without fp16 units)."""

    def __init__(self, message: str) -> None:
        super().__init__("unsupported", message)
