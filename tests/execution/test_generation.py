"""The generate scenario's arithmetic (generation.py), on synthetic traces: exact values, the
identities the issue checks, the prompt builder and the KV-cache size. Pure: no model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.generation import (
    FEW_GENERATIONS,
    PROMPT_TEXT,
    GenerationTrace,
    generation_metrics,
    generation_params,
    kv_cache_mb,
    prompt_token_ids,
)


def _trace(t0: float, ttft_ms: float, itl_ms: list[float], batch: int = 2) -> GenerationTrace:
    times = [t0 + ttft_ms / 1e3]
    for gap in itl_ms:
        times.append(times[-1] + gap / 1e3)
    return GenerationTrace(t0, tuple(times), tuple(tuple(range(len(times))) for _ in range(batch)))


def test_metrics_of_two_generations_exact() -> None:
    # generation 1: TTFT 100 ms, then 3 steps of 10 ms; generation 2: TTFT 200 ms, 3 steps of 20 ms
    traces = [_trace(5.0, 100, [10, 10, 10]), _trace(9.0, 200, [20, 20, 20])]
    m = generation_metrics(traces, batch=2, prompt_tokens=16)
    assert m[N.M_TTFT_MEAN] == pytest.approx(150)
    assert m[N.M_TTFT_P50] == pytest.approx(150)  # linear interpolation between the two
    assert m[N.M_TTFT_P90] == pytest.approx(190)
    assert m[N.M_TTFT_P99] == pytest.approx(199)
    assert m[N.M_TPOT_MEAN] == pytest.approx(15)  # (30 + 60) ms over 3 + 3 steps
    assert m[N.M_ITL_P50] == pytest.approx(15)  # three 10s and three 20s
    assert m[N.M_ITL_P90] == pytest.approx(20) and m[N.M_ITL_P99] == pytest.approx(20)
    assert m[N.M_PREFILL_TPS] == pytest.approx(2 * 16 * 2 / 0.3)  # 64 prompt tokens in 300 ms of TTFT
    assert m[N.M_DECODE_TPS] == pytest.approx(2 * 6 / 0.09)
    assert m[N.M_OUTPUT_TPS] == pytest.approx(2 * 8 / 0.39)
    assert m[N.M_TOKENS_GENERATED] == 4
    assert m[N.M_TTFT_P50] <= m[N.M_TTFT_P90] <= m[N.M_TTFT_P99]
    assert m[N.M_ITL_P50] <= m[N.M_ITL_P90] <= m[N.M_ITL_P99]


def test_identities_on_one_noisy_generation() -> None:
    gaps = [31.0, 29.5, 30.2, 33.0, 28.1, 30.0, 29.9]
    trace = _trace(0.0, 120.0, gaps, batch=4)
    m = generation_metrics([trace], batch=4, prompt_tokens=128)
    # e2e = TTFT + (N - 1) × TPOT; decode tokens/s = batch × 1000 / TPOT
    assert trace.e2e_ms == pytest.approx(m[N.M_TTFT_MEAN] + (len(gaps)) * m[N.M_TPOT_MEAN])
    assert m[N.M_DECODE_TPS] == pytest.approx(4 * 1000 / m[N.M_TPOT_MEAN])
    assert m[N.M_PREFILL_TPS] == pytest.approx(4 * 128 * 1000 / 120.0)


def test_single_token_has_no_decode_metrics() -> None:
    m = generation_metrics([_trace(0.0, 50.0, [])], batch=1, prompt_tokens=8)
    assert N.M_TPOT_MEAN not in m and N.M_DECODE_TPS not in m and N.M_ITL_P50 not in m
    assert m[N.M_OUTPUT_TPS] == pytest.approx(20.0)


def test_record_round_trip_keeps_the_times_after_t0() -> None:
    trace = _trace(1234.5, 80.0, [12.0, 13.0])
    back = GenerationTrace.from_record(trace.to_record())
    assert back.e2e_ms == pytest.approx(trace.e2e_ms)
    assert back.tokens == trace.tokens
    assert generation_metrics([back], 2, 16) == pytest.approx(generation_metrics([trace], 2, 16))


def test_params_check_the_token_count_and_flag_few_samples() -> None:
    ok = generation_params([_trace(0.0, 10.0, [1.0] * 7)] * 3, prompt_tokens=16, new_tokens=8)
    assert ok["tokens_check"] == "ok" and ok["decoding"] == "greedy" and ok["generations"] == 3
    assert ok["ttft_percentiles"] == "few_samples (n=3)"
    many = generation_params([_trace(0.0, 10.0, [1.0] * 7)] * FEW_GENERATIONS, 16, 8)
    assert many["ttft_percentiles"] == "ok"
    short = generation_params([_trace(0.0, 10.0, [1.0] * 4)], prompt_tokens=16, new_tokens=8)
    assert short["tokens_check"].startswith("mismatch: 2 of 2 sequences got 5..5 tokens, asked 8")


class _Tokenizer:
    """Whitespace 'tokens': a stand-in with the Hugging Face call signature."""

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        assert add_special_tokens is False
        return {"input_ids": [len(w) for w in text.split()]}


def test_prompts_exact_length_identical_across_the_batch() -> None:
    words = len(PROMPT_TEXT.split())
    for length in (1, 16, words, 3 * words + 5):
        prompts = prompt_token_ids(_Tokenizer(), length, batch=3)
        assert len(prompts) == 3 and all(p == prompts[0] for p in prompts)
        assert len(prompts[0]) == length
    assert prompt_token_ids(_Tokenizer(), 4, 1) == [[len(w) for w in PROMPT_TEXT.split()[:4]]]
    raw = prompt_token_ids(None, 600, batch=2, vocab_size=100)  # no tokenizer: the text's bytes
    assert len(raw[0]) == 600 and max(raw[0]) < 100 and raw[0] == raw[1]
    with pytest.raises(ValueError):
        prompt_token_ids(None, 8, 1)


def test_kv_cache_size_from_the_config() -> None:
    llama = SimpleNamespace(num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576)
    # 2 (k, v) × 30 layers × 3 kv heads × 64 head dim × 24 tokens × 2 sequences × 4 bytes
    assert kv_cache_mb(llama, 24, 2, 4) == pytest.approx(2 * 30 * 3 * 64 * 24 * 2 * 4 / 2**20)
    gpt2 = SimpleNamespace(n_layer=12, n_head=12, n_embd=768)
    assert kv_cache_mb(gpt2, 1024, 1, 2) == pytest.approx(36.0)
    assert kv_cache_mb(SimpleNamespace(), 8, 1, 4) is None
