"""The same ONNX file, shape and batch on native onnxruntime (CPU EP) and in a headless Chromium
through onnxruntime-web: wasm with 1 and 2 threads, webgpu, webnn — in one run, alternating
rounds so load drifts hit every variant alike. Prints each median latency and its ratio to native,
and where the browser's time goes: the bundle import, session creation, first run, the page↔Python
round trip (outside the timed runs) and what a run costs beyond native.

    python benchmarks/web_vs_native.py --model bert-tiny --batch 1 --seq-length 128 --rounds 3

Needs `make web`. No goal figure: it reports what was measured on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwbench_mlflow import browsers
from hwbench_mlflow.backends.onnxruntime_backend import OnnxRuntimeBackend
from hwbench_mlflow.backends.ortweb_backend import THREADS_ENV, OrtWebBackend
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.measure import StopRule, timed_loop


def variants(args: argparse.Namespace) -> list[tuple[str, BenchmarkConfig, dict[str, str]]]:
    def cfg(hw: str, backend: str, device: str) -> BenchmarkConfig:
        return BenchmarkConfig(args.model, hw, backend, device, "fp32", args.batch, seq_length=args.seq_length)

    out = [("native onnxruntime (cpu EP)", cfg("cpu", "onnxruntime", "cpu"), {})]
    for n in (1, 2):
        out.append((f"browser wasm, {n} thread(s)", cfg("cpu", "onnxruntime-web", "wasm"), {THREADS_ENV: str(n)}))
    gpu = next(iter(browsers.providers("webgpu")), None)
    if gpu is not None:
        out.append(
            (
                "browser webgpu (" + gpu.devices("webgpu")[0] + ")",
                cfg("webgpu", "onnxruntime-web", gpu.devices("webgpu")[0]),
                {},
            )
        )
    else:
        print("webgpu: no browser here provides it")
    if browsers.browser_for("webnn", "cpu") is not None:
        out.append(("browser webnn (cpu)", cfg("webnn", "onnxruntime-web", "cpu"), {}))
    else:
        print("webnn: no browser here provides it")
    return out


def floor_model(config: BenchmarkConfig) -> Path:
    """A graph with the model's inputs and outputs (names, types, shapes) and next to no compute:
    Cast + Expand of the first input to each output's shape. Its ``session.run`` time is the
    runtime's per-run floor: feeding the inputs, scheduling, handing the outputs back."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from hwbench_mlflow.backends.onnx_export import export_onnx, reference_inputs

    path, _ = export_onnx(config)
    feeds = reference_inputs(config)
    real = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = {o.name: v.shape for o, v in zip(real.get_outputs(), real.run(None, feeds), strict=True)}
    first = next(iter(feeds))
    elem = {"int64": TensorProto.INT64, "int32": TensorProto.INT32, "float32": TensorProto.FLOAT}
    inputs = [helper.make_tensor_value_info(k, elem[str(v.dtype)], list(v.shape)) for k, v in feeds.items()]
    nodes = [helper.make_node("Cast", [first], ["as_float"], to=TensorProto.FLOAT)]
    inits, outs = [], []
    for i, (name, shape) in enumerate(outputs.items()):
        extra = len(shape) - len(feeds[first].shape)
        unsq = [f"u{i}_{k}" for k in range(extra)] + [None]
        src = "as_float"
        for k in range(extra):
            axes = helper.make_tensor(f"axes{i}_{k}", TensorProto.INT64, [1], [len(feeds[first].shape) + k])
            inits.append(axes)
            nodes.append(helper.make_node("Unsqueeze", [src, axes.name], [unsq[k]]))
            src = unsq[k]
        target = helper.make_tensor(f"shape{i}", TensorProto.INT64, [len(shape)], list(shape))
        inits.append(target)
        nodes.append(helper.make_node("Expand", [src, target.name], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
    graph = helper.make_graph(nodes, "floor", inputs, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    out = Path(path).parent.parent / f"floor-{config.model}-b{config.batch_size}-s{config.seq_length}" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out)
    return out


def _measure(
    backend: OnnxRuntimeBackend, config: BenchmarkConfig, rule: StopRule, floor: Path | None
) -> dict[str, float]:
    backend.prepare()
    if floor is not None:
        backend.path = floor  # the same session options and page, the trivial graph
    t0 = time.perf_counter()
    params = backend.load()
    startup = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    backend.run()
    first = (time.perf_counter() - t0) * 1e3
    for _ in range(3):
        backend.run()
    out: dict[str, float] = {}
    if isinstance(backend, OrtWebBackend):
        loop = backend.latency_loop(rule)
        own = backend.own_observations()
        startup, first = own["startup_ms"], own["first_inference_ms"]
        out["import_ms"] = float(params["ort_web_import_ms"])
        t0 = time.perf_counter()
        for _ in range(20):
            backend.page.call("runs", 0)
        out["round_trip_ms"] = (time.perf_counter() - t0) / 20 * 1e3
        out["browser_rss_peak_mb"] = own["memory_peak_mb"]
    else:
        loop = timed_loop(backend.run, backend.synchronize, rule, config.batch_size)
    out.update(startup_ms=startup, first_ms=first, median_ms=loop.measurement.median_ms, n=loop.measurement.n)
    return out


def measure(
    config: BenchmarkConfig, env: dict[str, str], rule: StopRule, floor: Path | None = None
) -> dict[str, float]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        backend = (OrtWebBackend if config.backend == "onnxruntime-web" else OnnxRuntimeBackend)(config)
        try:
            return _measure(backend, config, rule, floor)
        finally:
            backend.close()  # a refused or failed variant leaves no browser behind
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bert-tiny")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-length", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median of each variant's medians")
    ap.add_argument("--max-time", type=float, default=3.0, help="timed window per variant per round, seconds")
    args = ap.parse_args()
    if browsers.ort_dist() is None:
        sys.exit(f"web_vs_native: onnxruntime-web is not installed: {browsers.INSTALL_HINT}")
    settings = MeasureSettings(max_time_s=args.max_time, min_time_s=min(1.0, args.max_time))
    rule = StopRule.from_settings(settings)
    todo = variants(args)
    floor = floor_model(todo[0][1])
    seen: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in todo}
    floors: dict[str, list[float]] = {name: [] for name, _, _ in todo}
    for r in range(args.rounds):
        for name, config, env in todo if r % 2 == 0 else list(reversed(todo)):
            seen[name].append(measure(config, env, rule))
            floors[name].append(measure(config, env, rule, floor)["median_ms"])
            print(
                f"round {r + 1}: {name}: median {seen[name][-1]['median_ms']:.3f} ms, floor {floors[name][-1]:.3f} ms",
                flush=True,
            )
    native = statistics.median(x["median_ms"] for x in seen[todo[0][0]])
    print(
        f"\n{args.model}, batch {args.batch}, seq {args.seq_length}, fp32, {args.rounds} rounds "
        f"(onnxruntime-web {browsers.ort_web_version()})"
    )
    cols = (
        ("median ms", 10),
        ("x native", 9),
        ("floor ms", 9),
        ("startup ms", 11),
        ("1st run ms", 11),
        ("rtt ms", 7),
        ("RSS MB", 7),
    )
    print(f"{'variant':44} " + " ".join(f"{c:>{w}}" for c, w in cols))
    for name, _, _ in todo:
        xs = seen[name]
        med = statistics.median(x["median_ms"] for x in xs)

        def col(key: str, xs: list[dict[str, float]] = xs) -> str:
            vals = [x[key] for x in xs if key in x]
            return f"{statistics.median(vals):.1f}" if vals else "-"

        print(
            f"{name:44} {med:10.3f} {med / native:9.2f} {statistics.median(floors[name]):9.3f} "
            f"{col('startup_ms'):>11} {col('first_ms'):>11} "
            f"{col('round_trip_ms'):>7} {col('browser_rss_peak_mb'):>7}"
        )
    print(
        "\nfloor = the median session.run of a graph with the same inputs and outputs and next to no compute "
        "(feeding inputs, scheduling, returning outputs: the per-run overhead and data copies), "
        "startup = InferenceSession.create (in the page for the browser; the bundle import is separate), "
        "1st run = the first session.run (kernel / shader compilation), rtt = one page call from Python "
        "(outside every timed run), RSS = the browser's renderer + GPU processes."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
