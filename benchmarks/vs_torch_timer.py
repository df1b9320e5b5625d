"""Cross-check our worker's latency against ``torch.utils.benchmark.Timer``.

For each batch size, the same model and input shape are measured by

(a) our worker: ``run_in_worker`` (a fresh process forked from the fork server, tuned
    malloc, the model built by ``TorchBackend``, our timed loop), and
(b) ``torch.utils.benchmark.Timer(...).blocked_autorange()`` in its own fresh
    subprocess under the same conditions: the worker environment (``WORKER_ENV``) and the
    fork server's preloaded imports, then ``apply_tuned_malloc()``, the model and inputs built by
    ``TorchBackend`` exactly as the worker builds them, the same warmup, the same thread
    count, and the same statement (``backend.run()``: one inference under
    ``torch.inference_mode``).

(c) the same Timer in a *plain* Python process, as a user's own script would time it: no
    worker environment, no preloaded imports, glibc's default allocator settings; only the
    model, inputs, warmup, thread count and statement are the same. The "plain / ours"
    column is how much slower a default process measures the same model on this host: what
    our numbers stand for is a warmed worker with a tuned allocator (README).

Printed per config: the medians, the ratio of medians (ours / Timer), each tool's wall
time, our sample count and whether our p99 rests on enough samples (MLPerf LoadGen's
minimum, 662). The order alternates (ours first, then Timer first) across configs and
repeats to spread drift of a shared machine over both tools.

Wall times, per config:

* ours: ``run_in_worker`` as seen by the caller (fork of the worker, model load, warmup,
  timed loop, result hand-back). The fork server is started once beforehand with a
  throw-away one-iteration worker, whose time is printed separately (in a sweep that
  cost is paid once, not per config).
* Timer: model load, warmup and ``blocked_autorange`` inside the child. Before its clock
  starts, the child imports what the fork server preloads (torch, transformers' modeling
  modules), so neither side's wall holds those one-time imports; the child's whole life
  as seen by the parent (interpreter start and imports included) is the "Timer proc s"
  column.

Exit status: 0, unless ``--check TOL`` is given and a config's |ratio - 1| exceeds TOL
(or a measurement failed).

Usage::

    python benchmarks/vs_torch_timer.py --batch-sizes 1,8
    python benchmarks/vs_torch_timer.py --batch-sizes 8 --max-time 2 --check 0.05
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

RESULT_PREFIX = "VS_TORCH_TIMER_RESULT "
CHILD_FLAG = "--_timer-child"
CHILD_TIMEOUT_S = 600.0


# ----------------------------------------------------------------------------- Timer child


def timer_child(payload: str) -> int:
    """Measure one config with torch's Timer; print one RESULT_PREFIX + JSON line."""
    proc_t0 = time.perf_counter()
    spec = json.loads(payload)
    from hwbench_mlflow.worker_env import WORKER_ENV, apply_tuned_malloc

    if not spec.get("plain"):
        os.environ.update(WORKER_ENV)  # already set by the parent; repeated for a hand-run child
    # Same state as a forked worker: the fork server's preload (worker env, torch,
    # transformers' modeling modules, the torch backend) first, then mallopt. Plain: none of it.
    import torch
    import torch.utils.benchmark as tbench

    if not spec.get("plain"):
        import hwbench_mlflow.worker_preload  # noqa: F401
    from hwbench_mlflow.backends.torch_backend import TorchBackend
    from hwbench_mlflow.config import BenchmarkConfig

    malloc_applied = apply_tuned_malloc() if spec["malloc"] == "tuned" else False
    config = BenchmarkConfig.from_dict(spec["config"])
    start = time.perf_counter()
    backend = TorchBackend(config)
    backend.prepare()
    backend.load()
    backend.synchronize()
    loaded = time.perf_counter()
    for _ in range(1 + spec["warmup"]):  # the worker's first inference + its warmup runs
        backend.run()
    backend.synchronize()
    num_threads = torch.get_num_threads()
    timer = tbench.Timer(stmt="backend.run()", globals={"backend": backend}, num_threads=num_threads)
    m = timer.blocked_autorange(min_run_time=spec["min_run_time"])
    end = time.perf_counter()
    backend.close()
    result = {
        "median_ms": m.median * 1e3,
        "blocks": len(m.times),
        "number_per_run": m.number_per_run,
        "wall_s": end - start,
        "load_s": loaded - start,
        "process_s": end - proc_t0,
        "num_threads": num_threads,
        "malloc_applied": malloc_applied,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


def run_timer(
    config: Any, warmup: int, malloc: str, min_run_time: float, plain: bool = False, plain_malloc: str = "default"
) -> dict[str, Any]:
    """Run ``timer_child`` for ``config`` in a fresh interpreter; its result or an ``error``.

    ``plain``: the child as a user's own script — the caller's environment, no preload, and
    glibc's defaults unless ``plain_malloc="tuned"`` (benchmarks/process_conditions.py)."""
    from hwbench_mlflow.worker_env import WORKER_ENV

    spec = {"config": config.to_dict(), "warmup": warmup, "malloc": plain_malloc if plain else malloc}
    payload = json.dumps({**spec, "min_run_time": min_run_time, "plain": plain})
    env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV} if plain else {**os.environ, **WORKER_ENV}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), CHILD_FLAG, payload],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**env, "HF_HUB_OFFLINE": "1"},  # no hub here, plain or not
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"Timer child gave no result within {CHILD_TIMEOUT_S:g} s"}
    outer = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["outer_s"] = outer
            return result
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"Timer child exited with code {proc.returncode}: {tail}"}


