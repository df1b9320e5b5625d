"""Comparative analysis from the DuckDB mirror (never MLflow): ``hwbench analyze`` and
``hwbench compare --cross-platform | --batch-scaling | --compare-to``.

Statistics come from the raw samples where the mirror holds them (``latency_samples``):
distribution-free order-statistic CIs of p50 and p99, Mann-Whitney U between two
configurations' per-iteration latencies; otherwise from the runs' own summaries (the
p50 CI each run logged), with a normal approximation to turn two CIs into a p-value.
Regressions need both size (``--regression-alert``) and significance after a
Benjamini-Hochberg correction across the configurations compared.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError, HwbenchError
from ..names import MEMORY_MB_SQL

if TYPE_CHECKING:
    import pandas as pd

CONFIG_KEYS = ("model", "hardware", "device", "host", "backend", "precision", "batch_size", "mode", "scenario")
MATCH_KEYS = ("model", "hardware", "backend", "precision", "batch_size", "mode", "scenario")
# what `hwbench analyze` shows on screen (the file gets every column)
SUMMARY_COLUMNS = [
    "model",
    "hardware",
    "backend",
    "precision",
    "batch_size",
    "throughput_samples_per_s",
    "latency_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "latency_p99_ms",
    "memory_mb",
    "speedup_throughput",
    "is_simulated",
]
# what `hwbench compare` shows on screen, per kind
CROSS_PLATFORM_COLUMNS = [
    "model",
    "batch_size",
    "config",
    "throughput_samples_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "memory_mb",
    "winner_throughput",
    "winner_p50",
    "winner_memory",
    "winner_p_value",
    "winner_significant",
]
BATCH_SCALING_COLUMNS = [
    *SUMMARY_COLUMNS[:5],
    "throughput_samples_per_s",
    "latency_p50_ms",
    "speedup_vs_batch1",
    "scaling_efficiency",
    "saturates_at",
]
REGRESSION_COLUMNS = [
    *SUMMARY_COLUMNS[:5],
    "throughput_samples_per_s_base",
    "throughput_samples_per_s",
    "delta_pct",
    "p_adjusted",
    "test",
    "verdict",
]
SATURATION = 0.95  # throughput saturates at the smallest batch reaching this share of the best
ALPHA = 0.05


class NoDataError(HwbenchError):
    exit_code = 1


def _latest(db_path: str | os.PathLike[str], models: list[str] | None, mode: str | None) -> pd.DataFrame:
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        frame = con.execute(
            "SELECT mlflow_run_id, model, hardware, device, host, backend, precision, batch_size, mode, scenario,"
            " throughput_samples_per_s, latency_mean_ms, latency_p50_ms, latency_p90_ms, latency_p95_ms,"
            " latency_p99_ms, latency_p50_ci_low_ms, latency_p50_ci_high_ms,"
            f" {MEMORY_MB_SQL} AS memory_mb, coalesce(nullif(samples_count, 0), iterations) AS samples,"
            " is_simulated, simulation_reason, coalesce(host_contended, false) AS host_contended, sweep_id,"
            " created_at FROM latest_results"
            + (" WHERE mode = ?" if mode else "")
            + " ORDER BY model, hardware, device, backend, precision, scenario, batch_size",
            [mode] if mode else [],
        ).df()
    finally:
        con.close()
    if models:
        frame = frame[frame["model"].isin(models)]
    if frame.empty:
        raise NoDataError(f"no successful results in {db_path}" + (f" for {', '.join(models)}" if models else ""))
    return frame.reset_index(drop=True)


def samples_by_run(db_path: str | os.PathLike[str], run_ids: list[str]) -> dict[str, Any]:
    """run id → sorted numpy array of its raw latencies (ms), for the runs that have them."""
    import numpy as np

    from ..mirror.query import connect

    if not run_ids:
        return {}
    con = connect(db_path)
    try:
        frame = con.execute(
            "SELECT mlflow_run_id, list(latency_ms ORDER BY latency_ms) AS s FROM latency_samples"
            " WHERE list_contains(?, mlflow_run_id) GROUP BY mlflow_run_id",
            [run_ids],
        ).df()
    finally:
        con.close()
    return {r.mlflow_run_id: np.asarray(r.s, dtype=float) for r in frame.itertuples()}


def parse_baseline(spec: str) -> dict[str, str]:
    """``cpu/torch/fp32`` → {hardware, backend, precision}."""
    parts = spec.split("/")
    if len(parts) != 3 or not all(parts):
        raise BadInputError(
            f"baseline must be hardware/backend/precision (example: cpu/torch/fp32), got '{spec}'", param="baseline"
        )
    return dict(zip(("hardware", "backend", "precision"), parts, strict=True))


def analyze(
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    *,
    models: list[str] | None = None,
    baseline: str = "cpu/torch/fp32",
    mode: str | None = None,
) -> pd.DataFrame:
    """Per model, every configuration measured: throughput, latency percentiles with CIs,
    memory, and speedup against ``baseline`` (hardware/backend/precision) at the same
    model, batch size, mode and scenario (NaN where the baseline was not measured)."""
    import numpy as np

    from ..measure import quantile_ci

    base = parse_baseline(baseline)
    frame = _latest(db_path, models, mode)
    samples = samples_by_run(db_path, list(frame["mlflow_run_id"]))
    p99_lo, p99_hi, p50_lo, p50_hi = [], [], [], []
    for r in frame.itertuples():
        s = samples.get(r.mlflow_run_id)
        if s is not None and len(s) >= 6:
            lo50, hi50 = quantile_ci(s, 0.5)
            lo99, hi99 = quantile_ci(s, 0.99)
        else:  # no raw samples mirrored: the CI the run logged, no p99 CI
            lo50, hi50, lo99, hi99 = r.latency_p50_ci_low_ms, r.latency_p50_ci_high_ms, math.nan, math.nan
        p50_lo.append(lo50)
        p50_hi.append(hi50)
        p99_lo.append(lo99)
        p99_hi.append(hi99)
    frame["latency_p50_ci_low_ms"] = p50_lo
    frame["latency_p50_ci_high_ms"] = p50_hi
    frame["latency_p99_ci_low_ms"] = p99_lo
    frame["latency_p99_ci_high_ms"] = p99_hi
    is_base = np.logical_and.reduce([frame[k] == v for k, v in base.items()]) & ~frame["is_simulated"].astype(bool)
    keys = ["model", "batch_size", "mode", "scenario"]
    ref = (
        frame[is_base]
        .groupby(keys, as_index=False)
        .agg(base_throughput=("throughput_samples_per_s", "max"), base_p50=("latency_p50_ms", "min"))
    )
    out = frame.merge(ref, on=keys, how="left")
    out["speedup_throughput"] = out["throughput_samples_per_s"] / out["base_throughput"]
    out["speedup_latency_p50"] = out["base_p50"] / out["latency_p50_ms"]
    out["baseline"] = baseline
    return out.drop(columns=["base_throughput", "base_p50"])


def batch_scaling(
    db_path: str | os.PathLike[str] = "hwbench.duckdb", *, models: list[str] | None = None, mode: str | None = None
) -> pd.DataFrame:
    """Throughput and latency versus batch size per configuration: speedup and scaling
    efficiency against batch 1 (efficiency = T_b / (b · T_1); 1 = perfectly linear), and
    ``saturates_at`` = the smallest batch reaching 95 % of the configuration's best throughput."""
    frame = _latest(db_path, models, mode)
    group = ["model", "hardware", "device", "host", "backend", "precision", "mode", "scenario"]
    rows = []
    for _, g in frame.groupby(group, sort=True):
        g = g.sort_values("batch_size")
        t1 = g.loc[g["batch_size"] == 1, "throughput_samples_per_s"]
        t1v = float(t1.iloc[0]) if len(t1) else math.nan
        best = g["throughput_samples_per_s"].max()
        saturates = int(g.loc[g["throughput_samples_per_s"] >= SATURATION * best, "batch_size"].min())
        g = g.assign(
            speedup_vs_batch1=g["throughput_samples_per_s"] / t1v,
            scaling_efficiency=g["throughput_samples_per_s"] / (g["batch_size"] * t1v),
            saturates_at=saturates,
            best_throughput=best,
        )
        rows.append(g)
    import pandas as pd

    return pd.concat(rows, ignore_index=True)


