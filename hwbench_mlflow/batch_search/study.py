"""``hwbench search``: the batch size that maximises an objective under a memory limit,
as an Optuna study whose every trial is a real worker run and a nested MLflow run.

* Trials (:mod:`.trials`): one isolated worker process each (:func:`worker.run_in_worker`) guarded so that
  it is stopped once its peak memory passes the limit (or 90 % of the host's available
  memory), logged as a child run of the search's parent run with the study name and
  trial number as tags.
* Feasibility is Optuna's own: every COMPLETE trial carries ``trial.set_constraint``
  values (``memory_peak_mb`` − limit, and ``latency_p99_ms`` − ``--latency-limit``);
  a worker that runs out of memory, or is stopped by the guard, is a COMPLETE,
  infeasible trial with the memory it had reached — never an exception that teaches
  the sampler nothing. Other failures (runtime errors, timeouts) are FAIL trials.
* What to measure next: the :class:`~hwbench_mlflow.batch_search.planner.BatchPlanner`
  (default, ``sampler="planned"``) enqueues its proposals into the study; with
  ``sampler="tpe"`` Optuna's TPE samples instead (same constraints).
* Storage (:mod:`.storage`): a local SQLite file by default (``optuna-dashboard sqlite:///hwbench-optuna.db``),
  any Optuna storage URL otherwise; a named study resumes.
* The MLflow side (URI check, sweep id, parent run, interrupts, the mirror sync after) is
  the :class:`~hwbench_mlflow.runner.SweepSession` a sweep uses too; the answer and its
  description are :mod:`.outcome`'s.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import names as N
from ..catalog import DEFAULT_SEQ_LENGTH
from ..config import MeasureSettings
from ..errors import BadInputError
from ..mirror.files import DEFAULT_DB_PATH
from .outcome import SearchResult, TrialSummary, best_of, closing, describe, outcome_of, summaries
from .planner import BatchPlanner
from .problem import (
    DEFAULT_MAX_BATCH,
    OBJECTIVES,
    SAMPLERS,
    build_problem,
    check_at_least_one,
    check_number,
    default_objective,
)
from .storage import check_storage, default_storage, open_study
from .trials import Evaluator, distributions, observations

if TYPE_CHECKING:
    import optuna

# what callers import from here (the CLI, the package's API, tests)
__all__ = [
    "DEFAULT_MAX_BATCH",
    "OBJECTIVES",
    "SAMPLERS",
    "SearchResult",
    "TrialSummary",
    "describe",
    "outcome_of",
    "run_search",
]


def run_search(
    model: str,
    *,
    hardware: str | Sequence[str] = ("cpu",),
    backend: str | Sequence[str] | None = None,
    precision: str | Sequence[str] | None = None,
    memory_limit_mb: float | None = None,
    latency_limit_ms: float | None = None,
    objective: str | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    sampler: str = "planned",
    storage: str | None = None,
    study_name: str | None = None,
    mode: str = "inference",
    scenario: str = "latency",
    seq_length: int = DEFAULT_SEQ_LENGTH,
    prompt_tokens: int | None = None,
    new_tokens: int | None = None,
    itl_limit_ms: float | None = None,
    settings: MeasureSettings | None = None,
    experiment: str = N.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    seed: int | None = None,
    repeats: int = 3,
    db_path: str | os.PathLike[str] | None = DEFAULT_DB_PATH,
    on_trial: Callable[[TrialSummary], None] | None = None,
) -> SearchResult:
    """Find the batch size that optimises ``objective`` with peak memory under ``memory_limit_mb``.

    ``objective`` None: ``throughput``; for ``scenario="generate"`` (``prompt_tokens`` in,
    ``new_tokens`` out, defaults 128 / 64) ``decode-tokens-per-s``, the batch being the number
    of sequences generated at once, with p99 inter-token latency under ``itl_limit_ms`` if given.

    ``hardware`` / ``backend`` / ``precision`` may be lists: the search then also picks
    among those configurations. Stops when the planner has nothing left worth measuring
    (``converged``), after ``n_trials`` trials, or once ``timeout_s`` has passed (the
    trial in flight finishes). With the planned sampler the ``repeats``-fold re-measured
    top points are ranked by their median. Returns a :class:`SearchResult`; ``best`` is None when
    nothing fits. Afterwards the DuckDB mirror ``db_path`` is synced (``None``: not).
    """
    from ..hardware import detect_hardware
    from ..plan import as_list, backends_asked
    from ..runner import SweepSession
    from ..tracking.uri import redact_uri

    objective = objective or default_objective(scenario)
    if sampler not in SAMPLERS:
        raise BadInputError(f"unknown sampler '{sampler}'; choose from {', '.join(SAMPLERS)}")
    check_at_least_one("n_trials", n_trials)
    check_at_least_one("repeats", repeats)
    check_number("timeout_s", timeout_s)
    check_number("memory_limit_mb", memory_limit_mb)  # before the (slow) hardware detection
    check_number("latency_limit_ms", latency_limit_ms)
    check_number("itl_limit_ms", itl_limit_ms)
    check_at_least_one("max_batch", max_batch)
    settings = settings or MeasureSettings()
    if settings.worker_start == "forkserver":  # preloads while hardware is detected and the stores open
        from ..worker import start_fork_server

        start_fork_server(backends_asked(hardware, backend, scenarios=scenario))
    session = SweepSession(  # both stores before the (slow) hardware detection
        tracking_uri, experiment, role="search", db_path=db_path, interrupted_note=lambda _: INTERRUPTED
    )
    storage = storage or default_storage()
    check_storage(storage)
    report = detect_hardware()
    problem = build_problem(
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
        prompt_tokens,
        new_tokens,
        itl_limit_ms,
    )
    study_name = study_name or f"hwbench-{problem.model}-{session.sweep_id}"
    study = open_study(storage, study_name, problem, seed, sampler)
    metric, direction = OBJECTIVES[objective]
    if n_trials is None and sampler == "tpe":
        n_trials = 30
    params = {
        "model": problem.model,
        "study_name": study_name,
        "storage": redact_uri(storage),
        "objective": objective,
        "objective_metric": metric,
        "direction": direction,
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
        **(
            {"prompt_tokens": problem.prompt_tokens, "new_tokens": problem.new_tokens} if scenario == N.GENERATE else {}
        ),
        **({"itl_limit_ms": itl_limit_ms} if itl_limit_ms is not None else {}),
    }
    with session.start(report, params, settings, tags={N.T_STUDY_NAME: study_name}):
        evaluate = Evaluator(problem, settings, report, session, study_name)
        planner = BatchPlanner(sorted(problem.configs), max_batch, direction == "maximize", repeats=repeats)
        loop = _TrialLoop(study, evaluate, planner if sampler == "planned" else None, settings.timeout_s + 120.0)
        evaluations, stop_reason = loop.run(n_trials, timeout_s, on_trial)
        trials = summaries(study)
        best, measured = best_of(trials, direction == "maximize")
        result = SearchResult(
            model=problem.model,
            study_name=study_name,
            storage=redact_uri(storage),
            objective=objective,
            direction=direction,
            memory_limit_mb=memory_limit_mb,
            latency_limit_ms=latency_limit_ms,
            max_batch=max_batch,
            trials=trials,
            itl_limit_ms=itl_limit_ms,
            evaluations=evaluations,
            stop_reason=stop_reason,
            sweep_id=session.sweep_id,
            parent_run_id=session.parent_run_id,
            experiment_id=session.experiment_id,
            experiment=session.experiment_name,
            tracking_uri=session.uri,
            best=best,
            best_measurements=measured,
            not_searched=dict(problem.skipped),
        )
        note, outcome = closing(result)
        session.finish(note, **outcome)
    session.conclude(result)  # the mirror follows, as after `hwbench search`
    return result


INTERRUPTED = "**hwbench search interrupted.**"  # the parent run's note after Ctrl-C or a crash


class _TrialLoop:
    """Asks the study for trials and evaluates them until the planner (``planner``; None: the
    study's TPE sampler) has nothing left, ``n_trials`` ran or ``timeout_s`` passed."""

    def __init__(
        self, study: optuna.Study, evaluate: Evaluator, planner: BatchPlanner | None, stale_after_s: float
    ) -> None:
        self.study, self.evaluate, self.planner, self.stale_after_s = study, evaluate, planner, stale_after_s
        self.distributions = distributions(evaluate.problem)

    def run(
        self, n_trials: int | None, timeout_s: float | None, on_trial: Callable[[TrialSummary], None] | None
    ) -> tuple[int, str]:
        """(trials evaluated, why it stopped: converged | n_trials | timeout)."""
        t0 = time.monotonic()
        evaluations = 0
        while True:
            if n_trials is not None and evaluations >= n_trials:
                return evaluations, "n_trials"
            if timeout_s is not None and time.monotonic() - t0 >= timeout_s:
                return evaluations, "timeout"
            if self.planner is not None:
                pick = self._next_point()
                if pick is None:
                    return evaluations, "converged"
                if pick == "wait":  # another worker is measuring: its result may open new points
                    time.sleep(1.0)
                    continue
                self.study.enqueue_trial({"config": pick[0], "batch_size": pick[1]})
            self._evaluate_one()
            evaluations += 1
            if on_trial is not None:
                on_trial(self._last_summary())

    def _next_point(self) -> tuple[str, int] | str | None:
        """The planner's first proposal no worker is measuring; ``"wait"`` while one is; None: converged."""
        assert self.planner is not None
        seen = observations(self.study, self.stale_after_s)
        running = {(o.config, o.batch) for o in seen if o.state == "running"}
        pick = next((p for p in self.planner.proposals(seen) if p not in running), None)
        return pick if pick is not None else ("wait" if running else None)

    def _evaluate_one(self) -> None:
        trial = self.study.ask(self.distributions)
        try:
            self.evaluate(trial)
        except BaseException:  # interrupted mid-trial: the study must not keep it RUNNING
            from optuna.trial import TrialState

            with contextlib.suppress(Exception):
                self.study.tell(trial, state=TrialState.FAIL)
            raise

    def _last_summary(self) -> TrialSummary:
        """The summary of the trial this process just told."""
        run_id = self.evaluate.session.results[-1].run_id
        return next(t for t in reversed(summaries(self.study)) if t.mlflow_run_id == run_id)
