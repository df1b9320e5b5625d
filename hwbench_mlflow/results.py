"""What a config and a sweep produced: params, metrics and tags as logged, and their summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from . import names as N
from .catalog import resolve_model
from .config import BenchmarkConfig, MeasureSettings
from .generation import DECODING, GenerationTrace, generation_metrics, generation_params
from .hardware import HardwareReport
from .host_load import is_contended
from .measure import PERCENTILE_METHOD, Measurement
from .worker import WorkerOutcome

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ConfigResult:
    """One config's outcome: params, metrics and tags exactly as logged, plus the samples."""

    config: BenchmarkConfig
    status: str
    error_category: str = ""
    error_message: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    measurement: Measurement | None = None
    run_id: str = ""
    generations: list[dict[str, Any]] = field(default_factory=list)  # scenario generate: per-token times

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "run_name": self.config.run_name,
            "status": self.status,
            "error_category": self.error_category,
            "error_message": self.error_message,
        }
        row.update({k: self.params.get(k, "") for k in N.CONFIG_PARAMS})
        row["batch_size"] = self.config.batch_size
        row["weights"] = self.tags.get(N.T_WEIGHTS, "")
        row.update({k: self.metrics.get(k, math.nan) for k in (*N.CONTRACT_METRICS, N.M_CI_LOW, N.M_CI_HIGH)})
        if self.config.scenario == N.GENERATE:  # what a generation is judged by, as the mirror has it
            row.update(prompt_tokens=self.config.prompt_tokens, new_tokens=self.config.new_tokens)
            row.update({k: self.metrics.get(k, math.nan) for k in N.GENERATION_METRICS})
        return row


@dataclass(kw_only=True)
class SweepOutcome:
    """What a sweep and a search both end with (``runner.SweepSession.conclude`` fills it in).

    Keyword-only fields, listed last by :meth:`trailing` (a dataclass puts a base's fields first)."""

    outboxed: int = 0  # runs kept in the local outbox: the store stopped answering mid-sweep
    replayed: int = 0  # runs an earlier sweep or search had kept, written to the store before this one
    sync_report: Any = None  # the DuckDB sync afterwards (mirror.sync.SyncReport), if one ran
    sync_error: str = ""  # why that sync failed (the runs are in MLflow all the same)
    experiment: str = ""  # the experiment's name (under `mlflow run`: the project run's)

    def trailing(self, d: dict[str, Any]) -> dict[str, Any]:
        """``d`` (``asdict(self)``) with these shared fields moved after the subclass's own."""
        for f in fields(SweepOutcome):
            d[f.name] = d.pop(f.name)
        return d


