"""One recommendation and how a winner is picked: the evidence and confidence rules that
``recommend.py`` (forward passes) and ``generation_recommend.py`` (generate runs) share.

Confidence: **high** — measured, ≥ 30 samples, CI half-width ≤ 5 % of the median (and for a p99
criterion, enough samples for the p99); **low** — simulated, measured on a busy host, fewer than
10 samples, or no CI; **medium** — the rest (and every estimated value). A simulated result never
wins over a measured one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

HIGH_MIN_SAMPLES = 30
LOW_MIN_SAMPLES = 10
HIGH_MAX_CI = 0.05
LOW_MAX_CI = 0.25  # a median known only to ±25 % or worse is a thin measurement


@dataclass
class Recommendation:
    """One criterion's answer for one model (``status`` = recommended | not_available)."""

    model: str
    criterion: str
    status: str
    basis: str = ""
    value: float | None = None
    unit: str = ""
    hardware: str = ""
    hardware_name: str = ""
    device: str = ""
    host: str = ""
    backend: str = ""
    precision: str = ""
    batch_size: int | None = None
    throughput_samples_per_s: float | None = None
    latency_ms: float | None = None
    memory_mb: float | None = None
    confidence: str = ""
    is_simulated: bool = False
    estimated: bool = False
    mlflow_run_id: str = ""
    samples: int | None = None
    latency_p50_ci_low_ms: float | None = None
    latency_p50_ci_high_ms: float | None = None
    warning: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """``cpu (cpu) torch fp32 batch 8``."""
        return f"{self.hardware} ({self.device}) {self.backend} {self.precision} batch {self.batch_size}"

    def value_text(self) -> str:
        return f"{self.value:.4g} {self.unit}" + (" (estimated)" if self.estimated else "")

    def evidence(self) -> str:
        """Run id, sample count and the 95 % CI of the median latency."""
        lo, hi = self.latency_p50_ci_low_ms, self.latency_p50_ci_high_ms
        ci = f", p50 CI [{lo:.3g}, {hi:.3g}] ms" if lo is not None and hi is not None else ""
        return f"run {self.mlflow_run_id[:12]}, {self.samples} samples{ci}"


def _confidence(row: Any, uses_p99: bool, estimated: bool) -> str:
    n = int(row.samples)
    ci = row.ci_rel
    if row.is_simulated or row.host_contended or n < LOW_MIN_SAMPLES or not math.isfinite(ci) or ci > LOW_MAX_CI:
        return "low"
    if estimated:
        return "medium"
    thin_p99 = uses_p99 and isinstance(row.percentile_warning, str) and "p99" in row.percentile_warning
    return "high" if n >= HIGH_MIN_SAMPLES and ci <= HIGH_MAX_CI and not thin_p99 else "medium"


def _describe(row: Any) -> str:
    return f"{row.hardware}/{row.backend}/{row.precision}/b{int(row.batch_size)}"


def _pick(
    model: str,
    criterion: str,
    pool: pd.DataFrame,
    score: pd.Series,
    maximize: bool,
    basis: str,
    unit: str,
    uses_p99: bool = False,
    estimated: pd.Series | None = None,
    latency_col: str = "latency_p50_ms",
) -> Recommendation:
    """The winner of ``score`` among measured rows (simulated only when nothing else exists)."""
    scored = pool.assign(_score=score).dropna(subset=["_score"])
    if scored.empty:
        return Recommendation(model, criterion, "not_available", basis=basis, reason="no candidate has this value")
    ordered = scored.sort_values(["_score", "throughput_samples_per_s"], ascending=[not maximize, False])
    real = ordered[~ordered["is_simulated"]]
    best = (real if not real.empty else ordered).iloc[0]
    top = ordered.iloc[0]
    warning = ""
    if real.empty:
        warning = "SIMULATED: only simulated results exist for this model; nothing here was measured"
    elif top["is_simulated"] and top.name != best.name:
        warning = (
            f"a simulated result ({_describe(top)}, {top['_score']:.4g} {unit}) scores higher; "
            f"not recommended because it was not measured ({top['simulation_reason'] or 'no reason given'})"
        )
    if best["host_contended"]:
        other = best["host_other_cpu_pct"]
        how = f"other processes used {other:.0f} % CPU during its window" if other == other else "steal time"
        busy = f"measured on a busy host ({how}): low confidence; re-run on a quiet host"
        warning = f"{warning}; {busy}" if warning else busy
    est = bool(estimated.loc[best.name]) if estimated is not None else False
    return Recommendation(
        model=model,
        criterion=criterion,
        status="recommended",
        basis=basis + (" (estimated from the --power table)" if est else ""),
        value=float(best["_score"]),
        unit=unit,
        hardware=best["hardware"],
        hardware_name=best["hardware_name"] or "",
        device=best["device"],
        host=best["host"],
        backend=best["backend"],
        precision=best["precision"],
        batch_size=int(best["batch_size"]),
        throughput_samples_per_s=float(best["throughput_samples_per_s"]),
        latency_ms=float(best[latency_col]),
        memory_mb=None if math.isnan(best["memory_mb"]) else float(best["memory_mb"]),
        confidence=_confidence(_RowView(best), uses_p99, est),
        is_simulated=bool(best["is_simulated"]),
        estimated=est,
        mlflow_run_id=best["mlflow_run_id"],
        samples=int(best["samples"]),
        latency_p50_ci_low_ms=_num(best["latency_p50_ci_low_ms"]),
        latency_p50_ci_high_ms=_num(best["latency_p50_ci_high_ms"]),
        warning=warning,
    )


class _RowView:
    """Attribute access over a pandas row (a Series)."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return self._row[name]


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
