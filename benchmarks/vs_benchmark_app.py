"""Compare our OpenVINO backend with OpenVINO's own ``benchmark_app`` on the same IR.

For each batch size and each performance hint (``latency``, ``throughput``) the same IR,
device, input shape, hint, inference precision and duration are measured by

(a) our worker: ``run_in_worker`` with the ``openvino`` backend and
    ``MeasureSettings(min_time_s=T, max_time_s=T)`` (so its timed loop runs for T seconds),
    scenario ``latency`` (one synchronous request, ``LATENCY`` hint) or ``throughput``
    (``THROUGHPUT`` hint, ``AsyncInferQueue`` of ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``), and
(b) ``benchmark_app`` (shipped in the openvino wheel, found next to this interpreter) in a
    subprocess: ``-m <our model_path> -d DEVICE -hint latency|throughput -t T
    -shape name[N,S],... -infer_precision <ours>``. Streams and requests are left to the
    hint, as ours are; both sides' choices are printed. With ``-hint latency`` benchmark_app
    uses its sync API (one request), with ``-hint throughput`` its async API.

Like with like:

* Throughput is compared in **samples/s** (= batch × requests/s). benchmark_app prints
  ``Throughput: X FPS`` where X = (the batch it detects) × iterations / duration, and it
  detects a batch only from an input layout with an ``N`` dimension. Our IR carries no
  layout, so it reports ``Model batch size: 1`` and its FPS is *requests/s* (checked: on the
  b8 IR, ``-layout input_ids[NC],attention_mask[NC]`` makes it print ``Model batch size: 8``
  and an 8× larger FPS). So theirs in samples/s = FPS × batch / (the batch it reported) =
  batch × iterations / duration; both the printed FPS and the batch it reported are shown.
  Ours is ``Measurement.throughput`` = batch × requests / wall of the timed loop.
* Median: theirs is benchmark_app's ``Median`` (the nearest-rank 50th percentile of
  OpenVINO's own per-request ``latency``). Ours is ``Measurement.median_ms``: in the
  throughput scenario the same OpenVINO per-request latency; in the latency scenario our
  ``perf_counter`` time around each synchronous ``infer`` call (so it includes the Python
  call, a few µs, that OpenVINO's own request latency does not).

The ratios are ours / theirs: throughput ratio ≥ 1 means we are at least as fast; median
ratio ≤ 1 means our median latency is no longer. The goal is throughput ≥ 1.00× and
median within 3 %. With ``--repeat`` > 1 the order alternates (ours first, then
benchmark_app first) across configs and repeats, each ratio pairs two back-to-back runs,
and a config's ratio is the median of its per-repeat ratios.

Exit status: 0, unless ``--check TOL`` is given and in some config our throughput is below
(1 - TOL) × benchmark_app's (median of ratios over repeats), or a measurement failed.

Usage::

    python benchmarks/vs_benchmark_app.py --repeat 3
    python benchmarks/vs_benchmark_app.py --batch-sizes 8 --time 3 --check 0.10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HINTS = ("latency", "throughput")
# INFERENCE_PRECISION_HINT as our backend reports it → benchmark_app's -infer_precision.
INFER_PRECISION = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


def benchmark_app_path() -> Path:
    """``benchmark_app`` installed next to this interpreter (the openvino wheel's entry point)."""
    return Path(sys.executable).with_name("benchmark_app")


def cpu_busy_fraction(interval_s: float = 1.0) -> float:
    """Fraction of all CPUs busy (any process) over ``interval_s``, from /proc/stat; nan if unknown."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]), idle

    try:
        t0, i0 = read()
        time.sleep(interval_s)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):
        return math.nan
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else math.nan


def wait_for_idle(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait_s``) until under ``threshold`` of the CPUs are busy; the last reading."""
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy_fraction(0.5)
    while not busy < threshold and time.monotonic() < deadline:
        busy = cpu_busy_fraction(2.0)
    return busy


def _proc_times() -> dict[int, tuple[int, int, int]]:
    """pid → (ppid, start time, CPU ticks incl. reaped children) of every process, from /proc."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after "comm)": [0] state, [1] ppid, [11..14] utime stime cutime cstime, [19] starttime
        out[int(entry.name)] = (int(fields[1]), int(fields[19]), sum(int(x) for x in fields[11:15]))
    return out


class ForeignLoad:
    """CPU used by processes outside this script's process tree while a side runs, in cores.

    Two /proc snapshots; a process counts as ours when its parent chain reaches this process
    (the fork server, its workers, benchmark_app). Foreign processes that both started and
    ended within the window are missed unless a foreign parent reaped them.
    """

    def __enter__(self) -> ForeignLoad:
        self.cores = math.nan
        try:
            self.before = _proc_times()
        except OSError:
            self.before = None
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.before is None:
            return
        elapsed = time.monotonic() - self.t0
        after = _proc_times()
        me = os.getpid()

        def ours(pid: int) -> bool:
            for _ in range(64):
                if pid == me:
                    return True
                if pid not in after or pid <= 1:
                    return False
                pid = after[pid][0]
            return False

        ticks = 0
        for pid, (_, start, cpu) in after.items():
            if ours(pid):
                continue
            prev = self.before.get(pid)
            ticks += cpu - prev[2] if prev is not None and prev[1] == start else cpu
        self.cores = ticks / os.sysconf("SC_CLK_TCK") / elapsed if elapsed > 0 else math.nan


# ----------------------------------------------------------------------------- the two sides


@dataclass
class Side:
    throughput: float = math.nan  # samples/s
    median_ms: float = math.nan
    n: int = 0  # completed requests
    duration_s: float = math.nan
    streams: str = "?"
    requests: str = "?"
    extra: str = ""  # ours: stop reason; theirs: printed FPS and the batch it reported
    busy_before: float = math.nan  # fraction of the machine busy just before this side ran
    foreign: float = math.nan  # cores used by other processes while this side ran


@dataclass
class Row:
    batch_size: int
    hint: str
    repeat: int
    order: str
    ours: Side = field(default_factory=Side)
    theirs: Side = field(default_factory=Side)
    errors: list[str] = field(default_factory=list)

    def clean(self, max_foreign: float) -> bool:
        return not self.errors and self.ours.foreign <= max_foreign and self.theirs.foreign <= max_foreign

    @property
    def tput_ratio(self) -> float:
        return self.ours.throughput / self.theirs.throughput if self.theirs.throughput > 0 else math.nan

    @property
    def median_ratio(self) -> float:
        return self.ours.median_ms / self.theirs.median_ms if self.theirs.median_ms > 0 else math.nan


@dataclass
class Target:
    """One batch size's IR, as our backend builds and caches it."""

    batch_size: int
    model_path: str
    shape_arg: str  # benchmark_app -shape
    infer_precision: str  # benchmark_app -infer_precision


def config_for(args: argparse.Namespace, batch: int, hint: str) -> Any:
    from hwbench_mlflow.config import BenchmarkConfig

    return BenchmarkConfig(args.model, "openvino", "openvino", args.device, args.precision, batch, "inference", hint)


def ir_shape_arg(model_path: str, batch: int) -> str:
    """benchmark_app's ``-shape`` for the IR's own (static) input names and shapes."""
    import openvino as ov

    parts = []
    for port in ov.Core().read_model(model_path).inputs:
        shape = port.get_partial_shape()
        if shape.is_dynamic:
            raise RuntimeError(f"{model_path}: input {port.get_any_name()} is dynamic ({shape}); expected static")
        dims = [int(d) for d in port.get_shape()]
        if not dims or dims[0] != batch:
            raise RuntimeError(f"{model_path}: input {port.get_any_name()} {dims} has no batch {batch} first")
        parts.append(f"{port.get_any_name()}[{','.join(map(str, dims))}]")
    return ",".join(parts)


def prepare_target(args: argparse.Namespace, batch: int) -> Target:
    """A one-iteration run of our worker: builds/loads the cached IR, starts the fork server."""
    from hwbench_mlflow.config import MeasureSettings
    from hwbench_mlflow.worker import run_in_worker

    tiny = MeasureSettings(warmup=0, min_iterations=1, min_time_s=0.001, max_time_s=0.001)
    out = run_in_worker(config_for(args, batch, "latency"), tiny)
    if out.status != "success":
        raise RuntimeError(f"our backend failed on b{batch}: {out.error_category}: {out.error_message}")
    path = out.params["model_path"]
    precision = str(out.params.get("ov_inference_precision"))
    if precision not in INFER_PRECISION:
        raise RuntimeError(f"unexpected INFERENCE_PRECISION_HINT {precision!r} in our params")
    return Target(batch, path, ir_shape_arg(path, batch), INFER_PRECISION[precision])


def run_ours(args: argparse.Namespace, target: Target, hint: str, row: Row) -> None:
    from hwbench_mlflow.config import MeasureSettings
    from hwbench_mlflow.measure import Measurement
    from hwbench_mlflow.worker import run_in_worker

    settings = MeasureSettings(max_time_s=float(args.time), min_time_s=float(args.time))
    out = run_in_worker(config_for(args, target.batch_size, hint), settings)
    if out.status != "success":
        row.errors.append(f"ours: {out.error_category}: {out.error_message}")
        return
    if out.params.get("model_path") != target.model_path:
        row.errors.append(f"ours: ran {out.params.get('model_path')}, benchmark_app runs {target.model_path}")
    m = Measurement(tuple(out.samples_ms), target.batch_size, out.wall_s)
    p = out.params
    row.ours = replace(
        row.ours,
        throughput=m.throughput,
        median_ms=m.median_ms,
        n=m.n,
        duration_s=m.wall_s,
        streams=str(p.get("ov_num_streams", "?")),
        # latency scenario: one request, run synchronously; throughput: the AsyncInferQueue's size
        requests=f"{p.get('ov_optimal_infer_requests', '?')}" + (" sync" if hint == "latency" else " async"),
        extra=out.stop_reason,
    )
    if p.get("ov_performance_hint") != hint.upper():
        row.errors.append(f"ours: PERFORMANCE_HINT {p.get('ov_performance_hint')} != {hint.upper()}")


def _stdout_value(text: str, key: str) -> str:
    m = re.search(rf"^\[ INFO \]\s+{key}: (\S+)", text, re.MULTILINE)
    return m.group(1) if m else "?"


def run_theirs(args: argparse.Namespace, target: Target, hint: str, row: Row) -> None:
    with tempfile.TemporaryDirectory(prefix="hwbench-vs-ba-") as tmp:
        cmd = [
            str(args.benchmark_app),
            "-m",
            target.model_path,
            "-d",
            args.device,
            "-hint",
            hint,
            "-t",
            str(args.time),
            "-shape",
            target.shape_arg,
            "-infer_precision",
            target.infer_precision,
            "-report_type",
            "no_counters",
            "-report_folder",
            tmp,
            "-json_stats",
        ]
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=args.time + 300
            )
        except subprocess.TimeoutExpired:
            row.errors.append("benchmark_app: timed out")
            return
        report = Path(tmp, "benchmark_report.json")
        if proc.returncode != 0 or not report.exists():
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            row.errors.append(f"benchmark_app exited {proc.returncode}: {tail}")
            return
        stats = json.loads(report.read_text())
    setup, res = stats["configuration_setup"], stats["execution_results"]
    iterations = int(res["total number of iterations"])
    duration_s = float(res["total execution time (ms)"]) / 1e3
    fps = float(res["throughput"])
    their_batch = int(setup["batch size"])
    samples_per_s = target.batch_size * iterations / duration_s
    # Their FPS counts (the batch they detected) × iterations / s: convert it to samples/s.
    converted = fps * target.batch_size / their_batch
    if not math.isclose(converted, samples_per_s, rel_tol=0.01):
        row.errors.append(f"benchmark_app: FPS {fps} × {target.batch_size}/{their_batch} != {samples_per_s:.2f}")
    out = proc.stdout
    row.theirs = replace(
        row.theirs,
        throughput=samples_per_s,
        median_ms=float(res["latency (ms)"]),
        n=iterations,
        duration_s=duration_s,
        streams=_stdout_value(out, "NUM_STREAMS"),
        requests=f"{setup['number of parallel infer requests']} {setup['API']}",
        extra=f"{fps:.1f} FPS @b{their_batch}",
    )
    if _stdout_value(out, "PERFORMANCE_HINT") != hint.upper():
        row.errors.append(f"benchmark_app: PERFORMANCE_HINT {_stdout_value(out, 'PERFORMANCE_HINT')}")


