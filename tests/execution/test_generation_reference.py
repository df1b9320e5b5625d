"""Token agreement against torch fp32 (generation_reference): the arithmetic, the cache, and a
reference computed in its own process that equals an in-process torch fp32 generation."""

from __future__ import annotations

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.config import BenchmarkConfig
from hwbench_mlflow.generation_reference import agreement, is_reference, reference_config, reference_tokens


def _cfg(precision: str = "fp32", backend: str = "torch", hardware: str = "cpu", batch: int = 2) -> BenchmarkConfig:
    device = "CPU" if hardware == "openvino" else "cpu"
    return BenchmarkConfig("gpt2", hardware, backend, device, precision, batch, "inference", "generate", 128, 8, 4)


def test_agreement_counts_sequences_and_the_shortest_prefix():
    ref = [5, 6, 7, 8]
    assert agreement([[5, 6, 7, 8], [5, 6, 9, 8]], ref) == {N.M_FIRST_TOKEN_AGREEMENT: 1.0, N.M_AGREEING_PREFIX: 2.0}
    assert agreement([[4, 6, 7, 8], [5, 6, 7, 8]], ref) == {N.M_FIRST_TOKEN_AGREEMENT: 0.5, N.M_AGREEING_PREFIX: 0.0}
    assert agreement([[5, 6, 7, 8]], ref) == {N.M_FIRST_TOKEN_AGREEMENT: 1.0, N.M_AGREEING_PREFIX: 4.0}
    assert agreement([], ref) == {}


def test_the_reference_config_is_torch_fp32_cpu_batch_1():
    ref = reference_config(_cfg("int4", "openvino_genai", "openvino"))
    assert (ref.hardware, ref.backend, ref.device, ref.precision, ref.batch_size) == ("cpu", "torch", "cpu", "fp32", 1)
    assert (ref.prompt_tokens, ref.new_tokens, ref.model) == (8, 4, "gpt2")
    assert is_reference(_cfg()) and not is_reference(_cfg("bf16"))


def test_reference_is_computed_apart_cached_and_equals_torch_fp32(tmp_path, monkeypatch):
    monkeypatch.setenv("HWBENCH_CACHE_DIR", str(tmp_path))
    from hwbench_mlflow.backends.torch_backend import TorchBackend

    fp32 = TorchBackend(reference_config(_cfg()))  # gpt2, random weights from seed 0: the same in every process
    fp32.prepare()
    fp32.load()
    expected = list(fp32.generate().tokens[0])
    fp32.close()
    tokens, source = reference_tokens(_cfg("int8"), "", [0, 0, 0, 0])
    assert tokens == expected and len(tokens) == 4
    assert source == "computed in a separate process (torch fp32, cpu)"
    again, source = reference_tokens(_cfg("bf16"), "", [0, 0, 0, 0])
    assert again == expected and source.startswith("cached (") and str(tmp_path) in source
    other = reference_tokens(_cfg(), "", [9, 9, 9, 9])  # torch fp32 cpu: its own reference, the entry kept
    assert other == ([9, 9, 9, 9], "this run (it is the reference)")


def test_a_failing_reference_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HWBENCH_CACHE_DIR", str(tmp_path))
    bad = BenchmarkConfig("gpt2", "cpu", "torch", "cpu", "bf16", 1, "inference", "generate", 128, 8, 4)
    monkeypatch.setattr("hwbench_mlflow.generation_reference.sys.executable", "/bin/false")
    with pytest.raises(RuntimeError, match=r"^the torch fp32 reference failed: no output$"):
        reference_tokens(bad, "sha-x", [1, 2, 3, 4])