def _p_from_cis(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Two-sided p-value that two medians differ, from (median, ci_low, ci_high) each: a normal
    approximation with se = CI width / (2·1.96). NaN when a CI is missing."""
    from scipy.stats import norm

    (ma, la, ha), (mb, lb, hb) = a, b
    if any(math.isnan(x) for x in (la, ha, lb, hb)):
        return math.nan
    se = math.hypot((ha - la) / 3.92, (hb - lb) / 3.92)
    if se == 0:
        return 0.0 if ma != mb else 1.0
    return float(2 * norm.sf(abs(ma - mb) / se))


def _p_value(sa: Any, sb: Any, a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, str]:
    """(p, method): Mann-Whitney U on raw samples when both sides have them, else from CIs."""
    if sa is not None and sb is not None and len(sa) >= 3 and len(sb) >= 3:
        from scipy.stats import mannwhitneyu

        return float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue), "mann-whitney"
    return _p_from_cis(a, b), "ci"


def cross_platform(
    db_path: str | os.PathLike[str] = "hwbench.duckdb", *, models: list[str] | None = None, mode: str | None = None
) -> pd.DataFrame:
    """Per model, batch size, mode and scenario: every platform side by side, the winner per
    metric (throughput, p50, p99, memory), and whether the throughput winner is
    significantly ahead of the runner-up (Mann-Whitney on raw samples, else CIs)."""
    frame = _latest(db_path, models, mode)
    samples = samples_by_run(db_path, list(frame["mlflow_run_id"]))
    out = []
    for _, g in frame.groupby(["model", "batch_size", "mode", "scenario"], sort=True):
        g = g.copy()
        g["config"] = g["hardware"] + "/" + g["backend"] + "/" + g["precision"] + "@" + g["device"]
        for metric, col, best in (
            ("throughput", "throughput_samples_per_s", "max"),
            ("p50", "latency_p50_ms", "min"),
            ("p99", "latency_p99_ms", "min"),
            ("memory", "memory_mb", "min"),
        ):
            idx = g[col].idxmax() if best == "max" else g[col].idxmin()
            g[f"winner_{metric}"] = g.loc[idx, "config"] if not math.isnan(g.loc[idx, col]) else ""
        ranked = g.sort_values("throughput_samples_per_s", ascending=False)
        p, method = math.nan, ""
        if len(ranked) >= 2:
            a, b = ranked.iloc[0], ranked.iloc[1]
            p, method = _p_value(
                samples.get(a["mlflow_run_id"]),
                samples.get(b["mlflow_run_id"]),
                (a["latency_p50_ms"], a["latency_p50_ci_low_ms"], a["latency_p50_ci_high_ms"]),
                (b["latency_p50_ms"], b["latency_p50_ci_low_ms"], b["latency_p50_ci_high_ms"]),
            )
        g["winner_p_value"] = p
        g["winner_significant"] = (p < ALPHA) if not math.isnan(p) else None
        g["test"] = method
        out.append(g)
    import pandas as pd

    return pd.concat(out, ignore_index=True)


def read_baseline(baseline_path: str | os.PathLike[str]) -> pd.DataFrame:
    """A baseline exported earlier: ``hwbench analyze --output`` (or any table with the config
    columns and throughput / p50) as .csv / .parquet / .json."""
    import pandas as pd

    path, p, bad = baseline_path, Path(baseline_path), {"param": "baseline_path"}
    if not p.is_file():
        raise BadInputError(f"baseline_path: no such file: {path}", **bad)
    try:
        if p.suffix == ".parquet":
            frame = pd.read_parquet(p)
        elif p.suffix == ".json":
            frame = pd.read_json(p)
        elif p.suffix == ".csv":
            frame = pd.read_csv(p)
        else:
            raise BadInputError(
                f"baseline_path: unsupported file type '{p.suffix}'; use .csv, .parquet or .json", **bad
            )
    except (ValueError, OSError) as exc:
        raise BadInputError(f"baseline_path: cannot read {path}: {str(exc).splitlines()[0]}", **bad) from None
    missing = [c for c in (*MATCH_KEYS, "throughput_samples_per_s", "latency_p50_ms") if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"baseline_path: {path} lacks column(s) {', '.join(missing)}; write a baseline with "
            "'hwbench analyze --output FILE' or 'hwbench export --table results --output FILE'",
            **bad,
        )
    return check_baseline(frame, f"baseline_path: {path}", param="baseline_path")


# a baseline's numbers: (column, required)
BASELINE_NUMBERS = (
    ("throughput_samples_per_s", True),
    ("latency_p50_ms", True),
    ("latency_p50_ci_low_ms", False),  # optional: empty = no CI (then the verdict is inconclusive)
    ("latency_p50_ci_high_ms", False),
)
SHOWN_ROWS = 3


def _row_list(rows: list[str]) -> str:
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return ", ".join(rows[:SHOWN_ROWS]) + more


def _number(value: Any) -> float | None:
    """``value`` as a float (NaN for an empty cell), or None when it is not a number at all."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else math.nan
        except ValueError:
            return None
    return None


def _shown(value: Any, x: float | None) -> str:
    if x is None:
        return repr(value) if isinstance(value, str) else repr(value)[:40]
    return "NaN" if math.isnan(x) else f"{x:g}"


def check_baseline(frame: pd.DataFrame, source: str, param: str | None = None) -> pd.DataFrame:
    """Refuse a baseline that cannot be compared, naming its rows (row 1 = the first row of
    data): throughput and p50 must be finite numbers > 0 (the p50 CI bounds too, or empty),
    batch_size a whole number >= 1, the other match keys non-empty, and each configuration
    (the match keys) on one row. Returns a copy: numbers as floats, keys as strings.
    Messages start with ``source``; ``param``: the argument it names, if any."""
    import numpy as np

    frame = frame.reset_index(drop=True)
    out = frame.copy()
    out.attrs["source"] = source
    out.attrs["param"] = param
    bad_input = {"param": param} if param else {}
    for col, required in BASELINE_NUMBERS:
        if col not in frame.columns:
            continue
        values = [_number(v) for v in frame[col].tolist()]
        bad = [
            f"{_shown(v, x)} in row {i + 1}"
            for i, (v, x) in enumerate(zip(frame[col].tolist(), values, strict=True))
            if x is None or (math.isnan(x) and required) or math.isinf(x) or x <= 0
        ]
        if bad:
            what = "a finite number > 0" + ("" if required else " (or empty)")
            raise BadInputError(f"{source}: {col} must be {what}, got {_row_list(bad)}", **bad_input)
        out[col] = np.asarray(values, dtype=float)
    sizes = [_number(v) for v in frame["batch_size"].tolist()]
    bad = [
        f"{_shown(v, x)} in row {i + 1}"
        for i, (v, x) in enumerate(zip(frame["batch_size"].tolist(), sizes, strict=True))
        if x is None or not math.isfinite(x) or x < 1 or x != int(x)
    ]
    if bad:
        raise BadInputError(f"{source}: batch_size must be a whole number >= 1, got {_row_list(bad)}", **bad_input)
    out["batch_size"] = np.asarray(sizes, dtype=float).astype(np.int64)
    for col in (k for k in MATCH_KEYS if k != "batch_size"):
        keys = ["" if _number(v) is not None and math.isnan(_number(v)) else str(v).strip() for v in frame[col]]
        empty = [str(i + 1) for i, k in enumerate(keys) if not k]
        if empty:
            raise BadInputError(f"{source}: {col} is empty in row(s) {_row_list(empty)}", **bad_input)
        out[col] = keys
    dups = [rows for rows in out.groupby(list(MATCH_KEYS), sort=False).indices.values() if len(rows) > 1]
    if dups:
        shown = []
        for rows in dups:
            r = out.iloc[rows[0]]
            config = f"{r.model} {r.hardware}/{r.backend}/{r.precision} batch {r.batch_size} {r['mode']}/{r.scenario}"
            numbers = [str(i + 1) for i in rows]
            shown.append(f"rows {', '.join(numbers[:-1])} and {numbers[-1]} ({config})")
        raise BadInputError(
            f"{source}: the same configuration on several rows: {_row_list(shown)}; keep one row of each",
            **bad_input,
        )
    return out


def compare_to_baseline(
    db_path: str | os.PathLike[str],
    baseline: pd.DataFrame,
    *,
    threshold: float = 0.1,
    models: list[str] | None = None,
) -> pd.DataFrame:
    """Verdict per configuration measured on both sides: regression | improvement | no change
    | inconclusive, with Δ % of throughput and a BH-adjusted p-value on median latency
    (Mann-Whitney on raw samples when the baseline's runs are in the mirror, else CIs)."""
    import numpy as np
    from scipy.stats import false_discovery_control

    if not 0 < threshold < 1:
        raise BadInputError(
            f"threshold must be a fraction between 0 and 1 (0.1 = 10 %), got {threshold:g}", param="threshold"
        )
    base = check_baseline(baseline, baseline.attrs.get("source", "baseline"), baseline.attrs.get("param"))
    current = analyze(db_path, models=models)
    for k in ("latency_p50_ci_low_ms", "latency_p50_ci_high_ms", "mlflow_run_id"):
        if k not in base.columns:
            base[k] = np.nan
    base["host_contended"] = base["host_contended"].fillna(False) if "host_contended" in base.columns else False
    base["batch_size"] = base["batch_size"].astype(int)
    merged = current.merge(
        base[
            [
                *MATCH_KEYS,
                "throughput_samples_per_s",
                "latency_p50_ms",
                "latency_p50_ci_low_ms",
                "latency_p50_ci_high_ms",
                "mlflow_run_id",
                "host_contended",
            ]
        ],
        on=list(MATCH_KEYS),
        suffixes=("", "_base"),
    )
    if merged.empty:
        raise NoDataError("no configuration of the baseline is in the mirror: nothing to compare")
    runs = [r for r in (*merged["mlflow_run_id"], *merged["mlflow_run_id_base"]) if isinstance(r, str)]
    samples = samples_by_run(db_path, runs)
    ps, methods = [], []
    for r in merged.itertuples():
        base_samples = samples.get(r.mlflow_run_id_base) if isinstance(r.mlflow_run_id_base, str) else None
        if base_samples is not None and not math.isclose(
            float(np.median(base_samples)), r.latency_p50_ms_base, rel_tol=1e-6
        ):
            base_samples = None  # the file no longer describes that run's samples: use its summary
        p, method = _p_value(
            samples.get(r.mlflow_run_id),
            base_samples,
            (r.latency_p50_ms, r.latency_p50_ci_low_ms, r.latency_p50_ci_high_ms),
            (r.latency_p50_ms_base, r.latency_p50_ci_low_ms_base, r.latency_p50_ci_high_ms_base),
        )
        ps.append(p)
        methods.append(method)
    merged["p_value"] = ps
    merged["test"] = methods
    valid = ~np.isnan(merged["p_value"])
    adjusted = np.full(len(merged), np.nan)
    if valid.any():
        adjusted[valid.to_numpy()] = false_discovery_control(merged.loc[valid, "p_value"], method="bh")
    merged["p_adjusted"] = adjusted
    merged["delta_pct"] = (merged["throughput_samples_per_s"] / merged["throughput_samples_per_s_base"] - 1) * 100
    merged["verdict"] = [_verdict(d / 100, p, threshold) for d, p in zip(merged["delta_pct"], adjusted, strict=True)]
    # a side measured on a busy host says nothing about the code: neither regression nor improvement
    busy = merged["host_contended"].astype(bool) | merged["host_contended_base"].astype(bool)
    merged.loc[busy, "verdict"] = "inconclusive (host busy)"
    return merged


def baseline_from_sweep(db_path: str | os.PathLike[str], baseline_sweep: str) -> pd.DataFrame:
    """The successful results of one sweep (its sweep id: ``baseline_sweep``) as a baseline table."""
    sweep_id = baseline_sweep
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        frame = con.execute(
            "SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY "
            + ", ".join(MATCH_KEYS)
            + " ORDER BY created_at DESC) AS rn FROM results WHERE sweep_id = ? AND status = 'success') WHERE rn = 1",
            [sweep_id],
        ).df()
    finally:
        con.close()
    if frame.empty:
        raise BadInputError(
            f"baseline_sweep: no successful results of sweep '{sweep_id}' in {db_path}", param="baseline_sweep"
        )
    frame.attrs["source"] = f"baseline_sweep {sweep_id}"
    frame.attrs["param"] = "baseline_sweep"
    return frame


def to_markdown(frame: pd.DataFrame, columns: list[str]) -> str:
    """A GitHub table of ``columns`` (numbers to 4 significant digits)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame[columns].itertuples(index=False)]
    return "\n".join(lines)


def _verdict(delta: float, p: float, threshold: float) -> str:
    if abs(delta) < threshold:
        return "no change"
    if math.isnan(p) or p >= ALPHA:
        return "inconclusive"
    return "regression" if delta < 0 else "improvement"
