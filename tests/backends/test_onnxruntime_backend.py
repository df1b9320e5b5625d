"""The ONNX Runtime backend: export correctness, int8 quantization, the export cache, the
worker path and check() reasons, on bert-tiny with random weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from hwbench_mlflow.backends import onnx_export
from hwbench_mlflow.backends.onnxruntime_backend import OnnxRuntimeBackend
from hwbench_mlflow.backends.torch_backend import reference_model
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.hardware import detect_hardware
from hwbench_mlflow.measure import StopRule
from hwbench_mlflow.model_files import file_sha256
from hwbench_mlflow.worker import run_in_worker
from tests._backend_cache import isolated_cache

SEQ = 32
SETTINGS = MeasureSettings(max_time_s=1, min_time_s=0.2, warmup=2)
QUANT_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul"}


def _cfg(precision: str = "fp32", batch: int = 2, **kw) -> BenchmarkConfig:
    return BenchmarkConfig("bert-tiny", "cpu", "onnxruntime", "cpu", precision, batch, seq_length=SEQ, **kw)


cache_dir, cache = isolated_cache("hwbench-cache")


def _loaded(cfg: BenchmarkConfig) -> tuple[OnnxRuntimeBackend, dict]:
    b = OnnxRuntimeBackend(cfg)
    b.prepare()
    return b, b.load()


@pytest.fixture(scope="module")
def torch_out() -> np.ndarray:
    ref = reference_model(_cfg())
    with torch.inference_mode():
        return ref.model(**ref.inputs).last_hidden_state.numpy()


def test_fp32_matches_torch(cache: Path, torch_out: np.ndarray) -> None:
    b, params = _loaded(_cfg())
    out = b.run()
    assert b.output_dtype(out) == "float32"
    assert out[0].shape == torch_out.shape == (2, SEQ, 128)
    assert np.abs(out[0] - torch_out).max() < 1e-4
    assert params["model_path"].endswith(".onnx") and Path(params["model_path"]).is_relative_to(cache)
    assert params["quantization"] == "none"
    assert params["input_shape"] == f"input_ids=[2,{SEQ}];attention_mask=[2,{SEQ}]"
    assert params["weights"] == "random" and b.weights_sha256() == ""
    assert 4_000_000 < params["model_params"] < 4_500_000
    assert params["ort_provider"] == "CPUExecutionProvider"
    assert params["ort_graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert params["ort_intra_op_num_threads"] == len(__import__("os").sched_getaffinity(0))
    assert params["ort_inter_op_num_threads"] == 1
    assert params["onnx_exporter"] in ("dynamo", "torchscript") and params["onnx_opset"] >= 17
    assert "throughput_mode" not in params  # latency scenario
    b.close()


def test_int8_is_quantized_and_close(cache: Path, torch_out: np.ndarray) -> None:
    b, params = _loaded(_cfg("int8"))
    assert "quantize_dynamic" in params["quantization"]
    assert params["model_path"] != params["onnx_fp32_path"]
    assert params["onnx_sha256"] == file_sha256(Path(params["model_path"]))
    ops = [n.op_type for n in onnx.load(params["model_path"]).graph.node]
    assert sum(op in QUANT_OPS for op in ops) > 0
    out = b.run()[0].ravel()
    ref = torch_out.ravel()
    cosine = float(out @ ref / (np.linalg.norm(out) * np.linalg.norm(ref)))
    assert cosine > 0.95
    b.close()


def test_fp16_conversion(cache: Path, torch_out: np.ndarray) -> None:
    """The fp16 file the CUDA provider would run (check() allows fp16 there only); run here on the CPU provider."""
    import onnxruntime as ort

    fp32_path, _ = onnx_export.export_onnx(_cfg())
    path, params = onnx_export.convert_fp16(fp32_path)
    assert params["fp16_cache"] == "miss" and "convert_float_to_float16" in params["fp16_conversion"]
    weights = onnx.load(str(path)).graph.initializer
    assert sum(w.data_type == onnx.TensorProto.FLOAT16 for w in weights) > len(weights) // 2
    feeds = onnx_export.reference_inputs(_cfg())
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert out.dtype == np.float32  # keep_io_types: fp32 at the edges
    assert np.abs(out - torch_out).max() < 0.05
    assert onnx_export.convert_fp16(fp32_path) == (path, {**params, "fp16_cache": "hit"})


def test_export_cache_hit_same_file(cache: Path) -> None:
    path1, p1 = onnx_export.export_onnx(_cfg(batch=3))
    path2, p2 = onnx_export.export_onnx(_cfg(batch=3))
    assert p1["onnx_cache"] == "miss" and p2["onnx_cache"] == "hit"
    assert path1 == path2 and path2.is_file()
    assert file_sha256(path2) == p1["onnx_sha256"] == p2["onnx_sha256"]
    assert p2["export_ms"] == p1["export_ms"] > 0
    assert not [p for p in path2.parent.parent.iterdir() if ".tmp-" in p.name]  # no half-written entry left
    # another shape is another file
    path3, _ = onnx_export.export_onnx(_cfg(batch=1))
    assert path3 != path1


def test_concurrent_throughput_loop(cache: Path) -> None:
    b, params = _loaded(_cfg(scenario="throughput"))
    if b.streams < 2:
        pytest.skip("one usable core: the throughput scenario runs the sequential loop")
    assert params["ort_intra_op_num_threads"] == 1
    assert params["throughput_mode"].startswith(f"concurrent: {b.streams} threads")
    b.run()
    loop = b.throughput_loop(StopRule.from_settings(dataclasses.replace(SETTINGS, max_time_s=0.5)))
    m = loop.measurement
    assert m.n >= 10 and all(s > 0 for s in m.samples_ms)
    assert SETTINGS.min_time_s <= m.wall_s < 1.5
    assert loop.stop_reason in ("converged", "max_time")
    # requests overlapped: their summed latency exceeds the wall time
    assert sum(m.samples_ms) / 1e3 > 1.2 * m.wall_s
    b.close()


def test_int8_through_worker(cache: Path) -> None:
    settings = dataclasses.replace(SETTINGS, worker_start="exec")  # exec: the worker sees HWBENCH_CACHE_DIR
    out = run_in_worker(_cfg("int8", batch=4), settings)
    assert out.status == "success", out.error_message
    p = out.params
    assert p["model_path"].endswith(".onnx") and Path(p["model_path"]).is_relative_to(cache)
    assert "quantize_dynamic" in p["quantization"]
    assert p["output_dtype"] == "float32"
    assert p["weights_sha256"] == ""
    assert p["input_shape"] == f"input_ids=[4,{SEQ}];attention_mask=[4,{SEQ}]"
    assert out.observed["startup_ms"] > 0 and len(out.samples_ms) >= 10


def test_check_reasons() -> None:
    hw = detect_hardware()
    assert OnnxRuntimeBackend.check(_cfg(), hw) is None
    assert OnnxRuntimeBackend.check(_cfg("int8"), hw) is None
    assert OnnxRuntimeBackend.check(_cfg(mode="training"), hw) == "ONNX Runtime backend runs inference only"
    qnn = dataclasses.replace(_cfg(), hardware="qnn", device="QNN")
    assert "QNNExecutionProvider" in OnnxRuntimeBackend.check(qnn, hw)
    assert "QNNExecutionProvider" in OnnxRuntimeBackend.unavailable(qnn)
    assert OnnxRuntimeBackend.unavailable(_cfg()) is None
    assert "fp16" in OnnxRuntimeBackend.check(_cfg("fp16"), hw)
    assert "bf16" in OnnxRuntimeBackend.check(_cfg("bf16"), hw)
