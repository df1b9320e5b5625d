"""Which process conditions make a number: the same model timed under each, side by side.

A user who times a model in their own script can see a slower number than hwbench
reports. This measures one config (default bert-tiny fp32 b4) under every combination of
the conditions that differ between our worker and a plain script, alternating the order
across repeats, and prints each median and its ratio to our default:

* ``worker fork tuned``   — ours, default: forked from the preloaded fork server, glibc
  ``mallopt`` as ``--malloc tuned`` sets it;
* ``worker fork default`` — ``--malloc default``;
* ``worker exec tuned`` / ``worker exec default`` — ``--worker-start exec`` (a fresh
  interpreter, no preloaded heap);
* ``Timer preload tuned`` — ``torch.utils.benchmark.Timer`` in a fresh interpreter after
  the same preload and mallopt (vs_torch_timer's same-conditions column);
* ``Timer plain tuned`` — a plain script that only sets the allocator as we do;
* ``Timer plain default`` — a plain script: what a user's own timing sees.

Every variant uses the same model, inputs, warmup, thread count and statement. The
host-load window of our worker is printed with it: a busy host invalidates the table.

Usage::

    python benchmarks/process_conditions.py                       # bert-tiny fp32 b4, 3 repeats
    python benchmarks/process_conditions.py --batch-size 8 --repeat 5 --max-time 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _vs_torch_timer() -> Any:
    spec = importlib.util.spec_from_file_location("vs_torch_timer", HERE / "vs_torch_timer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["vs_torch_timer"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--max-time", type=float, default=2.0, help="each variant's time budget (s)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
    from hwbench_mlflow.measure import Measurement
    from hwbench_mlflow.worker import run_in_worker

    vt = _vs_torch_timer()
    config = BenchmarkConfig(
        model=args.model, hardware="cpu", backend="torch", device="cpu", precision=args.precision,
        batch_size=args.batch_size, mode="inference",
    )  # fmt: skip
    base = MeasureSettings(max_time_s=args.max_time, min_time_s=min(1.0, args.max_time))
    min_run_time = min(2.0, args.max_time)
    vt.prestart_fork_server(config)

    def worker(start: str, malloc: str) -> tuple[float, str]:
        out = run_in_worker(config, replace(base, worker_start=start, malloc=malloc))
        if out.status != "success":
            return float("nan"), f"{out.error_category}: {out.error_message}"
        busy = out.observed.get("host_other_cpu_pct")
        note = f"n={len(out.samples_ms)}" + (f", others {busy:.0f} % CPU" if busy is not None else "")
        return Measurement(tuple(out.samples_ms), config.batch_size, out.wall_s).median_ms, note

    def timer(plain: bool, malloc: str) -> tuple[float, str]:
        if plain and malloc == "tuned":  # a plain script that sets the allocator as we do
            res = vt.run_timer(config, base.warmup, "tuned", min_run_time, plain=True, plain_malloc="tuned")
        else:
            res = vt.run_timer(config, base.warmup, malloc, min_run_time, plain=plain)
        if "error" in res:
            return float("nan"), res["error"]
        return res["median_ms"], f"{res['blocks']}×{res['number_per_run']}"

    variants = {
        "worker fork tuned (ours)": lambda: worker("forkserver", "tuned"),
        "worker fork default": lambda: worker("forkserver", "default"),
        "worker exec tuned": lambda: worker("exec", "tuned"),
        "worker exec default": lambda: worker("exec", "default"),
        "Timer preload tuned": lambda: timer(False, "tuned"),
        "Timer plain tuned": lambda: timer(True, "tuned"),
        "Timer plain default (a user's script)": lambda: timer(True, "default"),
    }
    medians: dict[str, list[float]] = {k: [] for k in variants}
    notes: dict[str, list[str]] = {k: [] for k in variants}
    names = list(variants)
    for rep in range(args.repeat):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            value, note = variants[name]()
            medians[name].append(value)
            notes[name].append(note)
            print(f"  rep {rep + 1}: {name}: {value:.3f} ms ({note})", flush=True)

    ours = statistics.median(medians[names[0]])
    table = Table(
        title=f"{args.model} {args.precision} b{args.batch_size} on cpu/torch: one config, each process condition",
        caption="ratio = median / ours (worker fork tuned); range = min–max of the per-repeat medians",
    )
    for col, just in (("condition", "left"), ("median ms", "right"), ("range ms", "right"), ("ratio", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_column("last note")
    for name in names:
        vals = [v for v in medians[name] if v == v]
        med = statistics.median(vals) if vals else float("nan")
        rng = f"{min(vals):.3f}–{max(vals):.3f}" if vals else "—"
        table.add_row(name, f"{med:.3f}", rng, f"{med / ours:.2f}", notes[name][-1])
    Console(width=max(120, Console().width)).print(table)
    plain = statistics.median([v for v in medians[names[-1]] if v == v] or [float("nan")])
    print(f"PLAIN a default Python process measured {(plain / ours - 1) * 100:+.0f} % against ours", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
