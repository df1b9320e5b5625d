"""ONNX Runtime backend: hardware cpu (CPU execution provider), cuda, openvino and qnn through
their execution providers when the installed onnxruntime has them; inference only.

The model is exported from the torch model once per shape (:mod:`hwbench_mlflow.backends.onnx_export`,
cached on disk, outside ``startup_ms``); ``startup_ms`` covers the InferenceSession creation
(graph optimisation + kernel preparation). int8 is ``onnxruntime.quantization.quantize_dynamic``
(QInt8 weights, activations quantized per call), also cached.

Scenarios on the CPU execution provider:

* ``latency``: one ``session.run`` at a time; ONNX Runtime parallelises inside the
  request with its intra-op thread pool, one thread per usable core.
* ``throughput``: N requests in flight, N = usable cores: N threads call ``session.run``
  concurrently on one session whose intra-op pool is 1 thread, so each request runs on
  its own core (``session.run`` releases the GIL). On a 2-core host, bert-tiny b8, this
  gave 1.3-1.9x the requests/s of the sequential loop with 2 intra-op threads (small
  ops parallelise poorly inside one request). Each sample is one request's latency
  under that contention. Other execution providers run the sequential loop.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import onnxruntime as ort  # at import: a missing runtime makes the precheck say "unavailable"

from ..config import BenchmarkConfig
from ..hardware import HardwareReport
from ..measure import LoopResult, LoopWindow, StopRule
from .base import Backend

# hwbench platform → the execution provider that runs it.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "qnn": "QNNExecutionProvider",
}
GRAPH_OPTIMIZATION = "ORT_ENABLE_ALL"
THROUGHPUT_MODE = (
    "concurrent: {n} threads each calling session.run on one shared session (intra-op threads 1), "
    "n = usable cores; samples are per-request latencies under that load"
)
CHECK_INTERVAL_S = 0.05  # how often the throughput loop evaluates the stop rule


INT8_DYNAMIC = "int8 is onnxruntime dynamic quantization (DynamicQuantizeLinear / MatMulInteger), "
Check = Callable[[], "str | None"]


def refusal(
    config: BenchmarkConfig,
    subject: str,
    *,
    first: Sequence[Check] = (),
    then: Sequence[Check] = (),
    kernels: Callable[[str], str | None] = lambda precision: None,
) -> str | None:
    """Why an ONNX Runtime backend refuses ``config``, or None: the mode and precision rules the
    ONNX Runtime backends share, around their own checks; the first that applies answers:

    1. training: ``<subject> runs inference only``;
    2. ``first``: the backend's checks of the target (its platform, its runtime);
    3. bf16: no export or conversion path makes a bf16 graph;
    4. ``then``: the backend's further checks;
    5. ``kernels(precision)``: why the target lacks kernels for this fp16 / int8 graph
       (int8 is dynamic quantization: the reason starts with :data:`INT8_DYNAMIC`), or None.
    """
    if config.mode == "training":
        return f"{subject} runs inference only"
    for check in first:
        if why := check():
            return why
    if config.precision == "bf16":
        return f"bf16 is not supported by the {subject.removeprefix('the ')} (no bf16 export or conversion path)"
    for check in then:
        if why := check():
            return why
    return kernels(config.precision) if config.precision in ("fp16", "int8") else None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        """Why the execution provider for ``config.hardware`` is missing from this onnxruntime, or None.

        A missing provider is an installation matter (e.g. onnxruntime-gpu, onnxruntime-openvino,
        onnxruntime-qnn), not an impossible combination.
        """
        provider = PROVIDERS.get(config.hardware)
        if provider is None:
            return f"no ONNX Runtime execution provider for {config.hardware}"
        available = ort.get_available_providers()
        if provider not in available:
            return f"onnxruntime {ort.__version__} has no {provider} (it has {', '.join(available)})"
        return None

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        def kernels(precision: str) -> str | None:
            provider = PROVIDERS[config.hardware]  # known: unavailable() has passed
            if precision == "fp16" and provider != "CUDAExecutionProvider":
                return (
                    f"fp16 runs only on the CUDA execution provider here: {provider} has few fp16 kernels, "
                    "so an fp16 graph would mostly run through inserted casts to fp32"
                )
            if precision == "int8" and provider != "CPUExecutionProvider":
                return (
                    f"{INT8_DYNAMIC}whose kernels are CPU execution provider kernels: "
                    f"on {provider} they would fall back to the CPU"
                )
            return None

        return refusal(config, "ONNX Runtime backend", first=[lambda: cls.unavailable(config)], kernels=kernels)

    def prepare(self) -> None:
        from . import onnx_export

        cfg = self.config
        fp32_path, params = onnx_export.export_onnx(cfg)
        path = fp32_path
        if cfg.precision == "int8":
            path, derived = onnx_export.quantize_int8(fp32_path)
        elif cfg.precision == "fp16":
            path, derived = onnx_export.convert_fp16(fp32_path)
        else:
            derived = {"quantization": "none"}
        if "onnx_sha256" in derived:
            params["onnx_fp32_sha256"] = params["onnx_sha256"]
        params.update(derived)  # onnx_sha256 is then the derived file's
        params["model_path"] = str(path)
        if path != fp32_path:
            params["onnx_fp32_path"] = str(fp32_path)
        self._weights_sha256 = params.pop("weights_sha256", "")
        self.params = params
        self.path = path
        self.feeds = onnx_export.reference_inputs(cfg)

    def _providers(self) -> list[Any]:
        provider = PROVIDERS[self.config.hardware]
        device = self.config.device
        if provider == "CUDAExecutionProvider":
            index = device.partition(":")[2]
            return [(provider, {"device_id": int(index or 0)}), "CPUExecutionProvider"]
        if provider == "OpenVINOExecutionProvider":
            ov_device = device if device not in ("", "none") else "CPU"
            return [(provider, {"device_type": ov_device}), "CPUExecutionProvider"]
        if provider == "QNNExecutionProvider":
            return [(provider, {"backend_type": "htp"}), "CPUExecutionProvider"]
        return [provider]

    def load(self) -> dict[str, Any]:
        cores = usable_cores()
        concurrent = self.config.scenario == "throughput" and self.config.hardware == "cpu" and cores > 1
        self.streams = cores if concurrent else 1
        threads = 1 if concurrent else cores
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION)
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(str(self.path), so, providers=self._providers())
        names = [i.name for i in self.session.get_inputs()]
        if sorted(names) != sorted(self.feeds):
            raise RuntimeError(f"the ONNX graph wants inputs {names}, the model's inputs are {list(self.feeds)}")
        params = {
            **self.params,
            "ort_version": ort.__version__,
            "ort_provider": self.session.get_providers()[0],
            "ort_providers": ",".join(self.session.get_providers()),
            "ort_graph_optimization_level": GRAPH_OPTIMIZATION,
            "ort_intra_op_num_threads": threads,
            "ort_inter_op_num_threads": 1,
            "ort_execution_mode": "ORT_SEQUENTIAL",
        }
        if concurrent:
            params.update(throughput_mode=THROUGHPUT_MODE.format(n=self.streams), ort_throughput_streams=self.streams)
        return params

    def weights_sha256(self) -> str:
        """SHA-256 of the torch weights file the graph was exported from ('' for random weights)."""
        return self._weights_sha256

    def run(self) -> Any:
        return self.session.run(None, self.feeds)

    def throughput_loop(self, rule: StopRule) -> LoopResult | None:
        """``self.streams`` threads calling ``session.run`` back to back until ``rule`` says stop.

        The stop rule is evaluated on all requests so far every CHECK_INTERVAL_S by the
        main thread, which otherwise sleeps. Requests in flight at the stop finish and
        count; ``wall_s`` runs from the release of the threads to the last request's end.
        """
        if self.streams <= 1:
            return None
        clock = time.perf_counter_ns
        samples: list[float] = []
        errors: list[BaseException] = []
        stop = threading.Event()
        go = threading.Barrier(self.streams + 1)
        session, feeds = self.session, self.feeds

        def stream() -> None:
            append = samples.append  # list.append is atomic under the GIL
            go.wait()
            try:
                while not stop.is_set():
                    t0 = clock()
                    session.run(None, feeds)
                    append((clock() - t0) / 1e6)
            except BaseException as exc:  # surfaced in the main thread below
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=stream, daemon=True) for _ in range(self.streams)]
        for t in threads:
            t.start()
        with LoopWindow(rule) as window:
            start = clock()
            go.wait()
            try:
                while not stop.wait(CHECK_INTERVAL_S):
                    elapsed = (clock() - start) / 1e9
                    if rule.converged(list(samples), elapsed):  # checked on every wake-up, not by count
                        window.stop_reason = "converged"
                        break
                    if elapsed >= rule.max_time_s:
                        break
            finally:
                stop.set()
                for t in threads:
                    t.join()
                wall = (clock() - start) / 1e9
        if errors:
            raise errors[0]
        return window.result(samples, self.config.batch_size, wall)

    def output_dtype(self, out: Any) -> str:
        return str(out[0].dtype)

    def conditions(self) -> dict[str, Any]:
        return {"omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset")}

    def close(self) -> None:
        self.session = None
        self.feeds = None
