"""hwbench search against an exhaustive grid, same model, platform and memory limit, in one run.

    .venv/bin/python benchmarks/search_vs_grid.py --model bert-tiny --memory-limit 430

The grid measures every batch size 1..--max-batch (``--grid-step`` to thin it) with the
same worker, measurement settings and memory guard as the search, so the two differ
only in which batch sizes they choose to measure. Printed: evaluations and wall time of
each, the best objective each found, and the grid's own measurement at the batch size
the search picked (the max of hundreds of noisy grid points is biased upwards; the
grid's value at the search's choice is fairer, and both choices re-measured alternately,
``--confirm`` times, fairest). Goal: within 5 % of the grid's best with at most a third
of its evaluations.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def measure(args: argparse.Namespace, settings: object, batch: int) -> tuple[bool, float, float]:
    """(fits, throughput, peak MB) of one guarded worker run: what a search trial measures."""
    from hwbench_mlflow import names as N
    from hwbench_mlflow.config import BenchmarkConfig
    from hwbench_mlflow.hardware import detect_hardware
    from hwbench_mlflow.results import build_result
    from hwbench_mlflow.worker import MemoryGuard, run_in_worker

    config = BenchmarkConfig(args.model, "cpu", "torch", "cpu", "fp32", batch)
    outcome = run_in_worker(config, settings, MemoryGuard(args.memory_limit))  # type: ignore[arg-type]
    result = build_result(config, outcome, detect_hardware(), settings)  # type: ignore[arg-type]
    mem = result.metrics.get(N.M_MEMORY_PEAK, float("inf"))
    ok = result.status == "success" and mem <= args.memory_limit
    return ok, result.metrics.get(N.M_THROUGHPUT, 0.0) if ok else 0.0, mem


def grid(args: argparse.Namespace, settings: object) -> dict[int, tuple[bool, float]]:
    """batch → (fits, throughput) for every grid point."""
    out = {}
    for b in range(1, args.max_batch + 1, args.grid_step):
        ok, thr, mem = measure(args, settings, b)
        out[b] = (ok, thr)
        print(f"  grid b{b}: {'fits' if ok else 'does not fit'} {thr:.1f} samples/s, {mem:.0f} MB", flush=True)
    return out


def confirm(args: argparse.Namespace, settings: object, batches: list[int]) -> dict[int, float]:
    """Median throughput of each batch size over ``--confirm`` alternating re-measurements:
    the max of hundreds of noisy grid points is biased upwards (the winner's curse)."""
    import statistics

    seen: dict[int, list[float]] = {b: [] for b in batches}
    for _ in range(args.confirm):
        for b in batches:
            seen[b].append(measure(args, settings, b)[1])
    return {b: statistics.median(v) for b, v in seen.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--memory-limit", type=float, default=430.0, help="MB")
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--grid-step", type=int, default=1)
    parser.add_argument("--max-time", type=float, default=1.0)
    parser.add_argument("--confirm", type=int, default=5, help="re-measurements of the two chosen batch sizes")
    args = parser.parse_args()

    from hwbench_mlflow.batch_search.study import run_search
    from hwbench_mlflow.config import MeasureSettings

    settings = MeasureSettings(warmup=2, min_iterations=5, min_time_s=0.2, max_time_s=args.max_time)
    with tempfile.TemporaryDirectory(prefix="hwbench-search-vs-grid-") as tmp:
        t0 = time.perf_counter()
        result = run_search(
            args.model,
            memory_limit_mb=args.memory_limit,
            max_batch=args.max_batch,
            settings=settings,
            storage=f"sqlite:///{tmp}/optuna.db",
            tracking_uri=f"sqlite:///{tmp}/mlflow.db",
            on_trial=lambda t: print(f"  search trial {t.number}: b{t.batch_size} {t.state} {t.value or 0:.1f}"),
        )
        search_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    points = grid(args, settings)
    grid_s = time.perf_counter() - t0
    feasible = {b: v for b, (ok, v) in points.items() if ok}
    if result.best is None or not feasible:
        print("nothing fits under the limit: no comparison", file=sys.stderr)
        return 1
    grid_best_b = max(feasible, key=feasible.get)
    grid_best = feasible[grid_best_b]
    found = result.best.value or 0.0
    at_choice = feasible.get(result.best.batch_size)
    print(f"\n{args.model} on cpu/torch/fp32, memory limit {args.memory_limit:g} MB, batch 1..{args.max_batch}")
    print(f"{'':24}{'evaluations':>12}{'wall s':>10}{'best batch':>12}{'samples/s':>12}")
    print(f"{'grid':24}{len(points):>12}{grid_s:>10.1f}{grid_best_b:>12}{grid_best:>12.1f}")
    print(f"{'hwbench search':24}{len(result.trials):>12}{search_s:>10.1f}{result.best.batch_size:>12}{found:>12.1f}")
    print(f"evaluations: {len(result.trials) / len(points):.3f} of the grid's (goal <= 0.333)")
    print(f"search best / grid best, as measured in their runs: {found / grid_best:.3f} (goal >= 0.95)")
    if at_choice is not None:
        print(f"grid's own measurement at the search's batch {result.best.batch_size}: {at_choice / grid_best:.3f}")
    again = confirm(args, settings, sorted({grid_best_b, result.best.batch_size}))
    ratio = again[result.best.batch_size] / again[grid_best_b]
    print(
        f"re-measured {args.confirm}x alternately (medians): search's b{result.best.batch_size} "
        f"{again[result.best.batch_size]:.1f} vs grid's b{grid_best_b} {again[grid_best_b]:.1f} samples/s "
        f"= {ratio:.3f} (goal >= 0.95)"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
