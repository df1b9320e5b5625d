"""What a search optimises: the objectives, the checked inputs, and the fixed problem a study is made for."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import names as N
from ..catalog import resolve_model
from ..config import BenchmarkConfig
from ..errors import BadInputError

if TYPE_CHECKING:
    from ..hardware import HardwareReport

# objective name → (metric, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "throughput": (N.M_THROUGHPUT, "maximize"),
    "latency-p50": (N.M_LAT_P50, "minimize"),
    "latency-p95": (N.M_LAT_P95, "minimize"),
    "latency-p99": (N.M_LAT_P99, "minimize"),
    "latency-mean": (N.M_LAT_MEAN, "minimize"),
}
SAMPLERS = ("planned", "tpe")
DEFAULT_MAX_BATCH = 256


def config_key(c: BenchmarkConfig) -> str:
    """The non-batch part of a configuration: ``hardware/backend/device/precision``."""
    return f"{c.hardware}/{c.backend}/{c.device}/{c.precision}"


@dataclass
class Problem:
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


def check_number(param: str, value: float | None, minimum: float = 0.0) -> None:
    """``value`` is None or a finite number above ``minimum``; the error names ``param``."""
    if value is not None and not (math.isfinite(value) and value > minimum):
        raise BadInputError(f"{param} must be a number > {minimum:g}, got {value:g}", param=param)


def check_at_least_one(param: str, value: int | None) -> None:
    """``value`` is None or >= 1; the error names ``param``."""
    if value is not None and value < 1:
        raise BadInputError(f"{param} must be >= 1, got {value}", param=param)


def check_limits(memory_limit_mb: float | None, latency_limit_ms: float | None, max_batch: int) -> None:
    check_at_least_one("max_batch", max_batch)
    check_number("memory_limit_mb", memory_limit_mb)
    check_number("latency_limit_ms", latency_limit_ms)


def build_problem(
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
) -> Problem:
    """The configurations this host can search (the others in ``skipped``, with why)."""
    from ..plan import build_plan, precheck

    if objective not in OBJECTIVES:
        raise BadInputError(f"unknown objective '{objective}'; choose from {', '.join(OBJECTIVES)}")
    check_limits(memory_limit_mb, latency_limit_ms, max_batch)
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
    return Problem(
        spec.key, configs, objective, memory_limit_mb, latency_limit_ms, max_batch, mode, scenario, seq_length, skipped
    )
