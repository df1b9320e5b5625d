"""Runtime backends: one module per runtime, registered in :mod:`hwbench_mlflow.runtimes`.

Classes are named by dotted path and imported only when used (inside the worker), so
plans and configs load without the runtime installed.
"""

from __future__ import annotations

import importlib

from ..errors import BadInputError
from ..runtimes import RUNTIMES, Runtime
from .base import Backend

BACKENDS: dict[str, str] = {r.name: r.class_path for r in RUNTIMES}  # name → "module:Class"
BACKEND_PLATFORMS: dict[str, tuple[str, ...]] = {r.name: r.platforms for r in RUNTIMES}  # where each executes
GENERATE_ONLY: frozenset[str] = frozenset(r.name for r in RUNTIMES if r.generate_only)  # scenario generate only


def get_backend_class(name: str) -> type[Backend]:
    """Import and return the backend class registered under ``name``."""
    try:
        module_name, _, cls_name = BACKENDS[name].partition(":")
    except KeyError:
        raise BadInputError(f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), cls_name)


__all__ = ["BACKENDS", "BACKEND_PLATFORMS", "GENERATE_ONLY", "RUNTIMES", "Backend", "Runtime", "get_backend_class"]
