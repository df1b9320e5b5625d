"""The ``generate`` scenario's measurement: what one timed generation returns, and the metrics
(TTFT, TPOT, ITL, tokens/s, KV-cache size) computed from its per-token timestamps.

A backend that can generate implements :meth:`Backend.generate` and returns a
:class:`GenerationTrace`: the clock at the call (``t0``) and at each of the ``new_tokens``
decoding steps, plus the ids generated per sequence. Everything else is computed here, the
same way for every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass


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
