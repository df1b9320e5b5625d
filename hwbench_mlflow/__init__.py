"""hwbench_mlflow: hardware benchmarking for ML models, recorded in MLflow.

The public surface is small and imports nothing heavy until used::

    import hwbench_mlflow as hb
    sweep = hb.run_benchmark("bert-tiny", batch_sizes=[1, 8], precision=["fp32", "int8"])
    sweep.to_frame()                            # the mirror (hwbench.duckdb) is synced after it
    hb.sync()                                   # MLflow → DuckDB, on demand
    hb.sql("SELECT * FROM results")             # a DataFrame
    hb.search("bert-tiny", memory_limit_mb=2048)  # the best batch size that fits
    hb.recommend()                              # the five criteria, per model
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "BadInputError",
    "HwbenchError",
    "MeasureSettings",
    "analyze",
    "connect",
    "detect_hardware",
    "export",
    "init_db",
    "list_models",
    "recommend",
    "run_benchmark",
    "search",
    "sql",
    "sync",
]

from .config import MeasureSettings
from .errors import BadInputError, HwbenchError


def run_benchmark(*args: Any, **kwargs: Any) -> Any:
    """Benchmark a plan as nested MLflow runs; see :func:`hwbench_mlflow.runner.run_benchmark`."""
    from .runner import run_benchmark as _run

    return _run(*args, **kwargs)


def sync(*args: Any, **kwargs: Any) -> Any:
    """Mirror MLflow runs into DuckDB; see :func:`hwbench_mlflow.mirror_sync.sync`."""
    from .mirror_sync import sync as _sync

    return _sync(*args, **kwargs)


def search(*args: Any, **kwargs: Any) -> Any:
    """Optuna batch-size search under a memory limit; see :func:`hwbench_mlflow.batch_search.run_search`."""
    from .batch_search import run_search

    return run_search(*args, **kwargs)


def recommend(*args: Any, **kwargs: Any) -> Any:
    """Recommendations from the DuckDB mirror; see :func:`hwbench_mlflow.recommender.recommend`."""
    from .recommender import recommend as _recommend

    return _recommend(*args, **kwargs)


def analyze(*args: Any, **kwargs: Any) -> Any:
    """Comparative analysis from the DuckDB mirror; see :func:`hwbench_mlflow.comparative.analyze`."""
    from .comparative import analyze as _analyze

    return _analyze(*args, **kwargs)


def sql(query: str, db_path: str = "hwbench.duckdb") -> Any:
    """A read-only query on the DuckDB mirror, as a DataFrame."""
    from .store import sql as _sql

    return _sql(query, db_path)


def connect(db_path: str = "hwbench.duckdb") -> Any:
    """A read-only DuckDB connection to the mirror (``connect().sql("...").df()``)."""
    from .store import connect as _connect

    return _connect(db_path)


def export(*args: Any, **kwargs: Any) -> Any:
    """Tables of the mirror to Parquet / CSV / JSON; see :func:`hwbench_mlflow.store.export`."""
    from .store import export as _export

    return _export(*args, **kwargs)


def init_db(*args: Any, **kwargs: Any) -> Any:
    """Schema + pending plan rows; see :func:`hwbench_mlflow.matrix.init_db`."""
    from .matrix import init_db as _init

    return _init(*args, **kwargs)


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
