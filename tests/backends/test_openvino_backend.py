"""The OpenVINO backend: conversion vs torch, the IR cache, int8 through NNCF, the latency and
throughput scenarios in a real worker, and check() reasons; bert-tiny with random weights.

Cache isolation: in-process tests point ``HWBENCH_CACHE_DIR`` at a temporary directory with
monkeypatch. Worker tests start the worker with ``worker_start="exec"``, which hands the
current environment (so that directory) to a fresh interpreter; a forked worker would
inherit the environment of the fork server, fixed when the session first started one.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import torch

from hwbench_mlflow.backends.openvino_backend import (
    CALIBRATION_SIZE,
    IR_BIN,
    IR_XML,
    OpenVINOBackend,
    ir_sha256,
)
from hwbench_mlflow.backends.torch_backend import reference_model
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.hardware import HardwareReport, PlatformInfo, detect_hardware
from hwbench_mlflow.measure import StopRule
from hwbench_mlflow.results import build_result
from hwbench_mlflow.worker import run_in_worker
from tests._backend_cache import isolated_cache

SEQ = 32
SETTINGS = MeasureSettings(max_time_s=1, min_time_s=0.2, warmup=2, worker_start="exec")
RULE = StopRule(min_iterations=10, min_time_s=0.2, max_time_s=1.0, target_ci=0.02, confidence=0.95, min_samples=64)
QUANTIZED_TYPES = {"u8", "i8"}


def _cfg(precision: str = "fp32", batch: int = 2, scenario: str = "latency", **kw) -> BenchmarkConfig:
    return BenchmarkConfig(
        "bert-tiny", "openvino", "openvino", "CPU", precision, batch, "inference", scenario, seq_length=SEQ, **kw
    )


cache_dir, cache = isolated_cache("hwbench-ov-cache")


@pytest.fixture(scope="module")
def torch_out() -> np.ndarray:
    ref = reference_model(_cfg())
    with torch.inference_mode():
        return ref.model(**ref.inputs).last_hidden_state.numpy()


def _loaded(cfg: BenchmarkConfig) -> tuple[OpenVINOBackend, dict]:
    b = OpenVINOBackend(cfg)
    b.prepare()
    return b, b.load()


def test_fp32_matches_torch_and_second_run_hits_the_cache(cache: Path, torch_out: np.ndarray) -> None:
    b, params = _loaded(_cfg())
    out = b.run()
    assert b.output_dtype(out) == "float32"
    assert out.shape == torch_out.shape == (2, SEQ, 128)
    assert np.abs(out - torch_out).max() < 1e-3
    xml = Path(params["model_path"])
    assert xml.name == IR_XML and xml.exists() and (xml.parent / IR_BIN).exists() and xml.is_relative_to(cache)
    assert params["ir_sha256"] == ir_sha256(xml.parent) and len(params["ir_sha256"]) == 64
    assert params["ir_cache"] == "miss" and params["conversion_ms"] > 0
    assert params["conversion_process"] == "in-process"  # pytest has threads: no fork
    assert params["input_shape"] == f"input_ids=[2,{SEQ}];attention_mask=[2,{SEQ}]"
    assert params["weights"] == "random" and params["weights_sha256"] == "" and b.weights_sha256() == ""
    assert params["quantization"] == "none"
    assert 4_000_000 < params["model_params"] < 4_500_000
    assert params["ov_performance_hint"] == "LATENCY"
    assert params["ov_inference_precision"] == "f32"  # explicit: no silent bf16 on bf16-capable CPUs
    assert params["ov_optimal_infer_requests"] == 1
    assert int(params["ov_num_streams"]) >= 1 and int(params["ov_inference_num_threads"]) >= 1
    assert params["ov_version"] == ov.__version__
    # the IR on disk is static: exactly the benchmark's shape
    model = ov.Core().read_model(str(xml))
    assert [list(p.get_shape()) for p in model.inputs] == [[2, SEQ], [2, SEQ]]
    b.close()

    again, params2 = _loaded(_cfg())
    assert params2["ir_cache"] == "hit" and params2["conversion_ms"] == 0
    assert params2["model_path"] == params["model_path"] and params2["ir_sha256"] == params["ir_sha256"]
    assert np.array_equal(again.run(), out)
    again.close()


def test_int8_is_nncf_quantized(cache: Path, torch_out: np.ndarray) -> None:
    b, params = _loaded(_cfg("int8"))
    assert "nncf" in params["quantization"] and f"calibration: {CALIBRATION_SIZE} generated" in params["quantization"]
    assert params["calibration_size"] == CALIBRATION_SIZE
    assert params["nncf_model_type"] == "TRANSFORMER"
    xml = Path(params["model_path"])
    fp32 = OpenVINOBackend(_cfg())
    fp32.prepare()
    assert xml != fp32.xml and params["ir_sha256"] == ir_sha256(xml.parent)
    ops = Counter(op.get_type_name() for op in ov.Core().read_model(str(xml)).get_ops())
    int8_consts = [
        op
        for op in ov.Core().read_model(str(xml)).get_ops()
        if op.get_type_name() == "Constant" and op.get_output_element_type(0).get_type_name() in QUANTIZED_TYPES
    ]
    assert ops["FakeQuantize"] > 0 and len(int8_consts) > 0
    assert params["ir_size_mb"] < 0.5 * (fp32.entry / IR_BIN).stat().st_size / 2**20  # int8 weights
    out = b.run()
    assert b.output_dtype(out) == "float32" and out.shape == torch_out.shape
    assert np.abs(out - torch_out).max() < 0.25  # quantized: close, not equal
    b.close()


def test_throughput_loop_keeps_the_queue_full(cache: Path) -> None:
    cfg = _cfg(batch=2, scenario="throughput")
    b, params = _loaded(cfg)
    assert params["ov_performance_hint"] == "THROUGHPUT"
    nireq = params["ov_optimal_infer_requests"]
    assert nireq >= 1
    assert b.conditions()["throughput_mode"] == f"OpenVINO THROUGHPUT hint, AsyncInferQueue with {nireq} requests"
    b.run()
    loop = b.throughput_loop(RULE)
    m = loop.measurement
    assert m.n > nireq and m.batch_size == 2 and loop.stop_reason in ("converged", "max_time")
    assert all(s > 0 for s in m.samples_ms)
    assert m.throughput == pytest.approx(2 * m.n / m.wall_s)
    assert max(m.samples_ms) / 1e3 <= m.wall_s  # per-request times, not the window
    assert loop.minor_faults >= 0
    b.close()


def test_worker_latency_converts_once_then_hits_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWBENCH_CACHE_DIR", str(tmp_path))
    cfg = _cfg(batch=1)
    first = run_in_worker(cfg, SETTINGS)
    assert first.status == "success", first.error_message
    p = first.params
    assert p["ir_cache"] == "miss" and p["conversion_ms"] > 0
    # an exec'd worker has imported the model's module (a native thread): no fork, convert in place
    assert p["conversion_process"] in ("forked child", "in-process")
    assert Path(p["model_path"]).is_relative_to(tmp_path) and p["ir_sha256"] == ir_sha256(Path(p["model_path"]).parent)
    assert p["ov_performance_hint"] == "LATENCY" and p["output_dtype"] == "float32"
    assert first.observed["startup_ms"] > 0 and first.observed["first_inference_ms"] > 0
    assert "throughput_mode" not in p
    second = run_in_worker(cfg, SETTINGS)
    assert second.status == "success", second.error_message
    assert second.params["ir_cache"] == "hit" and second.params["conversion_ms"] == 0
    assert second.params["conversion_process"] == "none"
    assert second.params["model_path"] == p["model_path"] and second.params["ir_sha256"] == p["ir_sha256"]
    report = detect_hardware()
    result = build_result(cfg, second, report, SETTINGS)
    assert result.params["model_path"] == p["model_path"]
    assert result.metrics["latency_p50_ms"] > 0 and result.metrics["startup_ms"] > 0


def test_worker_throughput(cache: Path) -> None:
    cfg = _cfg(batch=4, scenario="throughput")
    out = run_in_worker(cfg, SETTINGS)
    assert out.status == "success", out.error_message
    p = out.params
    assert p["ov_performance_hint"] == "THROUGHPUT" and p["ov_optimal_infer_requests"] >= 1
    assert p["throughput_mode"].startswith("OpenVINO THROUGHPUT hint, AsyncInferQueue with")
    assert p["input_shape"] == f"input_ids=[4,{SEQ}];attention_mask=[4,{SEQ}]"
    n = len(out.samples_ms)
    assert n > 0 and out.wall_s > 0
    result = build_result(cfg, out, detect_hardware(), SETTINGS)
    assert result.metrics["iterations"] == n
    assert result.metrics["throughput_samples_per_s"] == pytest.approx(4 * n / out.wall_s)
    assert result.metrics["duration_s"] == pytest.approx(out.wall_s)


def _report(devices: tuple[str, ...] = ("CPU",)) -> HardwareReport:
    return HardwareReport("host", (PlatformInfo("openvino", True, "OpenVINO", devices),))


def test_check_reasons() -> None:
    assert OpenVINOBackend.check(_cfg(), _report()) is None
    assert OpenVINOBackend.check(_cfg("int8"), _report()) is None
    training = dataclasses.replace(_cfg(), mode="training")
    assert OpenVINOBackend.check(training, _report()) == "OpenVINO runs inference only"
    gpu = dataclasses.replace(_cfg(), device="GPU")
    reason = OpenVINOBackend.check(gpu, _report())
    assert reason is not None and "'GPU' not found" in reason and "CPU" in reason
    absent = HardwareReport("host", (PlatformInfo("openvino", False, reason="no openvino"),))
    assert "not available" in OpenVINOBackend.check(_cfg(), absent)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precisions_follow_the_device_capabilities(precision: str) -> None:
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    reason = OpenVINOBackend.check(_cfg(precision), _report())
    if precision.upper() in caps:
        assert reason is None
    else:
        assert reason is not None and f"does not support {precision}" in reason


def test_no_threads_leak_into_the_test_process() -> None:
    """Sanity for the fork decision: a multi-threaded process never forks the converter."""
    from hwbench_mlflow.backends.openvino_backend import _single_threaded

    assert _single_threaded() == (len(os.listdir("/proc/self/task")) == 1)
