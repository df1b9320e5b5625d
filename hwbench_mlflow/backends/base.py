"""The backend contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..config import BenchmarkConfig
from ..generation import GenerationTrace
from ..hardware import HardwareReport
from ..measure import LoopResult, StopRule


class Backend(ABC):
    """One runtime executing one config inside a worker process.

    Lifecycle: ``check`` (class-level, before any load) → ``prepare`` → ``load`` → ``run`` × N →
    ``close``. ``run`` performs one inference or one full training step, depending on
    ``config.mode``; ``synchronize`` waits for the device so timings cover the work.
    ``load`` returns params describing what was loaded (weights, paths, dtypes, ...);
    ``weights_sha256`` and ``output_dtype`` add the weights' digest and the output's type.
    """

    name: str = ""
    generates: bool = False  # implements ``generate`` (the ``generate`` scenario)
    weight_only_precisions: tuple[str, ...] = ()  # which of names.WEIGHT_ONLY_PRECISIONS it runs

    def __init__(self, config: BenchmarkConfig) -> None:
        self.config = config

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        """Why a piece this config needs is not installed here (→ ``unavailable``), or None.

        For what an install would fix (an execution provider, a plugin); ``check`` is for
        what cannot work on this hardware at all. Must be cheap.
        """
        return None

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        """Why this config cannot run here (→ ``unsupported``), or None. Must be cheap."""
        return None

    def prepare(self) -> None:
        """Import the runtime and resolve what ``load`` needs; not counted in ``startup_ms``."""
        return None

    @abstractmethod
    def load(self) -> dict[str, Any]:
        """Build/load the model and inputs on the device; return descriptive params."""

    @abstractmethod
    def run(self) -> Any:
        """One inference (or training step) on the prepared inputs."""

    def throughput_loop(self, rule: StopRule) -> LoopResult | None:
        """The ``throughput`` scenario: as many requests in flight as the runtime wants.

        Return a LoopResult whose samples are per-request latencies (ms) and whose
        ``wall_s`` spans the whole window, so throughput = batch × requests / wall. Return
        None where the runtime has no concurrent mode: the worker then runs the sequential
        loop and the ``throughput_mode`` param says so.
        """
        return None

    def latency_loop(self, rule: StopRule) -> LoopResult | None:
        """The ``latency`` loop, for a runtime that must time its own requests (a browser page
        timing ``session.run`` itself); None: the worker times ``run`` in Python."""
        return None

    def generate(self) -> GenerationTrace:
        """The ``generate`` scenario: one timed greedy generation of the prepared prompts,
        exactly ``config.new_tokens`` tokens per sequence (EOS ignored), timestamps per token.
        Only for backends whose class sets ``generates = True``."""
        raise NotImplementedError(f"{self.name} does not generate")

    def kv_cache_mb(self) -> float | None:
        """The ``generate`` scenario: the KV cache's size for the config's batch at prompt + new
        tokens, from the loaded model's config (``generation.kv_cache_mb``); None: not known."""
        return None

    def own_observations(self) -> dict[str, float | None]:
        """``startup_ms`` / ``first_inference_ms`` / ``memory_*_mb`` the runtime measured itself,
        replacing the worker's (e.g. the browser's processes, not the worker's RSS); None
        removes a worker observation that does not describe this runtime."""
        return {}

    def weights_sha256(self) -> str:
        """SHA-256 of the real weights the model was loaded from ('' for random weights or where
        the runtime cannot tell); called after ``load``, outside ``startup_ms``."""
        return ""

    def output_dtype(self, out: Any) -> str | None:
        """The element type of ``out`` (what ``run`` returned), e.g. ``float32``; None: not known
        (no ``output_dtype`` param)."""
        return None

    def synchronize(self) -> None:
        """Block until the device has finished queued work (no-op on the CPU)."""
        return None

    def conditions(self) -> dict[str, Any]:
        """Runtime conditions that move results (threads, library settings)."""
        return {}

    def device_memory_peak_mb(self) -> float | None:
        """Peak device memory since load, for GPUs; None where not applicable."""
        return None

    def energy_j(self) -> float | None:
        """Cumulative energy counter of the device in joules, where one exists."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the model and device memory."""
