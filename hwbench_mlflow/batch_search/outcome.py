"""What a search found: its trials as printed and logged, the best point, the answer in words,
and what the search's parent run is closed with."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .. import names as N
from ..results import SweepOutcome

if TYPE_CHECKING:
    import optuna


@dataclass
class TrialSummary:
    """One trial of the study, as printed and logged."""

    number: int
    config: str
    batch_size: int
    state: str  # feasible | infeasible | failed | running
    value: float | None = None
    throughput: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    memory_mb: float | None = None
    memory_capped: bool = False
    error: str = ""
    mlflow_run_id: str = ""
    decode_tokens_per_s: float | None = None  # scenario generate
    ttft_p50_ms: float | None = None
    itl_p99_ms: float | None = None


@dataclass
class SearchResult(SweepOutcome):
    """The outcome of a search; ``best`` is None when nothing fits. ``.outboxed``, ``.replayed``,
    ``.sync_report``, ``.sync_error`` and ``.experiment`` as a sweep's (:class:`SweepOutcome`)."""

    model: str
    study_name: str
    storage: str  # redacted
    objective: str
    direction: str
    memory_limit_mb: float | None
    latency_limit_ms: float | None
    max_batch: int
    trials: list[TrialSummary]
    evaluations: int  # trials this invocation ran
    stop_reason: str  # converged | n_trials | timeout
    sweep_id: str = ""
    parent_run_id: str = ""
    experiment_id: str = ""
    tracking_uri: str = ""
    best: TrialSummary | None = None
    best_measurements: int = 0  # the best point's value is the median of this many trials
    not_searched: dict[str, str] = field(default_factory=dict)  # config → why it cannot run here
    itl_limit_ms: float | None = None  # scenario generate: p99 inter-token latency limit

    @property
    def infeasible(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.state == "infeasible"]

    @property
    def failed(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.state == "failed"]

    @property
    def memory_margin_mb(self) -> float | None:
        if self.best is None or self.memory_limit_mb is None or self.best.memory_mb is None:
            return None
        return self.memory_limit_mb - self.best.memory_mb

    def to_dict(self) -> dict[str, Any]:
        d = self.trailing(asdict(self))
        d["memory_margin_mb"] = self.memory_margin_mb
        return d


def summaries(study: optuna.Study) -> list[TrialSummary]:
    """Every trial of the study that names a configuration, in order."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False):
        params = t.params
        if "config" not in params:
            continue
        u = t.user_attrs
        if t.state == TrialState.COMPLETE:
            state = "feasible" if all(v <= 0 for v in t.constraints.values()) else "infeasible"
        elif t.state == TrialState.FAIL:
            state = "failed"
        else:
            state = "running"
        out.append(
            TrialSummary(
                number=t.number,
                config=str(params["config"]),
                batch_size=int(params["batch_size"]),
                state=state,
                value=t.value if t.state == TrialState.COMPLETE else None,
                throughput=u.get(N.M_THROUGHPUT),
                latency_p50_ms=u.get(N.M_LAT_P50),
                latency_p99_ms=u.get(N.M_LAT_P99),
                memory_mb=u.get("memory_mb"),
                memory_capped=bool(u.get("memory_capped", False)),
                error=u.get("error", ""),
                mlflow_run_id=u.get("mlflow_run_id", ""),
                decode_tokens_per_s=u.get(N.M_DECODE_TPS),
                ttft_p50_ms=u.get(N.M_TTFT_P50),
                itl_p99_ms=u.get(N.M_ITL_P99),
            )
        )
    return out


def best_of(trials: list[TrialSummary], maximize: bool) -> tuple[TrialSummary | None, int]:
    """The best point by the median of its measurements (a point measured infeasible once is
    out), as the trial whose value is closest to that median; and how many measurements it has."""
    import statistics

    groups: dict[tuple[str, int], list[TrialSummary]] = {}
    for t in trials:
        if t.state == "feasible" and t.value is not None:
            groups.setdefault((t.config, t.batch_size), []).append(t)
    bad = {(t.config, t.batch_size) for t in trials if t.state == "infeasible"}
    keys = [k for k in groups if k not in bad] or list(groups)
    if not keys:
        return None, 0
    med = {k: statistics.median(t.value or 0.0 for t in groups[k]) for k in keys}
    key = min(keys, key=lambda k: (-med[k] if maximize else med[k], k[1], k[0]))
    chosen = min(groups[key], key=lambda t: (abs((t.value or 0.0) - med[key]), t.number))
    return chosen, len(groups[key])


def outcome_of(result: SearchResult) -> str:
    """``found``, ``nothing_fits`` (every trial measured, none fits) or ``no_result``."""
    if result.best is not None:
        return "found"
    return "nothing_fits" if result.trials and not any(t.state == "failed" for t in result.trials) else "no_result"


def closing(result: SearchResult) -> tuple[str, dict[str, Any]]:
    """The parent run's note and the ``SweepTracker.finish`` keywords: outcome metrics, tags, the result."""
    metrics: dict[str, float] = {
        "trials_used": len(result.trials),
        "trials_this_run": result.evaluations,
        "trials_infeasible": len(result.infeasible),
        "trials_failed": len(result.failed),
    }
    tags = {N.T_SEARCH_OUTCOME: outcome_of(result), "hwbench.search.stop_reason": result.stop_reason}
    best = result.best
    if best is not None:
        metrics["best_batch_size"] = best.batch_size
        metrics["best_measurements"] = result.best_measurements
        for key, value in (
            ("best_objective", best.value),
            ("best_" + N.M_THROUGHPUT, best.throughput),
            ("best_" + N.M_LAT_P50, best.latency_p50_ms),
            ("best_" + N.M_LAT_P99, best.latency_p99_ms),
            ("best_" + N.M_MEMORY_PEAK, best.memory_mb),
            ("best_" + N.M_DECODE_TPS, best.decode_tokens_per_s),
            ("best_" + N.M_TTFT_P50, best.ttft_p50_ms),
            ("best_" + N.M_ITL_P99, best.itl_p99_ms),
            ("memory_margin_mb", result.memory_margin_mb),
        ):
            if value is not None and math.isfinite(value):
                metrics[key] = value
        tags.update({"hwbench.search.best_config": best.config, "hwbench.search.best_run_id": best.mlflow_run_id})
    note = describe(result)
    if result.not_searched:
        note += "\n\nNot searched here: " + "; ".join(f"{k} ({v})" for k, v in result.not_searched.items())
    return note, {"failed": best is None, "metrics": metrics, "tags": tags, "dicts": {N.A_SEARCH: result.to_dict()}}


