"""Frozen configs that only validate: no environment changes, no heavy imports."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from .catalog import DEFAULT_SEQ_LENGTH
from .errors import BadInputError
from .names import DEFAULT_PRECISION, GENERATE, MODES, PLATFORMS, PRECISIONS, SCENARIOS
from .runtimes import RUNTIMES

# Which runtime executes a platform when --backend is not given (runtimes.Runtime.default_on).
DEFAULT_BACKEND = {p: r.name for p in PLATFORMS for r in RUNTIMES if p in r.default_on}
# ... and scenario generate, where another runtime generates there (Runtime.generate_default_on).
DEFAULT_GENERATE_BACKEND = {
    **DEFAULT_BACKEND,
    **{p: r.name for p in PLATFORMS for r in RUNTIMES if p in r.generate_default_on},
}
_DEFAULT_PRECISION = {r.name: r.default_precision for r in RUNTIMES}


def default_backend(platform: str, scenario: str) -> str:
    """The runtime a platform's configs of ``scenario`` run on when no backend is chosen."""
    return (DEFAULT_GENERATE_BACKEND if scenario == GENERATE else DEFAULT_BACKEND)[platform]


def default_precision(backend: str) -> str:
    """What ``backend`` runs when no precision is asked: fp32, or its one precision (openvino_genai: int4)."""
    return _DEFAULT_PRECISION.get(backend, DEFAULT_PRECISION)


RUN_NAME_SEP = " · "  # between the parts of BenchmarkConfig.run_name


def _model_label(model: str) -> str:
    """A model as a run name shows it: a local path (absolute, ``./``/``../``/``~``-relative, or
    one that exists) by its last component; a catalog key or Hugging Face id (``org/name``) whole."""
    if "/" not in model and os.sep not in model:
        return model
    local = os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model)
    return (os.path.basename(model.rstrip("/" + os.sep)) or model) if local else model


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how precisely to measure one config.

    The timed loop stops when *all* of: ``min_iterations`` done, ``min_time_s`` elapsed,
    the 95 % CI of the median within ±``target_ci`` of it, and enough samples for the
    ``target_percentile`` (MLPerf LoadGen's rule) — or when ``max_time_s`` is reached.
    """

    warmup: int = 5
    min_iterations: int = 10
    min_time_s: float = 0.5
    max_time_s: float = 10.0
    target_ci: float = 0.02
    confidence: float = 0.95
    target_percentile: float = 99.0
    timeout_s: float = 900.0
    malloc: str = "tuned"
    worker_start: str = "forkserver"

    def __post_init__(self) -> None:
        # Messages name the fields; the CLI says its flags instead (cli.flags.PARAM_FLAGS).
        if self.warmup < 0:
            raise BadInputError(f"warmup must be >= 0, got {self.warmup}", param="warmup")
        if self.min_iterations < 1:
            raise BadInputError(f"min_iterations must be >= 1, got {self.min_iterations}", param="min_iterations")
        for param, value in (
            ("min_time_s", self.min_time_s),
            ("max_time_s", self.max_time_s),
            ("timeout_s", self.timeout_s),
        ):
            if not value > 0:
                raise BadInputError(f"{param} must be a positive number of seconds, got {value:g}", param=param)
        if self.min_time_s > self.max_time_s:
            raise BadInputError(
                f"min_time_s ({self.min_time_s:g}) must not exceed max_time_s ({self.max_time_s:g})",
                param="min_time_s",
                params=("max_time_s",),
            )
        if not 0 < self.target_ci < 1:
            raise BadInputError(
                f"target_ci must be between 0 and 1 (0.02 = ±2 %), got {self.target_ci:g}", param="target_ci"
            )
        if self.malloc not in ("tuned", "default"):
            raise BadInputError(f"malloc must be 'tuned' or 'default', got '{self.malloc}'", param="malloc")
        if self.worker_start not in ("forkserver", "exec"):
            raise BadInputError(
                f"worker_start must be 'forkserver' or 'exec', got '{self.worker_start}'", param="worker_start"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkConfig:
    """One point of the grid: one MLflow child run."""

    model: str
    hardware: str
    backend: str
    device: str
    precision: str
    batch_size: int
    mode: str = "inference"
    scenario: str = "latency"
    seq_length: int = DEFAULT_SEQ_LENGTH
    prompt_tokens: int | None = None  # scenario generate only: the prompt's length in tokens
    new_tokens: int | None = None  # scenario generate only: tokens generated per sequence

    def __post_init__(self) -> None:
        if self.hardware not in PLATFORMS:
            raise BadInputError(f"unknown hardware '{self.hardware}'; choose from {', '.join(PLATFORMS)}")
        if self.precision not in PRECISIONS:
            raise BadInputError(f"unknown precision '{self.precision}'; choose from {', '.join(PRECISIONS)}")
        if self.mode not in MODES:
            raise BadInputError(f"unknown mode '{self.mode}'; choose from {', '.join(MODES)}")
        if self.scenario not in SCENARIOS:
            raise BadInputError(f"unknown scenario '{self.scenario}'; choose from {', '.join(SCENARIOS)}")
        if self.batch_size < 1:
            raise BadInputError(f"batch size must be a positive integer, got {self.batch_size}")
        if self.seq_length < 1:
            raise BadInputError(f"seq_length must be a positive integer, got {self.seq_length}", param="seq_length")
        for param, value in (("prompt_tokens", self.prompt_tokens), ("new_tokens", self.new_tokens)):
            if self.scenario != GENERATE and value is not None:
                raise BadInputError(f"{param} is for scenario 'generate' only", param=param, params=("scenario",))
            if self.scenario == GENERATE and (value is None or value < 1):
                raise BadInputError(
                    f"scenario 'generate' needs {param} >= 1, got {value}", param=param, params=("scenario",)
                )

    @property
    def run_name(self) -> str:
        """The MLflow child run's name, also the config's label in the terminal: what tells the
        configs of one sweep apart first (MLflow's runs table shows only a name's start), e.g.
        ``fp32 b8 · cpu/torch · bert-tiny · inference`` (`` · throughput`` for that scenario;
        ``fp32 b1 p128 n64 · …`` for ``generate``).
        A local model directory or file is named by its last path component (params ``model``
        and ``model_path`` hold the whole path)."""
        if self.device in ("cpu", "CPU", "cuda:0", "mps", "none"):
            where = self.hardware
        elif self.device.startswith(f"{self.hardware}:"):  # cuda:1, not cuda:cuda:1
            where = self.device
        else:
            where = f"{self.hardware}:{self.device}"
        first = f"{self.precision} b{self.batch_size}"
        if self.scenario == GENERATE:
            first += f" p{self.prompt_tokens} n{self.new_tokens}"
        parts = [first, f"{where}/{self.backend}", _model_label(self.model), self.mode]
        if self.scenario == "throughput":
            parts.append("throughput")
        return RUN_NAME_SEP.join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
