"""``hwbench recommend`` for generative models: the generate scenario's own criteria.

A generate run's ``throughput_samples_per_s`` is sequences per second and its latency a whole
generation, so its rows are never ranked with forward passes. Per model and per shape
(prompt tokens, new tokens: a TTFT at 32 prompt tokens is not comparable with one at 512):

* **best_ttft** — the lowest median time to the first token;
* **best_decode_tokens_per_s** — the most decode tokens per second (all sequences of the batch);
* **best_decode_under_itl_limit** — the same among configs whose p99 inter-token latency is under
  ``itl_limit_ms`` (only when a limit is given; when none meets it, the closest is named);
* **least_memory** — the lowest peak memory.

Correctness first: a config whose first generated token differs from torch fp32's on the same
prompt (``first_token_agreement`` < 1) computes something else and is left out, with a warning
naming it; one that parts from fp32 later (``agreeing_prefix_tokens`` < ``new_tokens``: rounding
changes an argmax) stays in, and the warning says after how many tokens. Evidence and
confidence follow ``recommend.py``'s rules (busy host or simulated: low; few generations: lower).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .picking import Recommendation, _pick

if TYPE_CHECKING:
    import pandas as pd

GENERATION_CRITERIA = ("best_ttft", "best_decode_tokens_per_s", "best_decode_under_itl_limit", "least_memory")


def _label(row: pd.Series) -> str:
    return f"{row['hardware']}/{row['backend']}/{row['precision']}/b{int(row['batch_size'])}"


def _with_warning(rec: Recommendation, extra: str) -> Recommendation:
    if extra and rec.status == "recommended":
        rec.warning = f"{rec.warning}; {extra}" if rec.warning else extra
    return rec


def recommend_generation(
    model: str, rows: pd.DataFrame, itl_limit_ms: float | None = None, memory_limit_mb: float | None = None
) -> list[Recommendation]:
    """The generation criteria for one model's generate rows, one set per (prompt, new) shape."""
    out: list[Recommendation] = []
    for (prompt, new), shape_rows in rows.groupby(["prompt_tokens", "new_tokens"], sort=True, dropna=False):
        shape = f"prompt {int(prompt)} / new {int(new)} tokens"
        agree = shape_rows["first_token_agreement"]
        wrong = shape_rows[agree.notna() & (agree < 1.0)]
        pool = shape_rows.drop(index=wrong.index)
        left_out = (
            "left out, first token differs from torch fp32's: " + ", ".join(_label(r) for _, r in wrong.iterrows())
            if not wrong.empty
            else ""
        )
        if memory_limit_mb is not None:
            pool = pool[pool["memory_mb"] <= memory_limit_mb]
        if pool.empty:
            why = f"no correct generate result of {model} ({shape})" + (
                f" under --memory-limit {memory_limit_mb:g} MB" if memory_limit_mb is not None else ""
            )
            out += [Recommendation(model, c, "not_available", basis=shape, reason=why) for c in GENERATION_CRITERIA]
            continue
        picks = [
            _pick(model, "best_ttft", pool, pool["ttft_p50_ms"], False, f"median TTFT, {shape}", "ms",
                  latency_col="ttft_p50_ms"),
            _pick(model, "best_decode_tokens_per_s", pool, pool["decode_tokens_per_s"], True,
                  f"decode tokens/s (all sequences), {shape}", "tokens/s", latency_col="ttft_p50_ms"),
        ]  # fmt: skip
        if itl_limit_ms is not None:
            under = pool[pool["itl_p99_ms"] <= itl_limit_ms]
            basis = f"decode tokens/s with p99 inter-token latency ≤ {itl_limit_ms:g} ms, {shape}"
            if under.empty:
                closest = pool.loc[pool["itl_p99_ms"].idxmin()]
                why = (
                    f"no config keeps p99 ITL under {itl_limit_ms:g} ms; the closest is {_label(closest)} "
                    f"at {closest['itl_p99_ms']:.3g} ms"
                )
                picks.append(Recommendation(model, "best_decode_under_itl_limit", "not_available", basis, reason=why))
            else:
                picks.append(
                    _pick(model, "best_decode_under_itl_limit", under, under["decode_tokens_per_s"], True, basis,
                          "tokens/s", uses_p99=True, latency_col="ttft_p50_ms")
                )  # fmt: skip
        picks.append(
            _pick(model, "least_memory", pool, pool["memory_mb"], False, f"peak memory, {shape}", "MB",
                  latency_col="ttft_p50_ms")
        )  # fmt: skip
        for rec in picks:
            if rec.status == "recommended":
                row = pool[pool["mlflow_run_id"] == rec.mlflow_run_id].iloc[0]
                prefix = row["agreeing_prefix_tokens"]
                parts = (
                    f"its tokens part from torch fp32's after {int(prefix)} of {int(new)}"
                    if isinstance(prefix, float) and not math.isnan(prefix) and prefix < new
                    else ""
                )
                rec = _with_warning(rec, parts)
            out.append(_with_warning(rec, left_out))
    return out
