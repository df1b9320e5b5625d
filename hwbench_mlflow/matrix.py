"""The compatibility matrix: model × platform × backend × precision × mode, each cell
✔ or ✖ with the reason, from the same capability checks `hwbench run` applies before
starting a worker, plus the last status observed in MLflow where one exists.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import names as N
from .backends import BACKEND_PLATFORMS
from .catalog import ModelSpec
from .config import BenchmarkConfig
from .hardware import HardwareReport

if TYPE_CHECKING:
    import pandas as pd

MATRIX_COLUMNS = (
    "model",
    "category",
    "platform",
    "backend",
    "precision",
    "mode",
    "compatible",
    "category_if_not",
    "reason",
    "last_status",
    "last_run_id",
)


def platform_backends(platform: str) -> list[str]:
    """Backends that can execute on ``platform`` (empty: no backend in this version)."""
    return [b for b, platforms in BACKEND_PLATFORMS.items() if platform in platforms]


def last_observed(tracking_uri: str | None) -> dict[tuple[str, ...], tuple[str, str]]:
    """(model, platform, backend, precision, mode) → (status, run id) of the newest config run.

    Reads only a store that already exists: a matrix never creates an MLflow database.
    """
    from .tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(uri[len("sqlite:///") :]).exists():
            return {}
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    if not exps:
        return {}
    runs = client.search_runs(
        exps, f"tags.`{N.T_ROLE}` = 'config'", max_results=5000, order_by=["attributes.start_time DESC"]
    )
    seen: dict[tuple[str, ...], tuple[str, str]] = {}
    for r in runs:
        p, t = r.data.params, r.data.tags
        key = (
            p.get("model", ""),
            p.get("hardware", ""),
            p.get("backend", ""),
            p.get("precision", ""),
            p.get("mode", ""),
        )
        if key not in seen:
            status = t.get(N.T_STATUS, "")
            if t.get(N.T_ERROR_CATEGORY):
                status += f": {t[N.T_ERROR_CATEGORY]}"
            seen[key] = (status, r.info.run_id)
    return seen


def compatibility_matrix(
    specs: Sequence[ModelSpec],
    platforms: Sequence[str],
    report: HardwareReport,
    observed: dict[tuple[str, ...], tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per model × platform × backend × precision × mode (long format)."""
    import pandas as pd

    from .runner import precheck

    observed = observed or {}
    rows: list[dict[str, Any]] = []
    for spec, platform in itertools.product(specs, platforms):
        backends = platform_backends(platform) or ["none"]
        info = report.get(platform)
        device = info.devices[0] if info.available and info.devices else "none"
        for backend, precision, mode in itertools.product(backends, N.PRECISIONS, N.MODES):
            if backend == "none":
                blocked: tuple[str, str] | None = (
                    "unavailable" if not info.available else "unsupported",
                    (f"{platform} is not available on this host: {info.reason}" if not info.available else "")
                    + f"; no backend for {platform} in this version of hwbench",
                )
            else:
                cfg = BenchmarkConfig(spec.key, platform, backend, device, precision, 1, mode)
                blocked = precheck(cfg, report)
            status, run_id = observed.get((spec.key, platform, backend, precision, mode), ("", ""))
            rows.append(
                {
                    "model": spec.key,
                    "category": spec.category,
                    "platform": platform,
                    "backend": backend,
                    "precision": precision,
                    "mode": mode,
                    "compatible": blocked is None,
                    "category_if_not": blocked[0] if blocked else "",
                    "reason": blocked[1].lstrip("; ") if blocked else "",
                    "last_status": status,
                    "last_run_id": run_id,
                }
            )
    return pd.DataFrame(rows, columns=list(MATRIX_COLUMNS))
