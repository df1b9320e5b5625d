"""The timing loop, its statistics and the memory probes. Knows nothing of MLflow.

Percentiles use numpy's default ``linear`` method (Hyndman & Fan type 7). The CI of
the median is distribution-free: order statistics whose ranks come from the
Binomial(n, 1/2) distribution (no normality assumed).
"""

from __future__ import annotations

import gc
import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from .config import MeasureSettings
from .names import (
    M_CI_HIGH,
    M_CI_LOW,
    M_DURATION,
    M_ITERATIONS,
    M_LAT_MAX,
    M_LAT_MEAN,
    M_LAT_MIN,
    M_LAT_P50,
    M_LAT_P90,
    M_LAT_P95,
    M_LAT_P99,
    M_LAT_STD,
    M_THROUGHPUT,
)

PERCENTILE_METHOD = "linear (Hyndman-Fan type 7, numpy default)"
REPORTED_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def percentile(values: Sequence[float] | np.ndarray, p: float) -> float:
    """The ``p`` percentile of ``values`` by :data:`PERCENTILE_METHOD` (every reported percentile)."""
    return float(np.percentile(values, p, method="linear"))


@cache
def required_samples(percentile: float, confidence: float = 0.99) -> int:
    """Fewest samples for a trustworthy percentile: MLPerf LoadGen's early-stopping rule.

    The smallest n for which seeing at most one sample above the percentile would be
    unlikely (probability ≤ 1 - confidence) if the true tail were (1 - p). Gives 64 for
    p90, 130 for p95 and 662 for p99, LoadGen's published minimums.
    """
    from scipy.stats import binom

    tail = 1.0 - percentile / 100.0
    if tail <= 0:
        raise ValueError("percentile must be < 100")
    n = 2
    while binom.cdf(1, n, tail) > 1.0 - confidence:
        n += max(1, n // 50)
    while n > 2 and binom.cdf(1, n - 1, tail) <= 1.0 - confidence:
        n -= 1
    return n


def quantile_ci(sorted_samples: np.ndarray, q: float, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the ``q`` quantile from order statistics (binomial ranks);
    NaN for a bound the sample count cannot give (e.g. the p99's upper bound from 50 samples)."""
    n = len(sorted_samples)
    if n < 6:
        return (math.nan, math.nan)
    from scipy.stats import binom

    alpha = 1.0 - confidence
    lo = max(int(binom.ppf(alpha / 2, n, q)), 1)  # 1-based ranks
    hi = int(binom.ppf(1.0 - alpha / 2, n, q)) + 1
    low = float(sorted_samples[lo - 1])
    return low, float(sorted_samples[hi - 1]) if hi <= n else math.nan


def median_ci(sorted_samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (NaNs for n < 6)."""
    return quantile_ci(sorted_samples, 0.5, confidence)


@dataclass(frozen=True)
class Measurement:
    """Raw per-iteration latencies of one config; every statistic is derived from them.

    ``wall_s`` is the wall time of the whole timed loop (first start to last end), so
    throughput = batch × iterations / wall_s includes the loop's own overhead.
    """

    samples_ms: tuple[float, ...]
    batch_size: int
    wall_s: float
    confidence: float = 0.95

    @cached_property
    def _sorted(self) -> np.ndarray:
        return np.sort(np.asarray(self.samples_ms, dtype=float))

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @cached_property
    def median_ms(self) -> float:
        return float(np.median(self._sorted))

    @cached_property
    def mean_ms(self) -> float:
        return float(np.mean(self._sorted))

    def percentile(self, p: float) -> float:
        return percentile(self._sorted, p)

    @cached_property
    def median_ci(self) -> tuple[float, float]:
        return median_ci(self._sorted, self.confidence)

    @cached_property
    def ci_rel_halfwidth(self) -> float:
        """Half the CI width relative to the median (0.02 = ±2 %); inf if not computable."""
        lo, hi = self.median_ci
        if math.isnan(lo) or self.median_ms <= 0:
            return math.inf
        return (hi - lo) / 2.0 / self.median_ms

    @property
    def throughput(self) -> float:
        return self.batch_size * self.n / self.wall_s if self.wall_s > 0 else math.nan

    def insufficient_percentiles(self) -> dict[float, int]:
        """Reported percentiles whose sample count is below LoadGen's minimum → minimum."""
        return {p: required_samples(p) for p in REPORTED_PERCENTILES[1:] if self.n < required_samples(p)}

    def metrics(self) -> dict[str, float]:
        lo, hi = self.median_ci
        m = {
            M_THROUGHPUT: self.throughput,
            M_LAT_MEAN: self.mean_ms,
            M_LAT_P50: self.percentile(50),
            M_LAT_P90: self.percentile(90),
            M_LAT_P95: self.percentile(95),
            M_LAT_P99: self.percentile(99),
            M_LAT_MIN: float(self._sorted[0]),
            M_LAT_MAX: float(self._sorted[-1]),
            M_LAT_STD: float(np.std(self._sorted, ddof=1)) if self.n > 1 else 0.0,
            M_ITERATIONS: float(self.n),
            M_DURATION: self.wall_s,
        }
        if not math.isnan(lo):
            m[M_CI_LOW], m[M_CI_HIGH] = lo, hi
        return m


@dataclass(frozen=True)
class StopRule:
    """When the timed loop may stop; see MeasureSettings for the meaning of each field."""

    min_iterations: int
    min_time_s: float
    max_time_s: float
    target_ci: float
    confidence: float
    min_samples: int

    @classmethod
    def from_settings(cls, s: MeasureSettings) -> StopRule:
        return cls(
            s.min_iterations,
            s.min_time_s,
            s.max_time_s,
            s.target_ci,
            s.confidence,
            required_samples(s.target_percentile),
        )

    def converged(self, samples_ms: list[float], elapsed_s: float) -> bool:
        n = len(samples_ms)
        if n < max(self.min_iterations, self.min_samples) or elapsed_s < self.min_time_s:
            return False
        m = Measurement(tuple(samples_ms), 1, elapsed_s, self.confidence)
        return m.ci_rel_halfwidth <= self.target_ci


@dataclass(frozen=True)
class LoopResult:
    measurement: Measurement
    stop_reason: str  # converged | max_time
    ci_met: bool
    minor_faults: int


class LoopWindow:
    """What every timed loop shares, whoever drives the requests (a plain loop here, an
    OpenVINO queue, ONNX Runtime threads): inside ``with``, Python's cyclic garbage
    collector is paused (as ``timeit`` does) and minor page faults are counted;
    ``should_stop`` evaluates the rule at geometrically spaced sample counts (every
    ~10 %, so its cost stays negligible) and at the time cap; ``result`` builds the
    LoopResult.
    """

    def __init__(self, rule: StopRule) -> None:
        self.rule = rule
        self.stop_reason = "max_time"
        self.minor_faults = 0
        self._next_check = max(rule.min_iterations, 2)

    def __enter__(self) -> LoopWindow:
        self._gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        self._faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return self

    def __exit__(self, *exc: object) -> None:
        self.minor_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self._faults0
        if self._gc_was_enabled:
            gc.enable()

    def should_stop(self, samples_ms: list[float], elapsed_s: float) -> bool:
        if len(samples_ms) >= self._next_check:
            if self.rule.converged(samples_ms, elapsed_s):
                self.stop_reason = "converged"
                return True
            self._next_check = len(samples_ms) + max(1, len(samples_ms) // 10)
        return elapsed_s >= self.rule.max_time_s

    def result(self, samples_ms: list[float], batch_size: int, wall_s: float) -> LoopResult:
        m = Measurement(tuple(samples_ms), batch_size, wall_s, self.rule.confidence)
        return LoopResult(m, self.stop_reason, m.ci_rel_halfwidth <= self.rule.target_ci, self.minor_faults)


def timed_loop(
    step: Callable[[], object],
    sync: Callable[[], None],
    rule: StopRule,
    batch_size: int,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> LoopResult:
    """Run ``step`` until ``rule`` says stop; the device is synchronised around every call."""
    samples: list[float] = []
    with LoopWindow(rule) as window:
        sync()
        start = clock()
        while True:
            t0 = clock()
            step()
            sync()
            t1 = clock()
            samples.append((t1 - t0) / 1e6)
            if window.should_stop(samples, (t1 - start) / 1e9):
                break
        wall = (clock() - start) / 1e9
    return window.result(samples, batch_size, wall)


def peak_rss_mb(pid: int | None = None) -> float:
    """The kernel's high-water mark of a process's resident set (VmHWM), in MiB: this process's
    (without ``/proc``: from getrusage), or another's by ``pid`` (0 if it is gone)."""
    try:
        with open(f"/proc/{'self' if pid is None else pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    if pid is not None:
        return 0.0
    # ru_maxrss is KiB on Linux, bytes on macOS
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024.0
