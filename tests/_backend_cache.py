"""A model cache per backend test module, away from ~/.cache (import the two fixtures it makes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def isolated_cache(prefix: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The fixtures ``cache_dir`` (one temporary directory per module) and ``cache`` (that
    directory as ``HWBENCH_CACHE_DIR``, so the module's tests export/convert each shape once)."""

    @pytest.fixture(scope="module")
    def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp(prefix)

    @pytest.fixture
    def cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setenv("HWBENCH_CACHE_DIR", str(cache_dir))
        return cache_dir

    return cache_dir, cache
