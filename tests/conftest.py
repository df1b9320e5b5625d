"""Shared helpers: run the real CLI as a subprocess, isolated from the caller's MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CLI_TIMEOUT_S = 60


def cli_env() -> dict[str, str]:
    """The current environment without anything that would redirect logging or change error output."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "HWBENCH_DEBUG")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """``python -m hwbench_mlflow ARGS`` in ``cwd`` with MLFLOW_TRACKING_URI unset."""
    return subprocess.run(
        [sys.executable, "-m", "hwbench_mlflow", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def hwbench(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``hwbench ARGS`` with cwd = this test's fresh ``tmp_path``."""

    def _run(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), tmp_path, timeout)

    return _run


@pytest.fixture
def clean_env() -> dict[str, str]:
    """Environment for subprocesses: no MLFLOW_TRACKING_URI, MLFLOW_RUN_ID or HWBENCH_DEBUG."""
    return cli_env()
