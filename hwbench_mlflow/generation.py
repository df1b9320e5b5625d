"""The ``generate`` scenario's measurement: what one timed generation returns, and the metrics
(TTFT, TPOT, ITL, tokens/s, KV-cache size) computed from its per-token timestamps.

A backend that can generate implements :meth:`Backend.generate` and returns a
:class:`GenerationTrace`: the clock at the call (``t0``) and at each of the ``new_tokens``
decoding steps, plus the ids generated per sequence. Everything else is computed here, the
same way for every runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import names as N
from .measure import percentile as _pct


@dataclass(frozen=True)
class GenerationTrace:
    """One generation of a batch of prompts (greedy, exactly ``new_tokens`` per sequence).

    ``t0`` and ``token_times_s`` are ``time.perf_counter()`` seconds: ``token_times_s[0]`` is
    when the first new token of every sequence was available (t1), ``token_times_s[-1]`` the
    last (tN); ``len(token_times_s) == new_tokens``. ``tokens[i]`` are the ids generated for
    sequence ``i`` (``len == new_tokens`` when the runtime generated what was asked).
    ``own_metrics`` holds what the runtime measured itself for the same call (OpenVINO GenAI's
    ``perf_metrics``: ``ttft_ms``, ``tpot_ms``, ``throughput_tokens_per_s``), for a cross-check.
    """

    t0: float
    token_times_s: tuple[float, ...]
    tokens: tuple[tuple[int, ...], ...]
    own_metrics: dict[str, float] | None = None

    @property
    def e2e_ms(self) -> float:
        """The whole generation, call to last token (tN − t0), in ms."""
        return (self.token_times_s[-1] - self.t0) * 1e3

    def to_record(self) -> dict[str, Any]:
        """JSON-able form (what a worker returns): token times in ms after ``t0``, the ids."""
        return {"token_ms": [(t - self.t0) * 1e3 for t in self.token_times_s], "tokens": [list(s) for s in self.tokens]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GenerationTrace:
        times = tuple(ms / 1e3 for ms in record["token_ms"])
        return cls(0.0, times, tuple(tuple(s) for s in record["tokens"]), record.get("own_metrics"))


# Too few generations for a trustworthy TTFT tail: the ttft_percentiles param says so.
FEW_GENERATIONS = 20
DECODING = "greedy"

# The prompts' source: public-domain English (Charles Dickens, A Tale of Two Cities, 1859),
# repeated as needed and cut to exactly ``prompt_tokens`` tokens.
PROMPT_TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
    "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
    "of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, "
    "we had everything before us, we had nothing before us, we were all going direct to Heaven, we "
    "were all going direct the other way - in short, the period was so far like the present period, "
    "that some of its noisiest authorities insisted on its being received, for good or for evil, in "
    "the superlative degree of comparison only. There were a king with a large jaw and a queen with a "
    "plain face, on the throne of England; there were a king with a large jaw and a queen with a fair "
    "face, on the throne of France. In both countries it was clearer than crystal to the lords of the "
    "State preserves of loaves and fishes, that things in general were settled for ever. "
)


def prompt_token_ids(tokenizer: Any, prompt_tokens: int, batch: int, vocab_size: int | None = None) -> list[list[int]]:
    """``batch`` identical prompts of exactly ``prompt_tokens`` ids cut from :data:`PROMPT_TEXT`
    (no special tokens), the same for every backend. ``tokenizer``: a Hugging Face tokenizer
    (called as ``tokenizer(text, add_special_tokens=False)``); None (a model with random
    weights and no tokenizer): the text's UTF-8 bytes, modulo ``vocab_size``."""
    if prompt_tokens < 1 or batch < 1:
        raise ValueError(f"prompt_tokens and batch must be >= 1, got {prompt_tokens}, {batch}")
    if tokenizer is None:
        if not vocab_size:
            raise ValueError("vocab_size is needed without a tokenizer")
        unit = [b % vocab_size for b in PROMPT_TEXT.encode()]
    else:
        unit = list(tokenizer(PROMPT_TEXT, add_special_tokens=False)["input_ids"])
    ids = unit * (prompt_tokens // len(unit) + 1)
    return [ids[:prompt_tokens] for _ in range(batch)]


def kv_cache_mb(hf_config: Any, tokens: int, batch: int, bytes_per_element: int) -> float | None:
    """Keys + values of every layer for ``tokens`` positions of ``batch`` sequences:
    2 × layers × kv heads × head dim × tokens × batch × bytes, in MiB (None: not a decoder
    config this reads)."""
    layers = getattr(hf_config, "num_hidden_layers", None) or getattr(hf_config, "n_layer", None)
    heads = getattr(hf_config, "num_attention_heads", None) or getattr(hf_config, "n_head", None)
    hidden = getattr(hf_config, "hidden_size", None) or getattr(hf_config, "n_embd", None)
    if not (layers and heads and hidden):
        return None
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    head_dim = getattr(hf_config, "head_dim", None) or hidden // heads
    return 2 * layers * kv_heads * head_dim * tokens * batch * bytes_per_element / 2**20


def generation_metrics(traces: Sequence[GenerationTrace], batch: int, prompt_tokens: int) -> dict[str, float]:
    """The generate scenario's metrics (names.GENERATION_METRICS but ``kv_cache_mb``) from
    every timed generation: TTFT = t1 − t0 (percentiles over generations), TPOT = (tN − t1) /
    (N − 1) pooled over generations, ITL = every t(i+1) − t(i) of every generation; tokens/s
    for the batch: prefill = batch × prompt / TTFT, decode = batch × (N − 1) / (tN − t1),
    output = batch × N / (tN − t0) (each pooled: total tokens / total time)."""
    if not traces:
        raise ValueError("no generation to compute metrics from")
    ttft = np.array([(t.token_times_s[0] - t.t0) * 1e3 for t in traces])
    e2e = np.array([t.e2e_ms for t in traces])
    n_new = np.array([len(t.token_times_s) for t in traces])
    decode_ms = e2e - ttft
    itl = np.concatenate([np.diff(np.asarray(t.token_times_s)) * 1e3 for t in traces])
    out = {
        N.M_TTFT_P50: _pct(ttft, 50),
        N.M_TTFT_P90: _pct(ttft, 90),
        N.M_TTFT_P99: _pct(ttft, 99),
        N.M_TTFT_MEAN: float(ttft.mean()),
        N.M_PREFILL_TPS: float(batch * prompt_tokens * len(traces) / (ttft.sum() / 1e3)),
        N.M_OUTPUT_TPS: float(batch * n_new.sum() / (e2e.sum() / 1e3)),
        N.M_TOKENS_GENERATED: float(min((len(s) for t in traces for s in t.tokens), default=0)),
    }
    steps = int((n_new - 1).sum())
    if steps > 0:
        out[N.M_TPOT_MEAN] = float(decode_ms.sum() / steps)
        out[N.M_DECODE_TPS] = float(batch * steps / (decode_ms.sum() / 1e3))
        out.update({N.M_ITL_P50: _pct(itl, 50), N.M_ITL_P90: _pct(itl, 90), N.M_ITL_P99: _pct(itl, 99)})
    return out


def generation_params(traces: Sequence[GenerationTrace], prompt_tokens: int, new_tokens: int) -> dict[str, Any]:
    """What the metrics stand on: the shape, the decoding, whether every sequence got
    ``new_tokens`` tokens (``tokens_check``), and ``ttft_percentiles=few_samples (n=7)`` when
    fewer than :data:`FEW_GENERATIONS` generations were timed."""
    counts = [len(s) for t in traces for s in t.tokens]
    short = [c for c in counts if c != new_tokens]
    params: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "decoding": DECODING,
        "generations": len(traces),
        "tokens_check": "ok"
        if not short and counts
        else f"mismatch: {len(short)} of {len(counts)} sequences "
        f"got {min(counts, default=0)}..{max(counts, default=0)} tokens, asked {new_tokens}",
        "ttft_percentiles": "ok" if len(traces) >= FEW_GENERATIONS else f"few_samples (n={len(traces)})",
    }
    return params
