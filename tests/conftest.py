"""Fixtures over tests/_util.py: run the real CLI as a subprocess, isolated from the caller's MLflow store."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._util import CLI_TIMEOUT_S, run_cli
from tests._util import clean_env as _clean_env

os.environ["COLUMNS"] = "160"  # in-process CLI calls (CliRunner) read whole tables too; CI sets 80


@pytest.fixture
def hwbench(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``hwbench ARGS`` with cwd = this test's fresh ``tmp_path``."""

    def _run(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), tmp_path, timeout)

    return _run


@pytest.fixture
def clean_env() -> dict[str, str]:
    """Environment for subprocesses: no MLFLOW_* variables, no HWBENCH_DEBUG."""
    return _clean_env()