@dataclass
class SweepResult(SweepOutcome):
    """A sweep: its id, where its runs went, one :class:`ConfigResult` per config in plan order."""

    sweep_id: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    results: list[ConfigResult]

    @property
    def failed(self) -> list[ConfigResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[ConfigResult]:
        return [r for r in self.results if r.status == "skipped"]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([r.to_row() for r in self.results])


def build_result(
    config: BenchmarkConfig, outcome: WorkerOutcome, report: HardwareReport, settings: MeasureSettings
) -> ConfigResult:
    """Turn a worker's raw observations into the params / metrics / tags that get logged."""
    spec = resolve_model(config.model)
    params: dict[str, Any] = {
        "model": spec.key,
        "model_name": spec.name,
        "model_path": outcome.params.pop("model_path", spec.hf_id),
        "category": spec.category,
        "hardware": config.hardware,
        "hardware_name": report.get(config.hardware).name or config.hardware,
        "device": config.device,
        "backend": config.backend,
        "precision": config.precision,
        "batch_size": config.batch_size,
        "mode": config.mode,
        "scenario": config.scenario,
        "input_shape": outcome.params.pop("input_shape", ""),
        "seq_length": config.seq_length,
        "warmup": settings.warmup,
        "min_iterations": settings.min_iterations,
        "min_time_s": settings.min_time_s,
        "max_time_s": settings.max_time_s,
        "target_ci": settings.target_ci,
        "target_percentile": settings.target_percentile,
    }
    if config.scenario == N.GENERATE:  # also on a failed config: which shape it was
        params.update(prompt_tokens=config.prompt_tokens, new_tokens=config.new_tokens, decoding=DECODING)
    kind = outcome.params.get("device_kind", "")
    weights = outcome.params.pop("weights", "")
    sha = outcome.params.pop("weights_sha256", "")
    params.update(outcome.params)
    tags = {N.T_STATUS: outcome.status, N.T_IS_SIMULATED: "false"}
    if weights:
        tags[N.T_WEIGHTS] = weights
    if kind:
        tags[N.T_DEVICE_KIND] = kind
    if sha:
        tags[N.T_WEIGHTS_SHA256] = sha
    if outcome.status != "success":
        tags[N.T_ERROR_CATEGORY] = outcome.error_category
        tags[N.T_ERROR_MESSAGE] = outcome.error_message
        # a worker stopped by the memory guard still says how much memory it had reached
        seen = {k: v for k, v in outcome.observed.items() if k == N.M_MEMORY_PEAK}
        return ConfigResult(config, outcome.status, outcome.error_category, outcome.error_message, params, seen, tags)
    m = Measurement(tuple(outcome.samples_ms), config.batch_size, outcome.wall_s, settings.confidence)
    metrics = m.metrics()
    metrics.update(outcome.observed)
    if config.scenario == N.GENERATE and outcome.generations:
        traces = [GenerationTrace.from_record(g) for g in outcome.generations]
        prompt, new = config.prompt_tokens or 0, config.new_tokens or 0
        metrics.update(generation_metrics(traces, config.batch_size, prompt))
        params.update(generation_params(traces, prompt, new))
    if N.M_HOST_OTHER_CPU in metrics:
        busy = is_contended(metrics[N.M_HOST_OTHER_CPU], metrics.get(N.M_HOST_STEAL))
        tags[N.T_HOST_CONTENDED] = str(busy).lower()
    if config.backend in NATIVE_PROCESS_BACKENDS:
        tags[N.T_PROCESS] = process_conditions(params)
    short = m.insufficient_percentiles()
    tags.update(
        {
            N.T_STOP_REASON: outcome.stop_reason,
            N.T_CI_MET: str(outcome.ci_met).lower(),
            N.T_PERCENTILE_METHOD: PERCENTILE_METHOD,
        }
    )
    if short:
        tags[N.T_PERCENTILE_WARNING] = "; ".join(
            f"p{p:g} from {m.n} samples (needs >= {need})" for p, need in short.items()
        )
    return ConfigResult(
        config, "success", params=params, metrics=metrics, tags=tags, measurement=m, generations=outcome.generations
    )


NATIVE_PROCESS_BACKENDS = ("torch", "onnxruntime", "openvino")  # the model runs in the worker process itself


def process_conditions(params: dict[str, Any]) -> str:
    """The process a number was measured in, in words (tag ``hwbench.process``)."""
    start, memory, threads = process_parts(params)
    return ", ".join(x for x in (start, memory, f"{threads} threads" if threads else "") if x)


def process_parts(params: dict[str, Any]) -> tuple[str, str, str]:
    """(how the worker started, its allocator settings, its threads) from a run's params."""
    start = {
        "forkserver": "a warm worker forked from a preloaded server",
        "exec": "a fresh worker interpreter",
    }.get(str(params.get("worker_start")), f"a worker ({params.get('worker_start')})")
    allocator, malloc = params.get("allocator", "glibc"), params.get("malloc_settings", "")
    if malloc == "tuned" and allocator == "glibc":
        memory = "glibc malloc tuned (mmap and trim thresholds raised)"
    else:
        memory = f"{allocator} malloc {'defaults' if malloc == 'default' else 'as preloaded'}"
    threads = next((f"{params[k]} {who}" for k, who in THREAD_PARAMS.items() if k in params), "")
    return start, memory, threads


THREAD_PARAMS = {
    "torch_num_threads": "torch",
    "ort_intra_op_num_threads": "ORT",
    "ov_inference_num_threads": "OpenVINO",
}


def measurement_conditions(results: Sequence[ConfigResult]) -> list[str]:
    """One line each: how many configs met the CI target; how busy the host was, when it was."""
    ok = [r for r in results if r.status == "success"]
    if not ok:
        return []
    met = sum(r.tags.get(N.T_CI_MET) == "true" for r in ok)
    target = f"±{ok[0].params['target_ci'] * 100:g} %" if "target_ci" in ok[0].params else "its"
    lines = [f"{met} of {len(ok)} configs met the {target} CI target on the p50."]
    procs = [process_parts(r.params) for r in ok if r.config.backend in NATIVE_PROCESS_BACKENDS]
    if procs:
        where = "; ".join(dict.fromkeys(", ".join(p[:2]) for p in procs))
        threads = ", ".join(dict.fromkeys(p[2] for p in procs if p[2]))
        lines.append(
            f"Measured in {where}" + (f" ({threads} threads)" if threads else "") + ". A plain Python process "
            "(glibc's default allocator, nothing preloaded) can measure slower: README 'What a number stands for'."
        )
    busy = [r for r in ok if r.tags.get(N.T_HOST_CONTENDED) == "true"]
    if busy:
        other = [r.metrics.get(N.M_HOST_OTHER_CPU, 0.0) for r in busy]
        steal = max(r.metrics.get(N.M_HOST_STEAL, 0.0) for r in busy)
        extra = f", steal up to {steal:.0f} %" if steal > 5 else ""
        lines.append(
            f"The host was busy: other processes used {sum(other) / len(other):.0f} % CPU (mean; up to "
            f"{max(other):.0f} %){extra} during {len(busy)} of {len(ok)} windows; these numbers are not "
            "reference numbers (marked 'busy')."
        )
    return lines


def summarise(results: Sequence[ConfigResult]) -> str:
    """Markdown summary for the parent run's description."""
    ok = sum(r.status == "success" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    lines = [
        f"**hwbench sweep**: {ok}/{len(results)} configs measured, {len(results) - ok - skipped} failed, "
        f"{skipped} skipped (incompatible).",
        "",
        "| config | status | p50 ms | p99 ms | samples/s | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.status == "success":
            m = r.metrics
            status = "ok (host busy)" if r.tags.get(N.T_HOST_CONTENDED) == "true" else "ok"
            lines.append(
                f"| {r.config.run_name} | {status} | {m[N.M_LAT_P50]:.3f} | {m[N.M_LAT_P99]:.3f} | "
                f"{m[N.M_THROUGHPUT]:.1f} | {m[N.M_MEMORY_PEAK]:.0f} |"
            )
        else:
            lines.append(f"| {r.config.run_name} | {r.error_category}: {r.error_message[:80]} | | | | |")
    conditions = measurement_conditions(results)
    return "\n".join([*lines, "", *conditions] if conditions else lines)
