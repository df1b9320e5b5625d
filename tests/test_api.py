"""The public API: real functions with their own signatures, nothing heavy imported until used."""

from __future__ import annotations

import inspect
import subprocess
import sys

import hwbench_mlflow as hb


def test_every_public_name_is_the_real_function_with_its_signature() -> None:
    params = inspect.signature(hb.run_benchmark).parameters
    assert {"model", "batch_sizes", "precision", "settings", "tracking_uri", "db_path"} <= set(params)
    assert "memory_limit_mb" in inspect.signature(hb.search).parameters
    assert list(inspect.signature(hb.compare).parameters)[:2] == ["db_path", "baseline"]
    for name in hb.__all__:
        value = getattr(hb, name)
        assert value.__doc__, name  # help(hb.NAME) says something
        if inspect.isfunction(value):
            assert "args" not in inspect.signature(value).parameters, name  # no *args forwarding wrapper
    assert set(hb.__all__) <= set(dir(hb))


def test_import_is_light() -> None:
    code = "import sys, hwbench_mlflow; print(sorted(m for m in ('torch', 'mlflow', 'duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