# ----------------------------------------------------------------------------- parent


@dataclass
class Row:
    batch_size: int
    repeat: int
    order: str
    ours_median_ms: float = math.nan
    ours_wall_s: float = math.nan
    ours_n: int = 0
    ours_stop: str = ""
    timer_median_ms: float = math.nan
    timer_wall_s: float = math.nan
    timer_process_s: float = math.nan
    timer_blocks: str = ""
    plain_median_ms: float = math.nan
    errors: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.ours_median_ms / self.timer_median_ms if self.timer_median_ms > 0 else math.nan

    @property
    def plain_ratio(self) -> float:
        return self.plain_median_ms / self.ours_median_ms if self.ours_median_ms > 0 else math.nan


def run_ours(config: Any, settings: Any, row: Row) -> None:
    from hwbench_mlflow.measure import Measurement
    from hwbench_mlflow.worker import run_in_worker

    t0 = time.perf_counter()
    outcome = run_in_worker(config, settings)
    row.ours_wall_s = time.perf_counter() - t0
    if outcome.status != "success":
        row.errors.append(f"ours: {outcome.error_category}: {outcome.error_message}")
        return
    m = Measurement(tuple(outcome.samples_ms), config.batch_size, outcome.wall_s)
    row.ours_median_ms, row.ours_n, row.ours_stop = m.median_ms, m.n, outcome.stop_reason


def run_theirs(config: Any, settings: Any, min_run_time: float, row: Row) -> None:
    res = run_timer(config, settings.warmup, settings.malloc, min_run_time)
    if "error" in res:
        row.errors.append(f"timer: {res['error']}")
        return
    row.timer_median_ms, row.timer_wall_s = res["median_ms"], res["wall_s"]
    row.timer_process_s = res["outer_s"]
    row.timer_blocks = f"{res['blocks']}×{res['number_per_run']}"


def run_plain(config: Any, settings: Any, min_run_time: float, row: Row) -> None:
    res = run_timer(config, settings.warmup, settings.malloc, min_run_time, plain=True)
    if "error" in res:
        row.errors.append(f"plain: {res['error']}")
        return
    row.plain_median_ms = res["median_ms"]


def prestart_fork_server(config: Any) -> float:
    """Start the worker fork server with a throw-away one-iteration run; its wall time."""
    from dataclasses import replace

    from hwbench_mlflow.config import MeasureSettings
    from hwbench_mlflow.worker import run_in_worker

    tiny = MeasureSettings(warmup=0, min_iterations=1, min_time_s=0.001, max_time_s=0.001)
    t0 = time.perf_counter()
    run_in_worker(replace(config, batch_size=1), tiny)
    return time.perf_counter() - t0


def _fmt(x: float, spec: str) -> str:
    return "—" if math.isnan(x) else format(x, spec)


