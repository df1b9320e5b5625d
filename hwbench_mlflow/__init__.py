"""hwbench_mlflow: hardware benchmarking for ML models, recorded in MLflow.

The public surface is small and imports nothing heavy until used::

    import hwbench_mlflow as hb
    sweep = hb.run_benchmark("bert-tiny", batch_sizes=[1, 8], precision=["fp32", "int8"])
    sweep.to_frame()                            # the mirror (hwbench.duckdb) is synced after it
    hb.sync()                                   # MLflow → DuckDB, on demand
    hb.sql("SELECT * FROM results")             # a DataFrame
    hb.search("bert-tiny", memory_limit_mb=2048)  # the best batch size that fits
    hb.recommend()                              # the five criteria, per model
    hb.compare("hwbench.duckdb", hb.read_baseline("base.csv"))  # regressions against a baseline
    hb.plots("hwbench.duckdb", "plots/")        # every plot as PNG + plots.html; their paths
    hb.report("hwbench.duckdb", "report.html")  # the HTML report
    hb.matrix(hardware=["cpu"])                 # what runs here: model × platform × backend × precision
    hb.publish_table(hb.analyze(), "analysis")  # a table on an MLflow run (publish_files: plots, reports)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import MeasureSettings
from .errors import BadInputError, HwbenchError

__version__ = "0.1.0"

# The public API: name → (module, function). Each is the real function, imported on first
# use (PEP 562), so ``import hwbench_mlflow`` stays light and ``help(hb.run_benchmark)`` /
# ``inspect.signature`` show its own parameters and docstring.
_API = {
    "run_benchmark": ("runner", "run_benchmark"),
    "search": ("batch_search.study", "run_search"),
    "sync": ("mirror.sync", "sync"),
    "sql": ("mirror.query", "sql"),
    "connect": ("mirror.query", "connect"),
    "export": ("mirror.query", "export"),
    "init_db": ("reporting.matrix", "init_db"),
    "detect_hardware": ("hardware", "detect_hardware"),
    "recommend": ("reporting.recommend", "recommend"),
    "analyze": ("reporting.comparative", "analyze"),
    "cross_platform": ("reporting.comparative", "cross_platform"),
    "compare": ("reporting.comparative", "compare_to_baseline"),
    "read_baseline": ("reporting.comparative", "read_baseline"),
    "baseline_from_sweep": ("reporting.comparative", "baseline_from_sweep"),
    "plots": ("reporting.plots", "draw_plots"),
    "report": ("reporting.report", "write_report"),
    "matrix": ("reporting.matrix", "matrix"),
    "publish_table": ("reporting.publish", "publish_table"),
    "publish_files": ("reporting.publish", "publish_files"),
}

__all__ = [
    "BadInputError",
    "HwbenchError",
    "MeasureSettings",
    "analyze",
    "baseline_from_sweep",
    "compare",
    "connect",
    "cross_platform",
    "detect_hardware",
    "export",
    "init_db",
    "list_models",
    "matrix",
    "plots",
    "publish_files",
    "publish_table",
    "read_baseline",
    "recommend",
    "report",
    "run_benchmark",
    "search",
    "sql",
    "sync",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .batch_search.study import run_search as search
    from .hardware import detect_hardware
    from .mirror.query import connect, export, sql
    from .mirror.sync import sync
    from .reporting.comparative import analyze, baseline_from_sweep, cross_platform, read_baseline
    from .reporting.comparative import compare_to_baseline as compare
    from .reporting.matrix import init_db, matrix
    from .reporting.plots import draw_plots as plots
    from .reporting.publish import publish_files, publish_table
    from .reporting.recommend import recommend
    from .reporting.report import write_report as report
    from .runner import run_benchmark


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _API[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


def list_models() -> Any:
    """The catalog as a DataFrame: key, hf_id, category, inputs."""
    import pandas as pd

    from .catalog import CATALOG

    return pd.DataFrame(
        [{"key": s.key, "hf_id": s.hf_id, "category": s.category, "inputs": s.inputs} for s in CATALOG.values()]
    )
