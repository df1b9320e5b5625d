"""hwbench_mlflow: hardware benchmarking for ML models, recorded in MLflow.

The public surface is small and imports nothing heavy until used::

    import hwbench_mlflow as hb
    sweep = hb.run_benchmark("bert-tiny", batch_sizes=[1, 8], precision=["fp32", "int8"])
    sweep.to_frame()
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["BadInputError", "HwbenchError", "MeasureSettings", "detect_hardware", "list_models", "run_benchmark"]

from .config import MeasureSettings
from .errors import BadInputError, HwbenchError


def run_benchmark(*args: Any, **kwargs: Any) -> Any:
    """Benchmark a plan as nested MLflow runs; see :func:`hwbench_mlflow.runner.run_benchmark`."""
    from .runner import run_benchmark as _run

    return _run(*args, **kwargs)


def detect_hardware() -> Any:
    """What is really present (see :mod:`hwbench_mlflow.hardware`)."""
    from .hardware import detect_hardware as _detect

    return _detect()


def list_models() -> Any:
    """The catalog as a DataFrame."""
    import pandas as pd

    from .catalog import CATALOG

    return pd.DataFrame(
        [{"key": s.key, "hf_id": s.hf_id, "category": s.category, "inputs": s.inputs} for s in CATALOG.values()]
    )
