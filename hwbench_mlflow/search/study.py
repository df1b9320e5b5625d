"""``hwbench search``: the batch size that maximises an objective under a memory limit,
as an Optuna study whose every trial is a real worker run and a nested MLflow run.

* Trials: one isolated worker process each (:func:`worker.run_in_worker`) guarded so that
  it is stopped once its peak memory passes the limit (or 90 % of the host's available
  memory), logged as a child run of the search's parent run with the study name and
  trial number as tags.
* Feasibility is Optuna's own: every COMPLETE trial carries ``trial.set_constraint``
  values (``memory_peak_mb`` − limit, and ``latency_p99_ms`` − ``--latency-limit``);
  a worker that runs out of memory, or is stopped by the guard, is a COMPLETE,
  infeasible trial with the memory it had reached — never an exception that teaches
  the sampler nothing. Other failures (runtime errors, timeouts) are FAIL trials.
* What to measure next: the :class:`~hwbench_mlflow.search.planner.BatchPlanner`
  (default, ``sampler="planned"``) enqueues its proposals into the study; with
  ``sampler="tpe"`` Optuna's TPE samples instead (same constraints).
* Storage: a local SQLite file by default (``optuna-dashboard sqlite:///hwbench-optuna.db``),
  any Optuna storage URL otherwise; a named study resumes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names as N
from ..catalog import DEFAULT_SEQ_LENGTH, resolve_model
from ..config import BenchmarkConfig, MeasureSettings
from ..errors import BadInputError
from ..mirror.store import DEFAULT_DB_PATH
from .planner import BatchPlanner, Observation

if TYPE_CHECKING:
    import optuna

    from ..hardware import HardwareReport
    from ..results import ConfigResult

# objective name → (metric, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "throughput": (N.M_THROUGHPUT, "maximize"),
    "latency-p50": (N.M_LAT_P50, "minimize"),
    "latency-p95": (N.M_LAT_P95, "minimize"),
    "latency-p99": (N.M_LAT_P99, "minimize"),
    "latency-mean": (N.M_LAT_MEAN, "minimize"),
}
SAMPLERS = ("planned", "tpe")
DEFAULT_STORAGE_FILE = "hwbench-optuna.db"
DEFAULT_MAX_BATCH = 256
HOST_MEMORY_SHARE = 0.9  # a worker is stopped before it takes more than this share of the available memory
PROBLEM_ATTR = "hwbench.problem"


def default_storage() -> str:
    return "sqlite:///" + str(Path.cwd() / DEFAULT_STORAGE_FILE)


def config_key(c: BenchmarkConfig) -> str:
    return f"{c.hardware}/{c.backend}/{c.device}/{c.precision}"


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


@dataclass
class SearchResult:
    """The outcome of a search; ``best`` is None when nothing fits."""

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
    outboxed: int = 0  # runs kept in the local outbox: the tracking store stopped answering
    replayed: int = 0  # runs an earlier sweep or search had kept, written before this search
    sync_report: Any = None  # the DuckDB sync after the search (mirror_sync.SyncReport), if one ran
    sync_error: str = ""  # why that sync failed (the runs are in MLflow all the same)
    experiment: str = ""  # the experiment's name (under `mlflow run`: the project run's)

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
        d = asdict(self)
        d["memory_margin_mb"] = self.memory_margin_mb
        return d


@dataclass
class _Problem:
    """Everything fixed for one study: checked when a named study is resumed."""

    model: str
    configs: dict[str, BenchmarkConfig]
    objective: str
    memory_limit_mb: float | None
    latency_limit_ms: float | None
    max_batch: int
    mode: str
    scenario: str
    seq_length: int
    skipped: dict[str, str] = field(default_factory=dict)

    def signature(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "configs": sorted(self.configs),
                "objective": self.objective,
                "memory_limit_mb": self.memory_limit_mb,
                "latency_limit_ms": self.latency_limit_ms,
                "max_batch": self.max_batch,
                "mode": self.mode,
                "scenario": self.scenario,
                "seq_length": self.seq_length,
            },
            sort_keys=True,
        )


def _check_number(flag: str, value: float | None, minimum: float = 0.0) -> None:
    if value is not None and not (math.isfinite(value) and value > minimum):
        raise BadInputError(f"{flag} must be a number > {minimum:g}, got {value:g}")


def _problem(
    model: str,
    hardware: Sequence[str],
    backend: Sequence[str],
    precisions: Sequence[str],
    objective: str,
    memory_limit_mb: float | None,
    latency_limit_ms: float | None,
    max_batch: int,
    mode: str,
    scenario: str,
    seq_length: int,
    report: HardwareReport,
) -> _Problem:
    from ..plan import build_plan, precheck

    if objective not in OBJECTIVES:
        raise BadInputError(f"unknown objective '{objective}'; choose from {', '.join(OBJECTIVES)}")
    if max_batch < 1:
        raise BadInputError(f"--max-batch must be >= 1, got {max_batch}")
    _check_number("--memory-limit", memory_limit_mb)
    _check_number("--latency-limit", latency_limit_ms)
    spec = resolve_model(model)
    for hw in hardware:
        if hw not in N.PLATFORMS:
            raise BadInputError(f"unknown hardware '{hw}'; choose from {', '.join(N.PLATFORMS)}")
    plan = build_plan(
        [spec],
        list(hardware) or ["cpu"],
        list(backend) or None,
        [1],
        list(precisions),
        [mode],
        seq_length,
        report,
        [scenario],
    )
    configs: dict[str, BenchmarkConfig] = {}
    skipped: dict[str, str] = {}
    for c in plan:
        blocked = precheck(c, report)
        if blocked:
            skipped[config_key(c)] = f"{blocked[0]}: {blocked[1]}"
        else:
            configs[config_key(c)] = c
    if not configs:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise BadInputError(f"nothing to search: no configuration of {spec.key} runs here ({reasons})")
    return _Problem(
        spec.key, configs, objective, memory_limit_mb, latency_limit_ms, max_batch, mode, scenario, seq_length, skipped
    )


def _check_storage(storage: str) -> None:
    """A malformed URL, an unknown database, a sqlite file in a missing directory: said
    before anything runs (a reachable server is only known when the study opens)."""
    from sqlalchemy.engine import make_url

    from ..tracking.client import redact_uri

    try:
        url = make_url(storage)
        url.get_dialect()
    except Exception as exc:
        msg = " ".join(str(exc).split())[:200]
        raise BadInputError(f"--storage {redact_uri(storage)}: {type(exc).__name__}: {msg}") from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        parent = Path(url.database).resolve().parent
        if not parent.is_dir():
            raise BadInputError(f"--storage {redact_uri(storage)}: directory does not exist: {parent}")


def _open_study(storage: str, study_name: str, problem: _Problem, seed: int | None, sampler: str) -> optuna.Study:
    import optuna

    from ..tracking.client import redact_uri

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = OBJECTIVES[problem.objective][1]
    for attempt in range(4):
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=study_name,
                direction=direction,
                sampler=optuna.samplers.TPESampler(seed=seed),
                load_if_exists=True,
            )
            break
        except Exception as exc:  # unreachable database, malformed URL
            if type(exc).__name__ == "IntegrityError" and attempt < 3:
                # workers that start together on an empty database race to create Optuna's
                # tables or the study: the loser finds them made a moment later
                time.sleep(0.5 + attempt)
                continue
            msg = " ".join(str(exc).split())[:200]
            raise BadInputError(f"--storage {redact_uri(storage)}: {type(exc).__name__}: {msg}") from None
    held = study.user_attrs.get(PROBLEM_ATTR)
    if held is None:
        study.set_user_attr(PROBLEM_ATTR, problem.signature())
        study.set_user_attr("hwbench.sampler", sampler)
    elif held != problem.signature():
        was, now = json.loads(held), json.loads(problem.signature())
        diff = ", ".join(f"{k} {was.get(k)} ≠ {now.get(k)}" for k in sorted(now) if was.get(k) != now.get(k))
        raise BadInputError(
            f"study '{study_name}' in {redact_uri(storage)} was created for another search ({diff}); "
            "use another --study-name"
        )
    if study.direction.name.lower() != direction:
        raise BadInputError(
            f"study '{study_name}' {study.direction.name.lower()}s; --objective {problem.objective} {direction}s"
        )
    return study


def _distributions(problem: _Problem) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    return {
        "config": CategoricalDistribution(sorted(problem.configs)),
        "batch_size": IntDistribution(1, problem.max_batch, log=True),
    }


def _observations(study: optuna.Study, stale_after_s: float) -> list[Observation]:
    from optuna.trial import TrialState

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    out = []
    for t in study.get_trials(deepcopy=False):
        params = t.params or t.system_attrs.get("fixed_params", {})
        if "config" not in params or "batch_size" not in params:
            continue
        cfg, batch = str(params["config"]), int(params["batch_size"])
        if t.state == TrialState.COMPLETE:
            feasible = all(v <= 0 for v in t.constraints.values())
            out.append(Observation(cfg, batch, "done", feasible, t.value if feasible else None))
        elif t.state == TrialState.FAIL:
            out.append(Observation(cfg, batch, "failed", False))
        elif t.state == TrialState.WAITING:
            out.append(Observation(cfg, batch, "running"))
        elif t.state == TrialState.RUNNING:
            started = t.datetime_start
            age = (now - started.replace(tzinfo=None)).total_seconds() if started else 0.0
            if age < stale_after_s:  # a worker that died long ago does not hold its point forever
                out.append(Observation(cfg, batch, "running"))
    return out


def _summaries(study: optuna.Study) -> list[TrialSummary]:
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
            )
        )
    return out


def _best(trials: list[TrialSummary], maximize: bool) -> tuple[TrialSummary | None, int]:
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


class _Evaluator:
    """Runs one trial: a guarded worker, its MLflow child run, its constraints."""

    def __init__(
        self,
        problem: _Problem,
        settings: MeasureSettings,
        report: HardwareReport,
        tracker: Any,
        study_name: str,
    ) -> None:
        import psutil

        self.problem, self.settings, self.report, self.tracker = problem, settings, report, tracker
        self.study_name = study_name
        self.host_cap_mb = HOST_MEMORY_SHARE * psutil.virtual_memory().available / 2**20
        self.results: list[ConfigResult] = []

    def guard(self, config: BenchmarkConfig) -> Any:
        from ..worker import MemoryGuard

        limit = self.problem.memory_limit_mb
        if limit is not None and N.memory_metric(config.hardware) == N.M_MEMORY_PEAK and limit < self.host_cap_mb:
            return MemoryGuard(limit, "the memory limit")
        return MemoryGuard(self.host_cap_mb, f"{HOST_MEMORY_SHARE:.0%} of the host's available memory")

    def __call__(self, trial: optuna.Trial) -> None:
        from optuna.trial import TrialState

        from ..results import build_result
        from ..worker import run_in_worker

        p = self.problem
        base = p.configs[str(trial.params["config"])]
        config = BenchmarkConfig.from_dict({**base.to_dict(), "batch_size": int(trial.params["batch_size"])})
        guard = self.guard(config)
        started = time.time()
        outcome = run_in_worker(config, self.settings, guard)
        result = build_result(config, outcome, self.report, self.settings)
        mem_key = N.memory_metric(config.hardware)  # the memory a limit applies to
        mem = result.metrics.get(mem_key)
        oom = result.status == "failed" and result.error_category == "oom"
        capped = oom and (mem is None or mem >= guard.limit_mb)
        if oom and mem is None:
            mem = p.memory_limit_mb if p.memory_limit_mb is not None else guard.limit_mb
        constraints: dict[str, float] = {}
        if result.status == "success" or oom:
            limit = p.memory_limit_mb
            over = (mem - limit) if (limit is not None and mem is not None) else 0.0
            constraints["memory_peak_mb"] = max(over, 1.0) if oom else over
            if p.latency_limit_ms is not None:
                p99 = result.metrics.get(N.M_LAT_P99)
                constraints["latency_p99_ms"] = (p99 - p.latency_limit_ms) if p99 is not None else 1.0
        feasible = bool(constraints) and all(v <= 0 for v in constraints.values())
        result.params["memory_guard_mb"] = round(guard.limit_mb, 1)
        result.tags.update(
            {
                N.T_STUDY_NAME: self.study_name,
                N.T_TRIAL_NUMBER: str(trial.number),
                N.T_FEASIBLE: str(feasible).lower(),
            }
        )
        result.run_id = self.tracker.log_config(result, started)
        self.results.append(result)
        attrs = {
            "mlflow_run_id": result.run_id,
            "status": result.status,
            "memory_mb": mem,
            "memory_capped": capped,
            "error": f"{result.error_category}: {result.error_message}" if result.error_category else "",
            **{k: result.metrics[k] for k in (N.M_THROUGHPUT, N.M_LAT_P50, N.M_LAT_P99) if k in result.metrics},
        }
        for k, v in attrs.items():
            if v is not None:
                trial.set_user_attr(k, v)
        for k, v in constraints.items():
            trial.set_constraint(k, v)
        if not constraints:  # a runtime error or a timeout: nothing was learned about memory
            trial.study.tell(trial, state=TrialState.FAIL)
            return
        metric, direction = OBJECTIVES[p.objective]
        value = result.metrics.get(metric)
        if value is None:  # stopped before it was measured: the worst value there is
            value = 0.0 if direction == "maximize" else math.inf
        trial.study.tell(trial, float(value))


def run_search(
    model: str,
    *,
    hardware: str | Sequence[str] = ("cpu",),
    backend: str | Sequence[str] | None = None,
    precision: str | Sequence[str] = ("fp32",),
    memory_limit_mb: float | None = None,
    latency_limit_ms: float | None = None,
    objective: str = "throughput",
    max_batch: int = DEFAULT_MAX_BATCH,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    sampler: str = "planned",
    storage: str | None = None,
    study_name: str | None = None,
    mode: str = "inference",
    scenario: str = "latency",
    seq_length: int = DEFAULT_SEQ_LENGTH,
    settings: MeasureSettings | None = None,
    experiment: str = N.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    seed: int | None = None,
    repeats: int = 3,
    db_path: str | os.PathLike[str] | None = DEFAULT_DB_PATH,
    on_trial: Callable[[TrialSummary], None] | None = None,
) -> SearchResult:
    """Find the batch size that optimises ``objective`` with peak memory under ``memory_limit_mb``.

    ``hardware`` / ``backend`` / ``precision`` may be lists: the search then also picks
    among those configurations. Stops when the planner has nothing left worth measuring
    (``converged``), after ``n_trials`` trials, or once ``timeout_s`` has passed (the
    trial in flight finishes). With the planned sampler the ``repeats``-fold re-measured
    top points are ranked by their median. Returns a :class:`SearchResult`; ``best`` is None when
    nothing fits. Afterwards the DuckDB mirror ``db_path`` is synced (``None``: not).
    """
    from ..hardware import detect_hardware
    from ..plan import as_list
    from ..tracking.client import SweepTracker, check_tracking_uri, redact_uri, resolve_tracking_uri

    if sampler not in SAMPLERS:
        raise BadInputError(f"unknown sampler '{sampler}'; choose from {', '.join(SAMPLERS)}")
    if n_trials is not None and n_trials < 1:
        raise BadInputError(f"--n-trials must be >= 1, got {n_trials}")
    if repeats < 1:
        raise BadInputError(f"--repeats must be >= 1, got {repeats}")
    _check_number("--timeout", timeout_s)
    _check_number("--memory-limit", memory_limit_mb)  # before the (slow) hardware detection
    _check_number("--latency-limit", latency_limit_ms)
    if max_batch < 1:
        raise BadInputError(f"--max-batch must be >= 1, got {max_batch}")
    settings = settings or MeasureSettings()
    if settings.worker_start == "forkserver":  # preloads while hardware is detected and the stores open
        from ..plan import backends_asked
        from ..worker import start_fork_server

        start_fork_server(backends_asked(hardware, backend))
    uri = resolve_tracking_uri(tracking_uri)  # both stores before the (slow) hardware detection
    check_tracking_uri(uri)
    storage = storage or default_storage()
    _check_storage(storage)
    report = detect_hardware()
    problem = _problem(
        model,
        as_list(hardware),
        as_list(backend),
        as_list(precision),
        objective,
        memory_limit_mb,
        latency_limit_ms,
        max_batch,
        mode,
        scenario,
        seq_length,
        report,
    )
    sweep_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    study_name = study_name or f"hwbench-{problem.model}-{sweep_id}"
    study = _open_study(storage, study_name, problem, seed, sampler)
    maximize = OBJECTIVES[objective][1] == "maximize"
    planner = BatchPlanner(sorted(problem.configs), max_batch, maximize, repeats=repeats)
    if n_trials is None and sampler == "tpe":
        n_trials = 30
    tracker = SweepTracker(uri, experiment, sweep_id, role="search")
    tracker.start(
        report,
        {
            "model": problem.model,
            "study_name": study_name,
            "storage": redact_uri(storage),
            "objective": objective,
            "objective_metric": OBJECTIVES[objective][0],
            "direction": OBJECTIVES[objective][1],
            "memory_limit_mb": memory_limit_mb if memory_limit_mb is not None else "none",
            "latency_limit_ms": latency_limit_ms if latency_limit_ms is not None else "none",
            "max_batch": max_batch,
            "n_trials": n_trials if n_trials is not None else "until converged",
            "timeout_s": timeout_s if timeout_s is not None else "none",
            "sampler": sampler,
            "repeats": repeats,
            "search_configs": ",".join(sorted(problem.configs)),
            "mode": mode,
            "scenario": scenario,
            "seq_length": seq_length,
            **{f"settings.{k}": v for k, v in settings.to_dict().items()},
        },
        tags={N.T_STUDY_NAME: study_name},
    )
    evaluate = _Evaluator(problem, settings, report, tracker, study_name)
    distributions = _distributions(problem)
    stale_after = settings.timeout_s + 120.0
    t0 = time.monotonic()
    evaluations, stop_reason = 0, "converged"
    trial = None
    try:
        while True:
            if n_trials is not None and evaluations >= n_trials:
                stop_reason = "n_trials"
                break
            if timeout_s is not None and time.monotonic() - t0 >= timeout_s:
                stop_reason = "timeout"
                break
            if sampler == "planned":
                observations = _observations(study, stale_after)
                running = {(o.config, o.batch) for o in observations if o.state == "running"}
                pick = next((p for p in planner.proposals(observations) if p not in running), None)
                if pick is None:
                    if running:  # another worker is measuring: its result may open new points
                        time.sleep(1.0)
                        continue
                    break
                study.enqueue_trial({"config": pick[0], "batch_size": pick[1]})
            trial = study.ask(distributions)
            evaluate(trial)
            trial = None
            evaluations += 1
            if on_trial is not None:
                on_trial(_summary_of(study, evaluate))
    except BaseException:
        if trial is not None:  # interrupted mid-trial: the study must not keep it RUNNING
            from optuna.trial import TrialState

            with contextlib.suppress(Exception):
                study.tell(trial, state=TrialState.FAIL)
        tracker.finish(evaluate.results, "**hwbench search interrupted.**", interrupted=True)
        raise
    trials = _summaries(study)
    best, measured = _best(trials, maximize)
    result = SearchResult(
        model=problem.model,
        study_name=study_name,
        storage=redact_uri(storage),
        objective=objective,
        direction=OBJECTIVES[objective][1],
        memory_limit_mb=memory_limit_mb,
        latency_limit_ms=latency_limit_ms,
        max_batch=max_batch,
        trials=trials,
        evaluations=evaluations,
        stop_reason=stop_reason,
        sweep_id=sweep_id,
        parent_run_id=tracker.parent_run_id,
        experiment_id=tracker.experiment_id,
        experiment=tracker.experiment_name,
        tracking_uri=uri,
        best=best,
        best_measurements=measured,
        not_searched=dict(problem.skipped),
    )
    _finish(tracker, evaluate.results, result)
    result.outboxed, result.replayed = tracker.outboxed, tracker.replayed
    if db_path is not None and not result.outboxed:  # the mirror follows, as after `hwbench search`
        from ..runner import sync_mirror

        result.sync_report, result.sync_error = sync_mirror(uri, db_path)
    return result


def _summary_of(study: optuna.Study, evaluate: _Evaluator) -> TrialSummary:
    """The summary of the trial this process just told."""
    run_id = evaluate.results[-1].run_id
    return next(t for t in reversed(_summaries(study)) if t.mlflow_run_id == run_id)


def outcome_of(result: SearchResult) -> str:
    if result.best is not None:
        return "found"
    return "nothing_fits" if result.trials and not any(t.state == "failed" for t in result.trials) else "no_result"


def _finish(tracker: Any, results: list[ConfigResult], result: SearchResult) -> None:
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
            ("memory_margin_mb", result.memory_margin_mb),
        ):
            if value is not None and math.isfinite(value):
                metrics[key] = value
        tags.update({"hwbench.search.best_config": best.config, "hwbench.search.best_run_id": best.mlflow_run_id})
    note = describe(result)
    if result.not_searched:
        note += "\n\nNot searched here: " + "; ".join(f"{k} ({v})" for k, v in result.not_searched.items())
    tracker.finish(results, note, failed=best is None, metrics=metrics, tags=tags, dicts={N.A_SEARCH: result.to_dict()})


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
        first = min(result.trials, key=lambda t: t.batch_size, default=None)
        need = ""
        if first is not None and first.memory_mb is not None:
            at_least = "at least " if first.memory_capped else ""
            need = f"; batch {first.batch_size} needs {at_least}{first.memory_mb:.0f} MB"
            if first.latency_p99_ms is not None and result.latency_limit_ms is not None:
                need += f" and {first.latency_p99_ms:.3g} ms p99"
        if first is not None and first.state == "failed":
            need = f"; batch {first.batch_size} failed: {first.error}"
        return f"nothing fits: no batch size of {result.model} runs under {limit}{need}. {counts}."
    margin = result.memory_margin_mb
    median = f" (median of {result.best_measurements} measurements)" if result.best_measurements > 1 else ""
    parts = [
        f"best batch size {b.batch_size} on {b.config}: {result.objective} = {b.value:.4g}{median}",
        f"{b.throughput:.1f} samples/s" if b.throughput is not None else "",
        f"p50 {b.latency_p50_ms:.2f} ms, p99 {b.latency_p99_ms:.2f} ms" if b.latency_p99_ms is not None else "",
        f"peak {b.memory_mb:.0f} MB" + (f" ({margin:.0f} MB under {limit})" if margin is not None else ""),
    ]
    return ", ".join(p for p in parts if p) + f". {counts}."
