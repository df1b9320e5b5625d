"""Run a plan: each config in a worker, recorded in MLflow; ``run_benchmark``, the Python API's core,
and the :class:`SweepSession` that a sweep and a search (``batch_search/``) share."""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from . import names as N
from .catalog import DEFAULT_SEQ_LENGTH
from .config import BenchmarkConfig, MeasureSettings
from .errors import BadInputError
from .hardware import HardwareReport, detect_hardware
from .mirror.files import DEFAULT_DB_PATH
from .plan import as_list, backends_asked, build_plan, generation_shapes, precheck, select_models
from .results import ConfigResult, SweepOutcome, SweepResult, build_result, summarise
from .worker import WorkerOutcome, format_cores, kill_live_workers, run_in_worker, split_cores, start_fork_server

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


def run_benchmark(
    model: str | Sequence[str] = (),
    *,
    category: str | None = None,
    all_models: bool = False,
    hardware: str | Sequence[str] | None = None,
    backend: str | Sequence[str] | None = None,
    batch_sizes: Sequence[int] = (1,),
    precision: str | Sequence[str] | None = None,
    mode: str | Sequence[str] = ("inference",),
    scenario: str | Sequence[str] = ("latency",),
    log_model: bool = False,
    seq_length: int = DEFAULT_SEQ_LENGTH,
    prompt_tokens: int | Sequence[int] | None = None,
    new_tokens: int | Sequence[int] | None = None,
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

    ``precision="native"`` expands to every precision the hardware runs natively; ``None``:
    each runtime's default (fp32; openvino_genai runs a GGUF's 4-bit weights, ``int4``).
    ``scenario="generate"`` (causal LMs) times greedy generations of ``new_tokens`` tokens
    after prompts of ``prompt_tokens`` tokens (lists: one config per pair; defaults 128, 64).

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
    settings = settings or MeasureSettings()
    if settings.worker_start == "forkserver":  # preloads while hardware is detected and MLflow opens its store
        start_fork_server(backends_asked(hardware, backend, all_models, scenario))
    if max_workers < 1:
        raise BadInputError(f"max_workers must be >= 1, got {max_workers}", param="max_workers")
    core_sets = split_cores(max_workers) if max_workers > 1 else [()]
    report = detect_hardware()
    for hw in as_list(hardware):
        if hw not in N.PLATFORMS:
            raise BadInputError(f"unknown hardware '{hw}'; choose from {', '.join(N.PLATFORMS)}")
    specs = select_models(as_list(model), category, all_models)
    prompts, news = generation_shapes(specs, as_list(scenario), prompt_tokens, new_tokens)
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
        prompt_tokens=prompts,
        new_tokens=news,
    )
    if native:  # only the precisions this hardware runs natively
        plan = [c for c in plan if (precheck(c, report) or ("",))[0] != "unsupported"]
    plan = plan[:limit] if limit else plan
    if not plan:
        raise BadInputError("the plan is empty: no available hardware has a backend")
    session = SweepSession(tracking_uri, experiment, db_path=db_path)
    params = {"sweep_configs": len(plan), "models": ",".join(s.key for s in specs), "max_workers": max_workers}
    asked = set(as_list(hardware)) | set(as_list(backend))

    def record(config: BenchmarkConfig, outcome: WorkerOutcome, started: float, cores: tuple[int, ...]) -> None:
        result = build_result(config, outcome, report, settings)
        if max_workers > 1:
            result.params.setdefault("cpu_cores", format_cores(cores))
            result.params["concurrent_workers"] = max_workers
            result.tags[N.T_SHARED_HOST] = "true"
        session.record(result, started, log_model)
        if on_result:
            on_result(result)

    with session.start(report, params, settings):
        if on_start:  # inside: a failing callback (printing) still closes the sweep run
            on_start(plan)
        if max_workers == 1:
            for config in plan:
                started = time.time()
                record(config, _execute(config, report, settings, asked), started, ())
        else:
            _execute_concurrently(plan, report, settings, asked, core_sets, record)
        order = {id(c): i for i, c in enumerate(plan)}
        session.results.sort(key=lambda r: order.get(id(r.config), 0))
        session.finish(summarise(session.results))
    sweep = SweepResult(session.sweep_id, session.uri, session.experiment_id, session.parent_run_id, session.results)
    session.conclude(sweep)
    return sweep


# ----------------------------------------------------------------------------- the session


