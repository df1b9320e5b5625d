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
    # scenario generate: the batch is the number of sequences generated at once
    "decode-tokens-per-s": (N.M_DECODE_TPS, "maximize"),
    "output-tokens-per-s": (N.M_OUTPUT_TPS, "maximize"),
    "ttft-p50": (N.M_TTFT_P50, "minimize"),
}
GENERATE_OBJECTIVES = ("decode-tokens-per-s", "output-tokens-per-s", "ttft-p50")


def default_objective(scenario: str) -> str:
    """``throughput``; for scenario generate, decode tokens/s (the batch's tokens per second once decoding)."""
    return "decode-tokens-per-s" if scenario == N.GENERATE else "throughput"


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
    prompt_tokens: int | None = None  # scenario generate
    new_tokens: int | None = None
    itl_limit_ms: float | None = None  # p99 inter-token latency limit (scenario generate)

    def signature(self) -> str:
        generate = (
            {"prompt_tokens": self.prompt_tokens, "new_tokens": self.new_tokens, "itl_limit_ms": self.itl_limit_ms}
            if self.scenario == N.GENERATE
            else {}
        )
        return json.dumps(
            {
                **generate,
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
    prompt_tokens: int | None = None,
    new_tokens: int | None = None,
    itl_limit_ms: float | None = None,
) -> Problem:
    """The configurations this host can search (the others in ``skipped``, with why)."""
    from ..plan import build_plan, generation_shapes, precheck

    if objective not in OBJECTIVES:
        raise BadInputError(f"unknown objective '{objective}'; choose from {', '.join(OBJECTIVES)}")
    generate = scenario == N.GENERATE
    if generate != (objective in GENERATE_OBJECTIVES):
        which = ", ".join(GENERATE_OBJECTIVES) if generate else ", ".join(set(OBJECTIVES) - set(GENERATE_OBJECTIVES))
        raise BadInputError(
            f"objective '{objective}' does not apply to scenario '{scenario}'; choose from {which}", param="objective"
        )
    check_limits(memory_limit_mb, latency_limit_ms, max_batch)
    check_number("itl_limit_ms", itl_limit_ms)
    if itl_limit_ms is not None and not generate:
        raise BadInputError("itl_limit_ms needs scenario 'generate'", param="itl_limit_ms", params=("scenario",))
    spec = resolve_model(model)
    prompts, news = generation_shapes([spec], [scenario], prompt_tokens, new_tokens)
    for hw in hardware:
        if hw not in N.PLATFORMS:
            raise BadInputError(f"unknown hardware '{hw}'; choose from {', '.join(N.PLATFORMS)}")
    plan = build_plan(
        [spec],
        list(hardware) or ["cpu"],
        list(backend) or None,
        [1],
        list(precisions) or None,
        [mode],
        seq_length,
        report,
        [scenario],
        prompt_tokens=prompts,
        new_tokens=news,
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
        spec.key,
        configs,
        objective,
        memory_limit_mb,
        latency_limit_ms,
        max_batch,
        mode,
        scenario,
        seq_length,
        skipped,
        prompts[0] if prompts else None,
        news[0] if news else None,
        itl_limit_ms,
    )
