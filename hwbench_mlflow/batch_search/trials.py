"""One trial of a search: what the study already knows, and a guarded worker run that tells
Optuna its value and constraints (memory over the limit, p99 over the latency limit)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import names as N
from ..config import BenchmarkConfig, MeasureSettings
from .planner import Observation
from .problem import OBJECTIVES, Problem

if TYPE_CHECKING:
    import optuna

    from ..hardware import HardwareReport
    from ..runner import SweepSession

# what a trial remembers of its run (Optuna user attrs; outcome.TrialSummary)
TRIAL_METRICS = (N.M_THROUGHPUT, N.M_LAT_P50, N.M_LAT_P99, N.M_DECODE_TPS, N.M_TTFT_P50, N.M_ITL_P99)
HOST_MEMORY_SHARE = 0.9  # a worker is stopped before it takes more than this share of the available memory


def distributions(problem: Problem) -> dict[str, Any]:
    """The search space: a configuration and a batch size (log-uniform up to ``max_batch``)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    return {
        "config": CategoricalDistribution(sorted(problem.configs)),
        "batch_size": IntDistribution(1, problem.max_batch, log=True),
    }


def observations(study: optuna.Study, stale_after_s: float) -> list[Observation]:
    """The study's trials as the planner sees them; a trial RUNNING longer than ``stale_after_s`` is dropped."""
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


class Evaluator:
    """Runs one trial: a guarded worker, its MLflow child run (through the session), its constraints."""

    def __init__(
        self,
        problem: Problem,
        settings: MeasureSettings,
        report: HardwareReport,
        session: SweepSession,
        study_name: str,
    ) -> None:
        import psutil

        self.problem, self.settings, self.report, self.session = problem, settings, report, session
        self.study_name = study_name
        self.host_cap_mb = HOST_MEMORY_SHARE * psutil.virtual_memory().available / 2**20

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
            for metric, limit in ((N.M_LAT_P99, p.latency_limit_ms), (N.M_ITL_P99, p.itl_limit_ms)):
                if limit is not None:
                    value = result.metrics.get(metric)
                    constraints[metric] = (value - limit) if value is not None else 1.0
        feasible = bool(constraints) and all(v <= 0 for v in constraints.values())
        result.params["memory_guard_mb"] = round(guard.limit_mb, 1)
        result.tags.update(
            {
                N.T_STUDY_NAME: self.study_name,
                N.T_TRIAL_NUMBER: str(trial.number),
                N.T_FEASIBLE: str(feasible).lower(),
            }
        )
        self.session.record(result, started)
        attrs = {
            "mlflow_run_id": result.run_id,
            "status": result.status,
            "memory_mb": mem,
            "memory_capped": capped,
            "error": f"{result.error_category}: {result.error_message}" if result.error_category else "",
            **{k: result.metrics[k] for k in TRIAL_METRICS if k in result.metrics},
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
