"""The compatibility matrix: model × platform × backend × precision × mode (``generate``:
inference in scenario generate, for the models that generate), each cell
✔ or ✖ with the reason, from the same capability checks `hwbench run` applies before
starting a worker, plus the last status observed in MLflow where one exists.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names as N
from ..backends import BACKEND_PLATFORMS
from ..catalog import ModelSpec
from ..config import BenchmarkConfig
from ..hardware import HardwareReport

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
    from ..tracking.reader import last_config_statuses
    from ..tracking.uri import resolve_tracking_uri

    return _newest_per_combination(last_config_statuses(resolve_tracking_uri(tracking_uri)))


def _newest_per_combination(rows: Any) -> dict[tuple[str, ...], tuple[str, str]]:
    """(model, hardware, backend, precision, mode, status, error category, run id) rows, newest
    first → the first row's "status[: category]" and run id per combination."""
    seen: dict[tuple[str, ...], tuple[str, str]] = {}
    for model, hw, backend, precision, mode, status, category, run_id in rows:
        key = (model or "", hw or "", backend or "", precision or "", mode or "")
        if key not in seen:
            seen[key] = ((status or "") + (f": {category}" if category else ""), run_id)
    return seen


def last_observed_in_mirror(db_path: str | os.PathLike[str]) -> dict[tuple[str, ...], tuple[str, str]]:
    """The same answer as :func:`last_observed`, from the DuckDB mirror (no MLflow query)."""
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        rows = con.execute(
            "SELECT model, hardware, backend, precision,"
            " CASE WHEN scenario = 'generate' THEN 'generate' ELSE mode END, status, error_category, mlflow_run_id"
            " FROM results ORDER BY created_at DESC, mlflow_run_id"
        ).fetchall()
    finally:
        con.close()
    return _newest_per_combination(rows)


def compatibility_matrix(
    specs: Sequence[ModelSpec],
    platforms: Sequence[str],
    report: HardwareReport,
    observed: dict[tuple[str, ...], tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per model × platform × backend × precision × mode (long format)."""
    import pandas as pd

    from ..plan import devices_for, precheck

    observed = observed or {}
    rows: list[dict[str, Any]] = []
    for spec, platform in itertools.product(specs, platforms):
        backends = platform_backends(platform) or ["none"]
        info = report.get(platform)
        modes = (*N.MODES, N.GENERATE) if spec.generative else N.MODES  # "generate": inference, scenario generate
        for backend, precision, mode in itertools.product(backends, N.PRECISIONS, modes):
            device = devices_for(platform, report, backend)[0]
            if backend == "none":
                blocked: tuple[str, str] | None = (
                    "unavailable" if not info.available else "unsupported",
                    (f"{platform} is not available on this host: {info.reason}" if not info.available else "")
                    + f"; no backend for {platform} in this version of hwbench",
                )
            else:
                if mode == N.GENERATE:
                    cfg = BenchmarkConfig(
                        spec.key, platform, backend, device, precision, 1, "inference", N.GENERATE, 128, 1, 1
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


def init_db(
    db_path: str,
    *,
    models: Sequence[str] | None = None,
    category: str | None = None,
    hardware: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1,),
    precisions: Sequence[str] | None = None,
    modes: Sequence[str] = ("inference",),
    scenarios: Sequence[str] = ("latency",),
) -> dict[str, int]:
    """The seeds' ``--init-db``: the DuckDB schema plus a pending plan row for every
    compatible model × platform × backend × device × precision × batch × mode × scenario
    (default: the catalog × the platforms detected here), and this detection in the
    availability log. Existing rows stay; the plan's status comes from synced results."""
    from ..hardware import detect_hardware
    from ..mirror.query import check_mirror_opens
    from ..mirror.store import MirrorStore, detection_rows
    from ..plan import devices_for, select_models

    specs = select_models(list(models or []), category, all_models=models is None)
    if Path(db_path).is_file():  # a corrupted file is said before the (slow) hardware detection
        check_mirror_opens(db_path)
    report = detect_hardware()
    platforms = list(hardware) if hardware else report.available()
    frame = compatibility_matrix(specs, platforms, report)
    frame = frame[frame["compatible"] & frame["precision"].isin(precisions or N.PRECISIONS) & frame["mode"].isin(modes)]
    host = report.host
    names = {s.key: s for s in specs}
    model_rows, platform_rows, plan = {}, {}, []
    for r in frame.itertuples(index=False):
        spec = names[r.model]
        model_rows[spec.key] = {"model_id": spec.key, "model_name": spec.name, "category": spec.category}
        for device in devices_for(r.platform, report, r.backend):
            hardware_id = f"{host}/{r.platform}/{device}"
            platform_rows[hardware_id] = {
                "hardware_id": hardware_id,
                "hardware_type": r.platform,
                "hardware_name": report.get(r.platform).name or r.platform,
                "device": device,
                "host": host,
            }
            for batch, scenario in itertools.product(batch_sizes, scenarios):
                key = (spec.key, hardware_id, r.backend, r.precision, batch, r.mode, scenario)
                plan.append(
                    dict(
                        zip(
                            ("model_id", "hardware_id", "backend", "precision", "batch_size", "mode", "scenario"),
                            key,
                            strict=True,
                        )
                    )
                )
                plan[-1]["plan_key"] = "|".join(map(str, key))
    detection = detection_rows(report)
    with MirrorStore(db_path) as store:
        with store.transaction():
            store.upsert_dimensions(list(model_rows.values()), list(platform_rows.values()))
            new = store.add_plan(plan)
            store.log_availability(detection)
            store.settle()
        with store.transaction():
            store.gc_dimensions()
        pending = store.pending_plan_count()
        version = store.schema_version()
    return {"schema_version": version, "planned": len(plan), "new": new, "pending": pending}


def matrix(
    models: Sequence[str] | None = None,
    *,
    category: str | None = None,
    hardware: Sequence[str] | None = None,
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    tracking_uri: str | None = None,
    history: bool = True,
) -> pd.DataFrame:
    """The compatibility matrix of this host as a DataFrame (``MATRIX_COLUMNS``): one row per
    model × platform × backend × precision × mode (default: the catalog × every platform).

    ``history``: fill ``last_status`` / ``last_run_id`` from ``tracking_uri`` when given, else
    from the mirror ``db_path`` when it exists, else from the default MLflow store."""
    from ..hardware import detect_hardware
    from ..plan import select_models

    specs = select_models(list(models or []), category, models is None)
    platforms = list(hardware) if hardware is not None else list(N.PLATFORMS)
    observed: dict[tuple[str, ...], tuple[str, str]] = {}
    if history and tracking_uri:
        from ..tracking.uri import check_tracking_uri

        check_tracking_uri(tracking_uri)
    if history and tracking_uri is None and Path(db_path).exists():  # analysis reads DuckDB (DESIGN)
        observed = last_observed_in_mirror(db_path)
    elif history:
        observed = last_observed(tracking_uri)
    return compatibility_matrix(specs, platforms, detect_hardware(), observed)
