"""Our per-token clock against OpenVINO GenAI's own ``perf_metrics``, on the same calls.

One ``OpenVINOGenAIBackend`` (SmolLM2-135M from its GGUF, CPU) generates ``--runs`` times after
``--warmup`` generations; for each call it prints our TTFT / TPOT (``GenerationTrace``: the
streamer's ``perf_counter`` stamps at batch 1) beside ``perf_metrics``' (``get_ttft().mean``,
``get_tpot().mean`` × batch), then the medians and the worst relative difference. With
``--vs-torch`` it also generates the same prompt greedily with transformers in fp32 (the GGUF
dequantized) and prints where the two token sequences part.

Usage::

    python benchmarks/openvino_genai_perf_metrics.py                  # p16 n8 b1, 10 runs
    python benchmarks/openvino_genai_perf_metrics.py --prompt-tokens 128 --new-tokens 64 --vs-torch
"""

from __future__ import annotations

import argparse
import statistics
import time

from hwbench_mlflow.backends.openvino_genai_backend import PRECISION, OpenVINOGenAIBackend
from hwbench_mlflow.config import BenchmarkConfig
from hwbench_mlflow.generation import GenerationTrace
from hwbench_mlflow.generation_reference import agreeing_prefix


def genai_config(
    prompt_tokens: int, new_tokens: int, batch: int, model: str = "smollm2", precision: str = PRECISION
) -> BenchmarkConfig:
    """The backend's config (default precision int4: the GGUF as it is)."""
    return BenchmarkConfig(
        model,
        "openvino",
        "openvino_genai",
        "CPU",
        precision,
        batch,
        "inference",
        "generate",
        prompt_tokens=prompt_tokens,
        new_tokens=new_tokens,
    )


def ours(trace: GenerationTrace) -> tuple[float, float]:
    """(TTFT ms, TPOT ms) from our timestamps."""
    t = trace.token_times_s
    ttft = (t[0] - trace.t0) * 1e3
    tpot = (t[-1] - t[0]) / (len(t) - 1) * 1e3 if len(t) > 1 else float("nan")
    return ttft, tpot


def agreement(traces: list[GenerationTrace]) -> dict[str, float]:
    """Median and worst |ours − theirs| / theirs for TTFT and TPOT."""
    rel: dict[str, list[float]] = {"ttft": [], "tpot": []}
    for tr in traces:
        ttft, tpot = ours(tr)
        own = tr.own_metrics or {}
        rel["ttft"].append(abs(ttft - own["ttft_ms"]) / own["ttft_ms"])
        rel["tpot"].append(abs(tpot - own["tpot_ms"]) / own["tpot_ms"])
    return {f"{k}_{s}": f(v) for k, v in rel.items() for s, f in (("median", statistics.median), ("max", max))}


def torch_fp32_greedy(gguf: str, ids: list[list[int]], new_tokens: int) -> list[list[int]]:
    """transformers' greedy generation in fp32 from the same GGUF (dequantized), same prompt ids."""
    from pathlib import Path

    import torch
    import transformers

    p = Path(gguf)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
    x = torch.tensor(ids)
    with torch.inference_mode():
        out = model.eval().generate(
            x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
        )
    return out[:, x.shape[1] :].tolist()


prefix = agreeing_prefix  # the length of the common prefix of two token sequences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--vs-torch", action="store_true", help="compare the tokens with transformers fp32 greedy")
    a = ap.parse_args()
    cfg = genai_config(a.prompt_tokens, a.new_tokens, a.batch_size)
    b = OpenVINOGenAIBackend(cfg)
    b.prepare()
    t = time.perf_counter()
    params = b.load()
    print(f"load {time.perf_counter() - t:.2f} s; token_timestamps: {params['token_timestamps']}")
    print(f"tokenizer_check: {params['tokenizer_check']}")
    for _ in range(a.warmup):
        b.generate()
    traces = [b.generate() for _ in range(a.runs)]
    print(f"{'ttft ours':>10} {'theirs':>8} {'tpot ours':>10} {'theirs':>8}  (ms)")
    for tr in traces:
        ttft, tpot = ours(tr)
        own = tr.own_metrics or {}
        print(f"{ttft:10.3f} {own['ttft_ms']:8.3f} {tpot:10.3f} {own['tpot_ms']:8.3f}")
    ttfts = [ours(tr)[0] for tr in traces]
    tpots = [ours(tr)[1] for tr in traces]
    decode = cfg.batch_size * 1e3 / statistics.median(tpots)
    print(
        f"median TTFT {statistics.median(ttfts):.2f} ms, TPOT {statistics.median(tpots):.2f} ms, "
        f"decode {decode:.1f} tok/s (batch {cfg.batch_size})"
    )
    print("agreement |ours − theirs| / theirs:", {k: f"{v:.2%}" for k, v in agreement(traces).items()})
    if a.vs_torch:
        ref = torch_fp32_greedy(str(b.gguf), b.ids.tolist(), a.new_tokens)
        for i, (o, r) in enumerate(zip(traces[-1].tokens, ref, strict=True)):
            print(f"seq {i}: openvino_genai {list(o)}\n       torch fp32     {r}\n       common prefix {prefix(o, r)}")
    b.close()


if __name__ == "__main__":
    main()