# ----------------------------------------------------------------------------- report


def _fmt(x: float, spec: str) -> str:
    return "—" if math.isnan(x) else format(x, spec)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(230, Console().width))
    table = Table(
        title=f"{args.model} / openvino {args.device} / {args.precision}, {args.time} s each: ours vs benchmark_app",
        caption="throughput in samples/s (= batch × requests/s); ratios = ours / benchmark_app; streams / requests: "
        "as each side's hint chose; busy before: machine busy just before ours/theirs ran; other load: cores used by "
        f"other processes while ours/theirs ran (* = over --max-foreign {args.max_foreign:g} or failed: not used when "
        "the config has a clean repeat)",
    )
    for name in (
        "batch",
        "hint",
        "rep",
        "first",
        "ours samp/s",
        "theirs samp/s",
        "tput ratio",
        "ours median ms",
        "theirs median ms",
        "median ratio",
        "ours n",
        "theirs n",
        "ours streams/req",
        "theirs streams/req",
        "theirs printed",
        "busy before",
        "other load",
    ):
        table.add_column(name, justify="left" if name in ("hint", "first", "theirs printed") else "right")
    for r in rows:
        table.add_row(
            str(r.batch_size),
            r.hint,
            str(r.repeat + 1),
            r.order,
            _fmt(r.ours.throughput, ".1f"),
            _fmt(r.theirs.throughput, ".1f"),
            _fmt(r.tput_ratio, ".4f"),
            _fmt(r.ours.median_ms, ".3f"),
            _fmt(r.theirs.median_ms, ".3f"),
            _fmt(r.median_ratio, ".4f"),
            str(r.ours.n),
            str(r.theirs.n),
            f"{r.ours.streams} / {r.ours.requests}",
            f"{r.theirs.streams} / {r.theirs.requests}",
            r.theirs.extra,
            f"{_fmt(r.ours.busy_before * 100, '.0f')}%/{_fmt(r.theirs.busy_before * 100, '.0f')}%",
            f"{_fmt(r.ours.foreign, '.2f')}/{_fmt(r.theirs.foreign, '.2f')}"
            + ("" if r.clean(args.max_foreign) else " *"),
        )
    console.print(table)
    for r in rows:
        for err in r.errors:
            console.print(f"[red]b{r.batch_size} {r.hint} rep {r.repeat + 1}: {err}[/red]", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated, e.g. 1,8")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="CPU", help="OpenVINO device")
    parser.add_argument("--hints", default=",".join(HINTS), help="comma-separated: latency,throughput")
    parser.add_argument("--time", type=int, default=10, help="seconds each side runs (benchmark_app -t; integer)")
    parser.add_argument("--repeat", type=int, default=1, help="measure every config this many times")
    parser.add_argument(
        "--check", type=float, default=None, metavar="TOL", help="exit 1 if ours < (1 - TOL) × theirs in any config"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each run, wait up to S seconds for the machine to be < 25 %% busy (default: no wait)",
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.15,
        metavar="CORES",
        help="a repeat is noisy when other processes used more CPU than this during either side (default 0.15)",
    )
    parser.add_argument("--benchmark-app", type=Path, default=benchmark_app_path(), help="benchmark_app executable")
    args = parser.parse_args(argv)

    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    hints = [h.strip() for h in args.hints.split(",") if h.strip()]
    if not sizes or args.repeat < 1 or args.time < 1 or not hints or any(h not in HINTS for h in hints):
        parser.error("need batch sizes, hints from latency/throughput, --repeat >= 1 and --time >= 1")
    if not args.benchmark_app.exists():
        parser.error(f"benchmark_app not found at {args.benchmark_app}")

    t0 = time.perf_counter()
    targets = {b: prepare_target(args, b) for b in sizes}
    print(f"IRs ready, fork server started ({time.perf_counter() - t0:.1f} s):", flush=True)
    for t in targets.values():
        print(f"  b{t.batch_size}: {t.model_path}  -shape {t.shape_arg}  -infer_precision {t.infer_precision}")

    rows: list[Row] = []
    for rep in range(args.repeat):
        for i, (b, hint) in enumerate((b, h) for b in sizes for h in hints):
            # alternate within a repeat and flip between repeats: every config gets both orders
            ours_first = (rep + i) % 2 == 0
            row = Row(b, hint, rep, "ours" if ours_first else "theirs")

            def ours(t: Target = targets[b], h: str = hint, r: Row = row) -> None:
                r.ours.busy_before = wait_for_idle(args.wait_idle)
                with ForeignLoad() as load:
                    run_ours(args, t, h, r)
                r.ours.foreign = load.cores

            def theirs(t: Target = targets[b], h: str = hint, r: Row = row) -> None:
                r.theirs.busy_before = wait_for_idle(args.wait_idle)
                with ForeignLoad() as load:
                    run_theirs(args, t, h, r)
                r.theirs.foreign = load.cores

            for step in (ours, theirs) if ours_first else (theirs, ours):
                step()
            print(
                f"  b{b} {hint} rep {rep + 1}: throughput ours {_fmt(row.ours.throughput, '.1f')} "
                f"theirs {_fmt(row.theirs.throughput, '.1f')} samples/s, ratio {_fmt(row.tput_ratio, '.4f')}; "
                f"median ours {_fmt(row.ours.median_ms, '.3f')} theirs {_fmt(row.theirs.median_ms, '.3f')} ms, "
                f"ratio {_fmt(row.median_ratio, '.4f')}; streams/requests ours {row.ours.streams}/"
                f"{row.ours.requests} theirs {row.theirs.streams}/{row.theirs.requests}"
                + f"; other load ours {_fmt(row.ours.foreign, '.2f')} "
                + f"theirs {_fmt(row.theirs.foreign, '.2f')} cores"
                + (f"  ERROR {'; '.join(row.errors)}" if row.errors else ""),
                flush=True,
            )
            rows.append(row)

    print_table(rows, args)
    # One ratio per config: the median over repeats of the per-repeat ratios (each pairs two
    # back-to-back runs, so drift of a shared machine between repeats cancels within a pair).
    # Repeats during which other processes used more than --max-foreign cores are left out
    # when the config has at least one clean repeat.
    per_config: dict[tuple[int, str], tuple[float, float]] = {}
    for b in sizes:
        for hint in hints:
            ok = [r for r in rows if r.batch_size == b and r.hint == hint and not r.errors]
            clean = [r for r in ok if r.clean(args.max_foreign)]
            used = clean or ok
            if not used:
                continue
            per_config[(b, hint)] = (
                statistics.median(r.tput_ratio for r in used),
                statistics.median(r.median_ratio for r in used),
            )
            note = f"median of {len(used)} of {args.repeat} repeats" if args.repeat > 1 else "1 run"
            note += "" if clean else f"; NOISY: other processes used > {args.max_foreign:g} cores"
            print(
                f"RATIO b{b} {hint}: throughput ours/theirs {per_config[(b, hint)][0]:.4f}, "
                f"median ours/theirs {per_config[(b, hint)][1]:.4f} ({note})",
                flush=True,
            )
    min_tput = min((tr for tr, _ in per_config.values()), default=math.nan)
    max_med = max((abs(mr - 1.0) for _, mr in per_config.values()), default=math.nan)
    tput_ok = min_tput >= 1.0
    med_ok = max_med <= 0.03
    print(
        f"SUMMARY {len(per_config)}/{len(sizes) * len(hints)} config(s): min throughput ratio "
        f"{_fmt(min_tput, '.4f')} (goal >= 1.00: {'met' if tput_ok else 'not met'}), max |median ratio - 1| "
        f"{_fmt(max_med * 100, '.2f')} % (goal <= 3 %: {'met' if med_ok else 'not met'})",
        flush=True,
    )
    if args.check is None:
        return 0
    failed = len(per_config) < len(sizes) * len(hints) or any(r.errors for r in rows)
    failed = failed or not min_tput >= 1.0 - args.check
    if failed:
        print(f"CHECK FAILED: min throughput ratio {_fmt(min_tput, '.4f')} < {1 - args.check:g} or a run failed")
        return 1
    print(f"CHECK OK: min throughput ratio {min_tput:.4f} >= {1 - args.check:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
