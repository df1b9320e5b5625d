"""Typed errors. Each carries the exit code the CLI uses and never needs a traceback."""

from __future__ import annotations

import re
from collections.abc import Mapping


class HwbenchError(Exception):
    """An error a user can act on: printed as one line, exit code ``exit_code``."""

    exit_code = 2


class BadInputError(HwbenchError):
    """Invalid user input (unknown names, malformed values, unreachable URIs).

    A library error about an argument names it as the library does (``warmup must be >= 0``)
    and says which in ``param``; ``params`` is every argument the message names (``param``
    first). A front end that calls the argument something else (the CLI: ``--warmup``) says
    the message in its own words with :meth:`renamed`."""

    exit_code = 2

    def __init__(self, message: str = "", *, param: str | None = None, params: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.param = param
        self.params = tuple(dict.fromkeys((param, *params) if param else params))

    def __reduce__(self) -> tuple[object, ...]:  # keeps param/params across processes
        return (_bad_input, (type(self), str(self), self.param, self.params))

    def renamed(self, names: Mapping[str, str]) -> str:
        """The message with each argument of ``params`` that ``names`` knows under its name
        there (a whole word, not inside a quoted value): ``names={"warmup": "--warmup"}``."""
        message = str(self)
        for param in self.params:
            if param in names:
                word = re.compile(rf"(?<![\w'-]){re.escape(param)}(?![\w'])")
                message = word.sub(lambda _, name=names[param]: name, message, count=1)
        return message


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


def _bad_input(cls: type[BadInputError], message: str, param: str | None, params: tuple[str, ...]) -> BadInputError:
    return cls(message, param=param, params=params)