def print_report(rows: list[Row], args: argparse.Namespace, p99_min: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(150, Console().width))
    table = Table(
        title=f"{args.model} / cpu / torch / {args.precision}: ours (hwbench worker) vs torch.utils.benchmark.Timer",
        caption=(
            f"ratio = ours median / Timer median (same process conditions); plain = Timer in a plain Python "
            f"process (glibc defaults, no preload); p99 valid = ours n >= {p99_min} (MLPerf LoadGen minimum)"
        ),
    )
    for name, justify in (
        ("batch", "right"),
        ("rep", "right"),
        ("first", "left"),
        ("ours median ms", "right"),
        ("Timer median ms", "right"),
        ("ratio", "right"),
        ("plain median ms", "right"),
        ("plain / ours", "right"),
        ("ours wall s", "right"),
        ("Timer wall s", "right"),
        ("ours n", "right"),
        ("p99 valid", "center"),
        ("ours stop", "left"),
        ("Timer blocks×n", "right"),
        ("Timer proc s", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            str(r.batch_size),
            str(r.repeat + 1),
            r.order,
            _fmt(r.ours_median_ms, ".3f"),
            _fmt(r.timer_median_ms, ".3f"),
            _fmt(r.ratio, ".4f"),
            _fmt(r.plain_median_ms, ".3f"),
            _fmt(r.plain_ratio, ".2f"),
            _fmt(r.ours_wall_s, ".2f"),
            _fmt(r.timer_wall_s, ".2f"),
            str(r.ours_n),
            "yes" if r.ours_n >= p99_min else "no",
            r.ours_stop,
            r.timer_blocks,
            _fmt(r.timer_process_s, ".2f"),
        )
    console.print(table)
    for r in rows:
        for err in r.errors:
            console.print(f"[red]b{r.batch_size} rep {r.repeat + 1}: {err}[/red]", highlight=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        return timer_child(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated, e.g. 1,8")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--max-time", type=float, default=5.0, help="our worker's --max-time (s)")
    parser.add_argument(
        "--timer-min-run-time",
        type=float,
        default=None,
        help="blocked_autorange(min_run_time=...) in s (default: min(2, --max-time))",
    )
    parser.add_argument("--repeat", type=int, default=1, help="measure every config this many times")
    parser.add_argument("--check", type=float, default=None, metavar="TOL", help="exit 1 if any |ratio-1| > TOL")
    parser.add_argument(
        "--no-plain",
        dest="plain",
        action="store_false",
        help="skip the plain-process column (Timer in a default Python process)",
    )
    args = parser.parse_args(argv)

    from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
    from hwbench_mlflow.measure import required_samples

    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not sizes or args.repeat < 1:
        parser.error("need at least one batch size and --repeat >= 1")
    min_run_time = args.timer_min_run_time if args.timer_min_run_time is not None else min(2.0, args.max_time)
    settings = MeasureSettings(max_time_s=args.max_time)
    configs = [
        BenchmarkConfig(
            model=args.model,
            hardware="cpu",
            backend="torch",
            device="cpu",
            precision=args.precision,
            batch_size=b,
            mode="inference",
        )
        for b in sizes
    ]
    p99_min = required_samples(99.0)
    print(
        f"ours: MeasureSettings(max_time_s={args.max_time:g}, warmup={settings.warmup}, malloc={settings.malloc}); "
        f"Timer: blocked_autorange(min_run_time={min_run_time:g}) after {1 + settings.warmup} warmup runs",
        flush=True,
    )
    prestart_s = prestart_fork_server(configs[0])
    print(f"fork server started (one-time, not in per-config wall): {prestart_s:.2f} s", flush=True)

    rows: list[Row] = []
    for rep in range(args.repeat):
        for i, config in enumerate(configs):
            ours_first = (rep + i) % 2 == 0
            row = Row(config.batch_size, rep, "ours" if ours_first else "Timer")
            steps = [lambda c=config, r=row: run_ours(c, settings, r)]
            steps.append(lambda c=config, r=row: run_theirs(c, settings, min_run_time, r))
            for step in steps if ours_first else steps[::-1]:
                step()
            if args.plain:
                run_plain(config, settings, min_run_time, row)
            print(
                f"  b{row.batch_size} rep {rep + 1}: ours {_fmt(row.ours_median_ms, '.3f')} ms (n={row.ours_n}), "
                f"Timer {_fmt(row.timer_median_ms, '.3f')} ms, ratio {_fmt(row.ratio, '.4f')}; "
                f"plain process {_fmt(row.plain_median_ms, '.3f')} ms ({_fmt(row.plain_ratio, '.2f')}× ours)",
                flush=True,
            )
            rows.append(row)

    # One ratio per config: the median over repeats of the per-repeat ratios. Each ratio
    # pairs two measurements taken back to back, so drift of the machine between repeats
    # cancels within a pair instead of being mixed across pairs.
    per_config: dict[int, float] = {}
    for b in sizes:
        ratios = [r.ratio for r in rows if r.batch_size == b and not r.errors]
        if ratios:
            per_config[b] = statistics.median(ratios)
    print_report(rows, args, p99_min)
    if args.repeat > 1:
        print(
            "per-config ratio (median of the per-repeat ratios): "
            + ", ".join(f"b{b}: {v:.4f}" for b, v in per_config.items()),
            flush=True,
        )
    ok_rows = [r for r in rows if not r.errors]
    max_dev = max((abs(v - 1.0) for v in per_config.values()), default=math.nan)
    ours_wall = statistics.mean(r.ours_wall_s for r in ok_rows) if ok_rows else math.nan
    timer_wall = statistics.mean(r.timer_wall_s for r in ok_rows) if ok_rows else math.nan
    if args.plain:
        slower = [r.plain_ratio for r in ok_rows if r.plain_ratio == r.plain_ratio]
        if slower:
            print(
                f"PLAIN a default Python process measured {_fmt((statistics.median(slower) - 1) * 100, '+.0f')} % "
                f"against ours (median of {len(slower)}; range {min(slower):.2f}–{max(slower):.2f}×)",
                flush=True,
            )
    print(
        f"SUMMARY max |ratio-1| = {_fmt(max_dev * 100, '.2f')} % over {len(per_config)} config(s); "
        f"mean wall per config: ours {_fmt(ours_wall, '.2f')} s, Timer {_fmt(timer_wall, '.2f')} s",
        flush=True,
    )
    if args.check is None:
        return 0
    failed = len(per_config) < len(sizes) or any(r.errors for r in rows) or not max_dev <= args.check
    if failed:
        print(f"CHECK FAILED: max |ratio-1| {_fmt(max_dev, '.4f')} > {args.check:g} or a measurement failed")
        return 1
    print(f"CHECK OK: max |ratio-1| {max_dev:.4f} <= {args.check:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