def describe(result: SearchResult) -> str:
    """One paragraph: the answer, or why there is none."""
    limit = f"{result.memory_limit_mb:g} MB" if result.memory_limit_mb is not None else "the host's memory"
    counts = (
        f"{len(result.trials)} trial(s) ({len(result.infeasible)} infeasible, {len(result.failed)} failed), "
        f"stopped: {result.stop_reason}"
    )
    b = result.best
    if b is None:
        if result.latency_limit_ms is not None:
            limit += f" with p99 latency under {result.latency_limit_ms:g} ms"
        if result.itl_limit_ms is not None:
            limit += f" with p99 inter-token latency under {result.itl_limit_ms:g} ms"
        first = min(result.trials, key=lambda t: t.batch_size, default=None)
        need = ""
        if first is not None and first.memory_mb is not None:
            at_least = "at least " if first.memory_capped else ""
            need = f"; batch {first.batch_size} needs {at_least}{first.memory_mb:.0f} MB"
            if first.latency_p99_ms is not None and result.latency_limit_ms is not None:
                need += f" and {first.latency_p99_ms:.3g} ms p99"
            if first.itl_p99_ms is not None and result.itl_limit_ms is not None:
                need += f" and {first.itl_p99_ms:.3g} ms p99 inter-token latency"
        if first is not None and first.state == "failed":
            need = f"; batch {first.batch_size} failed: {first.error}"
        return f"nothing fits: no batch size of {result.model} runs under {limit}{need}. {counts}."
    margin = result.memory_margin_mb
    median = f" (median of {result.best_measurements} measurements)" if result.best_measurements > 1 else ""
    parts = [
        f"best batch size {b.batch_size} on {b.config}: {result.objective} = {b.value:.4g}{median}",
        f"{b.throughput:.1f} samples/s" if b.throughput is not None and b.decode_tokens_per_s is None else "",
        f"p50 {b.latency_p50_ms:.2f} ms, p99 {b.latency_p99_ms:.2f} ms"
        if b.latency_p99_ms is not None and b.decode_tokens_per_s is None
        else "",
        f"{b.decode_tokens_per_s:.1f} decode tokens/s" if b.decode_tokens_per_s is not None else "",
        f"TTFT p50 {b.ttft_p50_ms:.1f} ms" if b.ttft_p50_ms is not None else "",
        f"ITL p99 {b.itl_p99_ms:.2f} ms" if b.itl_p99_ms is not None else "",
        f"peak {b.memory_mb:.0f} MB" + (f" ({margin:.0f} MB under {limit})" if margin is not None else ""),
    ]
    return ", ".join(p for p in parts if p) + f". {counts}."