class SweepSession:
    """The lifecycle a sweep (``run_benchmark``) and a search (``run_search``) share.

    Made: the tracking URI resolved and checked (before anything is measured). ``start``:
    replays the outbox, closes orphans, opens the parent run (``role`` ``sweep`` or ``search``)
    with the hardware and the params. Used as a context manager (``with session.start(...)``):
    an exception inside, Ctrl-C included, before :meth:`finish` closes the parent KILLED with
    the runs recorded so far and ``interrupted_note`` — every child run is whole or absent.
    ``conclude`` fills a :class:`~hwbench_mlflow.results.SweepOutcome` and syncs the mirror."""

    def __init__(
        self,
        tracking_uri: str | None,
        experiment: str,
        role: str = "sweep",
        db_path: str | os.PathLike[str] | None = DEFAULT_DB_PATH,
        interrupted_note: Callable[[list[ConfigResult]], str] | None = None,
    ) -> None:
        from .tracking.uri import check_tracking_uri, resolve_tracking_uri

        self.uri = resolve_tracking_uri(tracking_uri)
        check_tracking_uri(self.uri)
        self.experiment, self.role, self.db_path = experiment, role, db_path
        self.interrupted_note = interrupted_note or (lambda results: summarise(results) + "\n\n**Interrupted.**")
        self.results: list[ConfigResult] = []
        self.tracker: Any = None
        self._open = False  # the parent run is started and not finished

    @functools.cached_property
    def sweep_id(self) -> str:
        """``YYYYmmdd-HHMMSS-xxxxxx``: the time of first use and 6 random hex digits."""
        return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]

    def start(
        self,
        report: HardwareReport,
        params: dict[str, Any],
        settings: MeasureSettings,
        tags: dict[str, str] | None = None,
    ) -> SweepSession:
        """Open the parent run with ``params`` and the ``settings.*`` ones; returns the session."""
        from .tracking.sweep import SweepTracker

        self.tracker = SweepTracker(self.uri, self.experiment, self.sweep_id, role=self.role)
        params = {**params, **{f"settings.{k}": v for k, v in settings.to_dict().items()}}
        self.tracker.start(report, params, tags=tags)
        self._open = True
        return self

    @property
    def parent_run_id(self) -> str:
        return self.tracker.parent_run_id

    @property
    def experiment_id(self) -> str:
        return self.tracker.experiment_id

    @property
    def experiment_name(self) -> str:
        """The experiment the runs went to (under `mlflow run`: the project run's)."""
        return self.tracker.experiment_name

    def record(self, result: ConfigResult, started: float, log_model: bool = False) -> str:
        """Log ``result`` as a finished child run (``result.run_id`` set; "" when kept in the outbox)."""
        result.run_id = self.tracker.log_config(result, started, log_model)
        self.results.append(result)
        return result.run_id

    def finish(self, note: str, **outcome: Any) -> None:
        """Close the parent run: ``note`` and the ``SweepTracker.finish`` keywords (failed, metrics, tags, dicts)."""
        self._open = False  # a finish that fails is not retried as an interruption
        self.tracker.finish(self.results, note, **outcome)

    def __enter__(self) -> SweepSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None and self._open:
            self._open = False
            self.tracker.finish(self.results, self.interrupted_note(self.results), interrupted=True)

    def conclude(self, outcome: SweepOutcome) -> None:
        """Fill in ``outcome``'s outbox counts and experiment; sync the mirror unless ``db_path``
        is None or runs wait in the outbox (a failed sync is said, ``.sync_error``)."""
        outcome.outboxed, outcome.replayed = self.tracker.outboxed, self.tracker.replayed
        outcome.experiment = self.experiment_name
        if self.db_path is not None and not outcome.outboxed:
            outcome.sync_report, outcome.sync_error = sync_mirror(self.uri, self.db_path)


def sync_mirror(tracking_uri: str, db_path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Sync the mirror after a sweep or search: (report, "") or (None, why it failed).

    The runs are in MLflow whatever happens here, so a failed sync is said, never raised."""
    from .errors import HwbenchError
    from .mirror.sync import sync

    try:
        return sync(tracking_uri, db_path), ""
    except HwbenchError as exc:
        why = str(exc)
    print(f"hwbench: warning: the runs are in MLflow but the DuckDB sync failed: {why}", file=sys.stderr)
    print(f"Retry with: hwbench sync --db-path {db_path}", file=sys.stderr)
    return None, why
