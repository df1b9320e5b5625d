"""From a worker's raw observations to what gets logged: ``build_result`` and the sweep's
summaries, on hand-made WorkerOutcomes (no worker, no MLflow)."""

from __future__ import annotations

import math

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.hardware import HardwareReport, PlatformInfo
from hwbench_mlflow.results import (
    ConfigResult,
    SweepOutcome,
    SweepResult,
    build_result,
    measurement_conditions,
    process_conditions,
    summarise,
)
from hwbench_mlflow.worker import WorkerOutcome

REPORT = HardwareReport("testhost", (PlatformInfo("cpu", True, "Test CPU", ("cpu",)),))
CONFIG = BenchmarkConfig("bert-tiny", "cpu", "torch", "cpu", "fp32", 4)
SAMPLES = [10.0, 11.0, 12.0, 13.0, 14.0] * 20  # 100 samples


def success(**observed: float) -> WorkerOutcome:
    return WorkerOutcome(
        "success",
        params={"model_path": "/models/bert-tiny", "input_shape": "4x128", "worker_start": "exec"},
        observed={N.M_MEMORY_PEAK: 400.0, **observed},
        samples_ms=list(SAMPLES),
        wall_s=2.0,
        stop_reason="ci_met",
        ci_met=True,
    )


def test_build_result_of_a_success():
    settings = MeasureSettings()
    r = build_result(CONFIG, success(), REPORT, settings)
    assert r.status == "success" and r.error_category == ""
    assert r.params["model"] == "bert-tiny" and r.params["hardware_name"] == "Test CPU"
    assert r.params["model_path"] == "/models/bert-tiny" and r.params["input_shape"] == "4x128"
    assert r.params["batch_size"] == 4 and r.params["warmup"] == settings.warmup
    assert r.metrics[N.M_LAT_P50] == 12.0
    assert r.metrics[N.M_THROUGHPUT] == 4 * 100 / 2.0
    assert r.metrics[N.M_MEMORY_PEAK] == 400.0
    assert r.tags[N.T_STATUS] == "success" and r.tags[N.T_IS_SIMULATED] == "false"
    assert r.tags[N.T_STOP_REASON] == "ci_met" and r.tags[N.T_CI_MET] == "true"
    assert r.tags[N.T_PROCESS] == "a fresh worker interpreter, glibc malloc as preloaded"
    assert N.T_HOST_CONTENDED not in r.tags  # no host-load window observed
    said = "p95 from 100 samples (needs >= 130); p99 from 100 samples (needs >= 662)"
    assert r.tags[N.T_PERCENTILE_WARNING] == said
    assert r.measurement is not None and r.measurement.n == 100
    row = r.to_row()
    assert row["run_name"] == CONFIG.run_name and row["status"] == "success" and row[N.M_LAT_P50] == 12.0


def test_a_generation_row_carries_its_shape_and_token_metrics():
    config = BenchmarkConfig(
        "smollm2", "cpu", "torch", "cpu", "fp32", 1, scenario="generate", prompt_tokens=16, new_tokens=8
    )
    row = ConfigResult(config, "success", metrics={N.M_TTFT_P50: 98.0, N.M_DECODE_TPS: 16.5}).to_row()
    assert (row["prompt_tokens"], row["new_tokens"], row[N.M_TTFT_P50], row[N.M_DECODE_TPS]) == (16, 8, 98.0, 16.5)
    assert math.isnan(row[N.M_TPOT_MEAN])  # not measured: NaN, as for every missing metric
    assert N.M_TTFT_P50 not in ConfigResult(CONFIG, "success").to_row()  # other scenarios: no token columns


def test_a_busy_host_and_few_samples_are_tagged():
    outcome = success(**{N.M_HOST_OTHER_CPU: 60.0})
    outcome.samples_ms = SAMPLES[:10]
    r = build_result(CONFIG, outcome, REPORT, MeasureSettings())
    assert r.tags[N.T_HOST_CONTENDED] == "true"
    assert r.tags[N.T_PERCENTILE_WARNING].startswith("p90 from 10 samples (needs >= 64); ")


def test_build_result_of_a_failure_keeps_the_memory_reached():
    outcome = WorkerOutcome.failed("oom", "stopped by the memory guard\n at 512 MB", observed={N.M_MEMORY_PEAK: 512.0})
    r = build_result(CONFIG, outcome, REPORT, MeasureSettings())
    assert (r.status, r.error_category, r.error_message) == ("failed", "oom", "stopped by the memory guard at 512 MB")
    assert r.metrics == {N.M_MEMORY_PEAK: 512.0}
    assert r.tags[N.T_ERROR_CATEGORY] == "oom" and r.tags[N.T_STATUS] == "failed"
    assert r.measurement is None


def test_summarise_a_sweep():
    ok = build_result(CONFIG, success(), REPORT, MeasureSettings())
    bad = build_result(CONFIG, WorkerOutcome.failed("timeout", "no result in 60 s"), REPORT, MeasureSettings())
    skipped = build_result(CONFIG, WorkerOutcome("skipped", "unsupported", "fp16 not here"), REPORT, MeasureSettings())
    text = summarise([ok, bad, skipped])
    lines = text.splitlines()
    assert lines[0] == "**hwbench sweep**: 1/3 configs measured, 1 failed, 1 skipped (incompatible)."
    assert lines[4] == f"| {CONFIG.run_name} | ok | 12.000 | 14.000 | 200.0 | 400 |"
    assert lines[5] == f"| {CONFIG.run_name} | timeout: no result in 60 s | | | | |"
    assert lines[6] == f"| {CONFIG.run_name} | unsupported: fp16 not here | | | | |"
    target = MeasureSettings().target_ci * 100
    assert measurement_conditions([ok])[0] == f"1 of 1 configs met the ±{target:g} % CI target on the p50."
    assert measurement_conditions([bad]) == []


def test_process_conditions():
    params = {"worker_start": "forkserver", "allocator": "jemalloc", "malloc_settings": "default"}
    said = "a warm worker forked from a preloaded server, jemalloc malloc defaults, 4 torch threads"
    assert process_conditions({**params, "torch_num_threads": 4}) == said


def test_sweep_result_shares_the_outcome_fields():
    ok = build_result(CONFIG, success(), REPORT, MeasureSettings())
    bad = build_result(CONFIG, WorkerOutcome.failed("timeout", "slow"), REPORT, MeasureSettings())
    sweep = SweepResult("20250101-000000-abcdef", "sqlite:///x.db", "1", "run1", [ok, bad])
    assert isinstance(sweep, SweepOutcome)
    shared = (sweep.outboxed, sweep.replayed, sweep.sync_report, sweep.sync_error, sweep.experiment)
    assert shared == (0, 0, None, "", "")
    assert sweep.failed == [bad] and sweep.skipped == []
    frame = sweep.to_frame()
    assert list(frame["status"]) == ["success", "failed"]


def test_the_shared_fields_are_keyword_only_and_listed_last():
    with pytest.raises(TypeError):
        SweepResult("id", "uri", "1", "run", [], 1)  # type: ignore[misc]
    shared = ["outboxed", "replayed", "sync_report", "sync_error", "experiment"]
    sweep = SweepResult("id", "uri", "1", "run", [], outboxed=2, experiment="e")
    assert list(
        sweep.trailing(
            {"experiment": "e", "outboxed": 2, "replayed": 0, "sync_report": None, "sync_error": "", "sweep_id": "id"}
        )
    ) == ["sweep_id", *shared]
