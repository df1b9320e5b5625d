"""Plan a sweep, run each config in a worker, record it in MLflow; the Python API's core."""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import names as N
from .backends import BACKEND_PLATFORMS, BACKENDS, get_backend_class
from .catalog import CATALOG, DEFAULT_MODELS, DEFAULT_SEQ_LENGTH, ModelSpec, models_in_category, resolve_model
from .config import DEFAULT_BACKEND, BenchmarkConfig, MeasureSettings
from .errors import BadInputError
from .hardware import HardwareReport, detect_hardware
from .host_load import is_contended
from .measure import PERCENTILE_METHOD, Measurement
from .store import DEFAULT_DB_PATH
from .worker import WorkerOutcome, format_cores, kill_live_workers, run_in_worker, split_cores

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
        return row


@dataclass
class SweepResult:
    sweep_id: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    results: list[ConfigResult]
    outboxed: int = 0  # runs kept in the local outbox: the store stopped answering mid-sweep
    replayed: int = 0  # runs an earlier sweep had kept, written to the store before this one
    sync_report: Any = None  # the DuckDB sync after the sweep (mirror_sync.SyncReport), if one ran
    sync_error: str = ""  # why that sync failed (the runs are in MLflow all the same)
    experiment: str = ""  # the experiment's name (under `mlflow run`: the project run's)

    @property
    def failed(self) -> list[ConfigResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[ConfigResult]:
        return [r for r in self.results if r.status == "skipped"]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([r.to_row() for r in self.results])


# ----------------------------------------------------------------------------- planning


def select_models(models: Iterable[str] = (), category: str | None = None, all_models: bool = False) -> list[ModelSpec]:
    """Resolve the user's model selection; no selection means the default sweep."""
    if category is not None and category not in N.CATEGORIES:
        raise BadInputError(f"unknown category '{category}'; choose from {', '.join(N.CATEGORIES)}")
    if all_models:
        specs = list(CATALOG.values())
    elif models:
        specs = [resolve_model(m) for m in models]
    elif category:
        specs = models_in_category(category)
    else:
        specs = [CATALOG[k] for k in DEFAULT_MODELS]
    if category:
        specs = [s for s in specs if s.category == category]
    if not specs:
        raise BadInputError(f"no model matches category '{category}'")
    return list(dict.fromkeys(specs))


def devices_for(platform: str, report: HardwareReport, backend: str = "") -> list[str]:
    """The devices a platform's configs run on: every OpenVINO device detected (CPU, GPU.0,
    NPU, ...) and every WebNN device type, the browser's ``wasm`` for onnxruntime-web on the
    CPU, the first device elsewhere; ``none`` when the platform is absent."""
    if backend == "onnxruntime-web" and platform == "cpu":
        return ["wasm"]
    info = report.get(platform)
    if not (info.available and info.devices):
        return ["none"]
    return list(info.devices) if platform in ("openvino", "webnn") else [info.devices[0]]


def default_platforms(report: HardwareReport) -> list[str]:
    """What a sweep without ``--hardware`` measures: every available platform except a WebGPU
    whose only adapter is software (SwiftShader: a CPU rasteriser, hundreds of times slower
    than the CPU itself); ``--hardware webgpu`` measures it all the same."""
    return [p.platform for p in report.platforms if p.available and p.details.get("device_kind") != "software"]


def build_plan(
    specs: Sequence[ModelSpec],
    hardware: Sequence[str] | None,
    backends: Sequence[str] | None,
    batch_sizes: Sequence[int],
    precisions: Sequence[str],
    modes: Sequence[str],
    seq_length: int,
    report: HardwareReport,
    scenarios: Sequence[str] = ("latency",),
    every_backend: bool = False,
) -> list[BenchmarkConfig]:
    """The grid of configs, in a stable order; ``hardware=None`` means every available platform.

    Without ``backends``, each platform gets its own runtime (``DEFAULT_BACKEND``), or
    every runtime that executes on it when ``every_backend`` (``--all``).
    """
    for b in backends or ():
        if b not in BACKENDS:
            raise BadInputError(f"unknown backend '{b}'; choose from {', '.join(BACKENDS)}")
    if hardware is None:
        hardware = [p for p in default_platforms(report) if any(p in BACKEND_PLATFORMS[b] for b in BACKENDS)]
    plan = []
    for spec, hw in itertools.product(specs, hardware):
        if backends:
            chosen = [b for b in backends if hw in BACKEND_PLATFORMS[b]]
        elif every_backend:
            chosen = [b for b, platforms in BACKEND_PLATFORMS.items() if hw in platforms]
        else:
            chosen = [DEFAULT_BACKEND[hw]]
        if backends and not chosen:
            raise BadInputError(f"none of the backends {', '.join(backends)} runs on '{hw}'")
        pairs = [(b, d) for b in chosen for d in devices_for(hw, report, b)]
        for (backend, device), scenario, mode, precision, batch in itertools.product(
            pairs, scenarios, modes, precisions, batch_sizes
        ):
            plan.append(BenchmarkConfig(spec.key, hw, backend, device, precision, batch, mode, scenario, seq_length))
    return plan


def precheck(config: BenchmarkConfig, report: HardwareReport) -> tuple[str, str] | None:
    """(category, reason) when a config cannot run here, decided before any worker starts."""
    info = report.get(config.hardware)
    if not info.available:
        return "unavailable", f"{config.hardware} is not available on this host: {info.reason}"
    if config.backend not in BACKENDS:
        return "unsupported", f"no '{config.backend}' backend for {config.hardware} in this version of hwbench"
    try:
        backend_cls = get_backend_class(config.backend)
    except ImportError as exc:  # a runtime that is not installed is a reason, not a crash
        return "unavailable", f"the {config.backend} backend cannot load here: {exc}"
    missing = backend_cls.unavailable(config)
    if missing:
        return "unavailable", missing
    reason = backend_cls.check(config, report)
    return ("unsupported", reason) if reason else None


# ----------------------------------------------------------------------------- results


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
    return ConfigResult(config, "success", params=params, metrics=metrics, tags=tags, measurement=m)


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


# ----------------------------------------------------------------------------- execution


def _execute(
    config: BenchmarkConfig,
    report: HardwareReport,
    settings: MeasureSettings,
    asked: set[str],
    cores: tuple[int, ...] = (),
) -> WorkerOutcome:
    """Run one config in a worker, or say why it never started."""
    blocked = precheck(config, report)
    if blocked is None:
        return run_in_worker(config, settings, cpu_cores=cores)
    if blocked[0] == "unavailable" and (config.hardware in asked or config.backend in asked):
        return WorkerOutcome.failed(*blocked)  # asked for by name but absent: a failed run that says why
    return WorkerOutcome("skipped", *blocked)  # the matrix says ✖: never started, recorded as skipped


def _execute_concurrently(
    plan: Sequence[BenchmarkConfig],
    report: HardwareReport,
    settings: MeasureSettings,
    asked: set[str],
    core_sets: list[tuple[int, ...]],
    record: Callable[[BenchmarkConfig, WorkerOutcome, float, tuple[int, ...]], None],
) -> None:
    """Configs run ``len(core_sets)`` at a time, each on a core set no other running config
    holds; results are recorded (logged) from this thread as they finish."""
    import queue
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    free: queue.Queue[tuple[int, ...]] = queue.Queue()
    for cores in core_sets:
        free.put(cores)

    def job(config: BenchmarkConfig) -> tuple[BenchmarkConfig, WorkerOutcome, float, tuple[int, ...]]:
        cores = free.get()
        try:
            started = time.time()
            return config, _execute(config, report, settings, asked, cores), started, cores
        finally:
            free.put(cores)

    pool = ThreadPoolExecutor(max_workers=len(core_sets), thread_name_prefix="hwbench-config")
    try:
        pending = {pool.submit(job, config) for config in plan}
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                record(*future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        kill_live_workers()
        raise
    pool.shutdown()


# ----------------------------------------------------------------------------- the API


def as_list(value: str | Sequence[Any] | None) -> list[Any]:
    """``"a"`` → ``["a"]``; a sequence → a list; None → ``[]``."""
    return [value] if isinstance(value, str) else list(value or ())


def run_benchmark(
    model: str | Sequence[str] = (),
    *,
    category: str | None = None,
    all_models: bool = False,
    hardware: str | Sequence[str] | None = None,
    backend: str | Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1,),
    precision: str | Sequence[str] = ("fp32",),
    mode: str | Sequence[str] = ("inference",),
    scenario: str | Sequence[str] = ("latency",),
    log_model: bool = False,
    seq_length: int = DEFAULT_SEQ_LENGTH,
    limit: int | None = None,
    settings: MeasureSettings | None = None,
    experiment: str = N.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    max_workers: int = 1,
    db_path: str | os.PathLike[str] | None = DEFAULT_DB_PATH,
    on_start: Callable[[list[BenchmarkConfig]], None] | None = None,
    on_result: Callable[[ConfigResult], None] | None = None,
) -> SweepResult:
    """Benchmark every config of the plan, each in a fresh worker, as nested MLflow runs.

    ``precision="native"`` expands to every precision the hardware runs natively.

    Returns a :class:`SweepResult` (``.to_frame()`` for a DataFrame). Failed configs are
    FAILED child runs with their category; the sweep goes on. Combinations the
    compatibility matrix marks ✖ (``unsupported``) are never started: they are recorded
    as skipped runs with the reason.

    ``max_workers > 1`` runs that many configs at once, each worker pinned to its own
    disjoint set of CPU cores; every run records its cores and that it shared the host
    (concurrency changes the numbers: caches, memory bandwidth and power are shared).

    Afterwards the DuckDB mirror ``db_path`` is synced (``None``: not), as ``hwbench run``
    does; its report is ``.sync_report``, a failure ``.sync_error`` (said on stderr).
    """
    from .tracking import SweepTracker, check_tracking_uri, resolve_tracking_uri

    settings = settings or MeasureSettings()
    if max_workers < 1:
        raise BadInputError(f"--max-workers must be >= 1, got {max_workers}")
    core_sets = split_cores(max_workers) if max_workers > 1 else [()]
    report = detect_hardware()
    for hw in as_list(hardware):
        if hw not in N.PLATFORMS:
            raise BadInputError(f"unknown hardware '{hw}'; choose from {', '.join(N.PLATFORMS)}")
    specs = select_models(as_list(model), category, all_models)
    precisions = as_list(precision)
    native = precisions == ["native"]
    plan = build_plan(
        specs,
        as_list(hardware) or None,
        as_list(backend) or None,
        list(batch_sizes),
        list(N.PRECISIONS) if native else precisions,
        as_list(mode),
        seq_length,
        report,
        as_list(scenario),
        every_backend=all_models,
    )
    if native:  # only the precisions this hardware runs natively
        plan = [c for c in plan if (precheck(c, report) or ("",))[0] != "unsupported"]
    plan = plan[:limit] if limit else plan
    if not plan:
        raise BadInputError("the plan is empty: no available hardware has a backend")
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_uri(uri)
    sweep_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    tracker = SweepTracker(uri, experiment, sweep_id)
    tracker.start(
        report,
        {
            "sweep_configs": len(plan),
            "models": ",".join(s.key for s in specs),
            "max_workers": max_workers,
            **{f"settings.{k}": v for k, v in settings.to_dict().items()},
        },
    )
    asked = set(as_list(hardware)) | set(as_list(backend))
    results: list[ConfigResult] = []

    def record(config: BenchmarkConfig, outcome: WorkerOutcome, started: float, cores: tuple[int, ...]) -> None:
        result = build_result(config, outcome, report, settings)
        if max_workers > 1:
            result.params.setdefault("cpu_cores", format_cores(cores))
            result.params["concurrent_workers"] = max_workers
            result.tags[N.T_SHARED_HOST] = "true"
        result.run_id = tracker.log_config(result, started, log_model)
        results.append(result)
        if on_result:
            on_result(result)

    try:
        if on_start:  # inside: a failing callback (printing) still closes the sweep run
            on_start(plan)
        if max_workers == 1:
            for config in plan:
                started = time.time()
                record(config, _execute(config, report, settings, asked), started, ())
        else:
            _execute_concurrently(plan, report, settings, asked, core_sets, record)
    except BaseException:
        tracker.finish(results, summarise(results) + "\n\n**Interrupted.**", interrupted=True)
        raise
    order = {id(c): i for i, c in enumerate(plan)}
    results.sort(key=lambda r: order.get(id(r.config), 0))
    tracker.finish(results, summarise(results))
    sweep = SweepResult(
        sweep_id, uri, tracker.experiment_id, tracker.parent_run_id, results, tracker.outboxed, tracker.replayed
    )
    sweep.experiment = tracker.experiment_name
    if db_path is not None and not sweep.outboxed:
        sweep.sync_report, sweep.sync_error = sync_mirror(uri, db_path)
    return sweep


def sync_mirror(tracking_uri: str, db_path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Sync the mirror after a sweep or search: (report, "") or (None, why it failed).

    The runs are in MLflow whatever happens here, so a failed sync is said, never raised."""
    from .errors import HwbenchError
    from .mirror_sync import sync

    try:
        return sync(tracking_uri, db_path), ""
    except HwbenchError as exc:
        why = str(exc)
    print(f"hwbench: warning: the runs are in MLflow but the DuckDB sync failed: {why}", file=sys.stderr)
    print(f"Retry with: hwbench sync --db-path {db_path}", file=sys.stderr)
    return None, why
