"""Statistics of the measurement loop, on synthetic samples and a synthetic step."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.stats import binom

from hwbench_mlflow import names as N
from hwbench_mlflow.config import MeasureSettings
from hwbench_mlflow.measure import Measurement, StopRule, median_ci, required_samples, timed_loop


def test_required_samples_match_mlperf_loadgen():
    assert required_samples(90) == 64
    assert required_samples(99) == 662
    assert required_samples(95) == 130
    # derived the same way: at most one sample above the percentile is < 1 % likely
    n = required_samples(95)
    assert binom.cdf(1, n, 0.05) <= 0.01 < binom.cdf(1, n - 1, 0.05)


def test_metrics_derive_from_samples():
    rng = np.random.default_rng(0)
    samples = tuple(float(x) for x in rng.lognormal(1.0, 0.3, 1000))
    m = Measurement(samples, batch_size=4, wall_s=sum(samples) / 1e3 * 1.01)
    met = m.metrics()
    arr = np.array(samples)
    assert met[N.M_LAT_P50] == pytest.approx(np.percentile(arr, 50))
    assert met[N.M_LAT_P99] == pytest.approx(np.percentile(arr, 99))
    assert met[N.M_LAT_MIN] <= met[N.M_LAT_P50] <= met[N.M_LAT_P90] <= met[N.M_LAT_P95] <= met[N.M_LAT_P99]
    assert met[N.M_LAT_P99] <= met[N.M_LAT_MAX]
    assert met[N.M_LAT_STD] == pytest.approx(np.std(arr, ddof=1))
    assert met[N.M_ITERATIONS] == 1000
    assert met[N.M_THROUGHPUT] == pytest.approx(4 * 1000 / m.wall_s)
    lo, hi = m.median_ci
    assert met[N.M_CI_LOW] == lo < m.median_ms < hi == met[N.M_CI_HIGH]
    assert m.insufficient_percentiles() == {}


def test_median_ci_covers_true_median_at_nominal_rate():
    rng = np.random.default_rng(1)
    true_median = math.exp(1.0)
    hits = 0
    for _ in range(400):
        s = np.sort(rng.lognormal(1.0, 0.5, 50))
        lo, hi = median_ci(s, 0.95)
        hits += lo <= true_median <= hi
    assert 0.93 <= hits / 400 <= 0.995  # order-statistic CI is conservative, never too narrow


def test_too_few_samples_are_flagged():
    m = Measurement(tuple(float(i) for i in range(1, 101)), 1, 1.0)
    assert m.insufficient_percentiles() == {95.0: 130, 99.0: 662}
    tiny = Measurement((1.0, 2.0, 3.0), 1, 0.01)
    assert math.isinf(tiny.ci_rel_halfwidth)
    assert N.M_CI_LOW not in tiny.metrics()


def test_loop_stops_when_converged_with_enough_samples_for_p99():
    rule = StopRule.from_settings(MeasureSettings(min_time_s=0.01, max_time_s=30, target_ci=0.05))
    res = timed_loop(lambda: time.sleep(0.0002), lambda: None, rule, batch_size=2)
    assert res.stop_reason == "converged" and res.ci_met
    assert res.measurement.n >= 662
    assert res.measurement.wall_s < 30
    assert res.measurement.wall_s >= sum(res.measurement.samples_ms) / 1e3


def test_loop_respects_max_time_and_counts_sync():
    calls = {"sync": 0}

    def sync():
        calls["sync"] += 1

    rule = StopRule.from_settings(MeasureSettings(min_time_s=0.05, max_time_s=0.2))
    res = timed_loop(lambda: time.sleep(0.01), sync, rule, batch_size=1)
    assert res.stop_reason == "max_time"
    assert 0.2 <= res.measurement.wall_s < 0.5
    assert calls["sync"] == res.measurement.n + 1  # once before the loop, once after every step
    assert all(s >= 10.0 for s in res.measurement.samples_ms)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_time_s": 0}, "--min-time must be a positive number of seconds, got 0"),
        ({"max_time_s": -1}, "--max-time must be a positive number of seconds, got -1"),
        ({"min_time_s": 5, "max_time_s": 1}, "--min-time (5) must not exceed --max-time (1)"),
        ({"target_ci": 0}, "--target-ci must be between 0 and 1"),
        ({"warmup": -1}, "--warmup must be >= 0, got -1"),
    ],
)
def test_settings_validate(kwargs, message):
    from hwbench_mlflow.cli.flags import PARAM_FLAGS
    from hwbench_mlflow.errors import BadInputError

    with pytest.raises(BadInputError) as exc:
        MeasureSettings(**kwargs)
    # the library names its fields (tests/core/test_config.py); the CLI says the message in flags
    assert exc.value.renamed(PARAM_FLAGS).startswith(message)
