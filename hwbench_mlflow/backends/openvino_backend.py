"""OpenVINO backend: any OpenVINO device (CPU, GPU, NPU); fp32 / bf16 / fp16 / int8; inference only.

What runs, and where the time goes:

* ``prepare`` (not timed): the catalog model as an OpenVINO IR with *static* input
  shapes (exactly the config's ``[batch, seq]``), from the on-disk cache
  (:func:`hwbench_mlflow.backends.model_cache.cache_entry`) or, on a miss, converted with
  ``openvino.convert_model`` from the fp32 torch reference model
  (:func:`hwbench_mlflow.backends.torch_backend.reference_model`) and, for int8,
  quantized with NNCF post-training quantization on a small generated calibration set.
  The conversion runs in a forked child process, so the torch model and the converter's
  peak never count in this worker's ``memory_peak_mb`` (a cache hit and a miss measure
  the same thing).
* ``load`` (``startup_ms``): ``Core.read_model`` + ``reshape`` (a no-op check on the
  static IR) + ``compile_model`` + infer requests with their inputs filled once.
* ``run``: one synchronous inference on the prepared request; nothing is converted per call.
* ``throughput_loop``: the ``THROUGHPUT`` hint and an ``AsyncInferQueue`` of
  ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` requests kept full, as ``benchmark_app`` does;
  per-request latencies are OpenVINO's own start → completion times.

Precisions: fp32 (``INFERENCE_PRECISION_HINT`` f32, explicitly: the CPU plugin would
otherwise run bf16 on CPUs with bf16 units); bf16 / fp16 are the inference-precision
hint over the fp32 IR, where the device lists the capability; int8 is an NNCF-quantized
IR (non-quantized ops in f32).

Cache layout: one directory per IR holding ``model.xml``, ``model.bin`` and
``meta.json``; ``ir_sha256`` is the SHA-256 of ``model.xml`` followed by ``model.bin``
(``cat model.xml model.bin | sha256sum``).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from ..config import BenchmarkConfig
from ..errors import ConfigFailure
from ..hardware import HardwareReport, decline_vendor_telemetry
from ..inputs import describe_shapes
from ..measure import LoopResult, LoopWindow, StopRule
from .base import Backend
from .model_cache import META_FILE, cache_entry, write_entry
from .torch_backend import reference_backend, reference_identity, reference_inputs

decline_vendor_telemetry()  # before openvino / nncf load (exec workers, benchmarks): no network call

IR_XML, IR_BIN = "model.xml", "model.bin"
CONVERTER = "openvino.convert_model(torch module, example_input), reshaped to static input shapes"
CALIBRATION_SIZE = 16
INT8_PRESET = "MIXED"
# INFERENCE_PRECISION_HINT per precision; int8 keeps its non-quantized ops in f32.
HINT_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
# OPTIMIZATION_CAPABILITIES entry a device must list for a precision.
CAPABILITY = {"bf16": "BF16", "fp16": "FP16", "int8": "INT8"}


@cache
def device_capabilities(device: str) -> tuple[str, ...]:
    """The device's OPTIMIZATION_CAPABILITIES (e.g. FP32, BF16, INT8); () if it cannot be asked."""
    try:
        import openvino as ov

        return tuple(str(c) for c in ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return ()


def quantization_method(n: int = CALIBRATION_SIZE, preset: str = INT8_PRESET) -> str:
    return f"nncf post-training (nncf.quantize, preset {preset}), calibration: {n} generated samples"


def ir_sha256(entry: Path) -> str:
    """SHA-256 of model.xml followed by model.bin (``cat model.xml model.bin | sha256sum``)."""
    h = hashlib.sha256()
    for name in (IR_XML, IR_BIN):
        with open(entry / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _numpy_inputs(ref: Any) -> dict[str, Any]:
    """The seeded inputs the torch backend feeds (fp32, CPU), as numpy arrays."""
    return {k: v.numpy() for k, v in reference_inputs(ref).items()}


def _is_transformer(hf_config: Any) -> bool:
    return any(
        hasattr(hf_config, a) for a in ("num_attention_heads", "n_head", "encoder_attention_heads", "text_config")
    )


def calibration_items(ref: Any, inputs: dict[str, Any], n: int = CALIBRATION_SIZE) -> list[dict[str, Any]]:
    """``n`` generated inputs shaped like ``inputs``: fresh token ids / pixels / features per item.

    Masks stay as they are (all ones); integer ids are drawn below the model's vocabulary;
    float tensors keep their distribution family (uniform [0, 1) pixels, else normal).
    """
    import numpy as np

    cfg = ref.hf_config
    vocab = getattr(cfg, "vocab_size", None) or getattr(getattr(cfg, "text_config", None), "vocab_size", None)
    items = []
    for seed in range(n):
        rng = np.random.default_rng(10_000 + seed)
        item = {}
        for name, arr in inputs.items():
            if "mask" in name:
                item[name] = arr.copy()
            elif np.issubdtype(arr.dtype, np.integer):
                high = vocab or int(arr.max()) + 1
                item[name] = rng.integers(0, high, size=arr.shape, dtype=arr.dtype)
            elif arr.min() >= 0:
                item[name] = rng.random(arr.shape, dtype=np.float32).astype(arr.dtype)
            else:
                item[name] = rng.standard_normal(arr.shape, dtype=np.float32).astype(arr.dtype)
        items.append(item)
    return items


def _convert(config: BenchmarkConfig, fp32_entry: Path, int8_entry: Path | None) -> dict[str, float]:
    """Build whichever of the two cache entries is missing; returns conversion_ms / quantize_ms."""
    import openvino as ov

    from .torch_backend import reference_model

    done: dict[str, float] = {"conversion_ms": 0.0, "quantize_ms": 0.0}
    fp32_model = None
    if not (fp32_entry / META_FILE).exists():
        ref = reference_model(config)
        lp = ref.load_params
        shapes = {k: list(v.shape) for k, v in ref.inputs.items()}
        t0 = time.perf_counter()
        fp32_model = ov.convert_model(ref.model, example_input=dict(ref.inputs))
        fp32_model.reshape(shapes)
        done["conversion_ms"] = (time.perf_counter() - t0) * 1e3
        meta = {
            "converter": CONVERTER,
            "conversion_ms": round(done["conversion_ms"], 1),
            "input_shape": describe_shapes(ref.inputs),
            "weights": lp["weights"],
            "weights_sha256": ref.weights_sha256(),
            "model_params": lp["model_params"],
            "model_size_mb": lp["model_size_mb"],
            "model_class": lp["model_class"],
            "source_model": lp["model_path"],
            "ov_version": ov.__version__,
        }

        def build_fp32(tmp: Path) -> None:
            ov.save_model(fp32_model, str(tmp / IR_XML), compress_to_fp16=False)
            (tmp / META_FILE).write_text(json.dumps({**meta, "ir_sha256": ir_sha256(tmp)}, indent=1))

        write_entry(fp32_entry, build_fp32)
        ref.close()
        del ref
        gc.collect()
    if int8_entry is not None and not (int8_entry / META_FILE).exists():
        import logging

        import nncf

        nncf.set_log_level(logging.ERROR)
        ref = reference_backend(config)
        model = fp32_model if fp32_model is not None else ov.Core().read_model(str(fp32_entry / IR_XML))
        items = calibration_items(ref, _numpy_inputs(ref))
        model_type = nncf.ModelType.TRANSFORMER if _is_transformer(ref.hf_config) else None
        t0 = time.perf_counter()
        quantized = nncf.quantize(
            model,
            nncf.Dataset(items),
            preset=getattr(nncf.QuantizationPreset, INT8_PRESET),
            subset_size=len(items),
            model_type=model_type,
        )
        done["quantize_ms"] = (time.perf_counter() - t0) * 1e3
        meta = {
            "quantization": quantization_method(len(items)),
            "calibration_size": len(items),
            "nncf_model_type": "TRANSFORMER" if model_type is not None else "default",
            "quantize_ms": round(done["quantize_ms"], 1),
            "nncf_version": nncf.__version__,
            "fp32_ir_sha256": json.loads((fp32_entry / META_FILE).read_text())["ir_sha256"],
        }

        def build_int8(tmp: Path) -> None:
            ov.save_model(quantized, str(tmp / IR_XML), compress_to_fp16=False)
            (tmp / META_FILE).write_text(json.dumps({**meta, "ir_sha256": ir_sha256(tmp)}, indent=1))

        write_entry(int8_entry, build_int8)
    return done


def _single_threaded() -> bool:
    """True when this process runs one thread only: then a fork copies no held lock and no thread
    pool (a fork after torch has used its OpenMP pool hangs the child in libgomp)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def convert_cached(config: BenchmarkConfig, fp32_entry: Path, int8_entry: Path | None) -> dict[str, Any]:
    """Build the missing cache entries: in a forked child where that is safe, so the torch model and
    the converter's peak memory stay out of this process's ``memory_peak_mb``; else in-process.

    A fresh worker is single-threaded when ``prepare`` runs (the fork server runs no torch op), so
    it forks; a process that already ran threads (a test, an interactive session) converts in place.
    Raises ConfigFailure (load_error, or oom when the child was killed).
    """
    if not _single_threaded():
        try:
            return {**_convert(config, fp32_entry, int8_entry), "conversion_process": "in-process"}
        except Exception as exc:
            raise ConfigFailure("load_error", f"OpenVINO conversion failed: {type(exc).__name__}: {exc}") from exc
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="hwbench-ov-") as tmp:
        result = Path(tmp, "result.json")
        proc = ctx.Process(target=_convert_entry, args=(config, fp32_entry, int8_entry, result))
        proc.start()
        proc.join()
        if result.exists():
            out = json.loads(result.read_text())
            if "error" in out:
                raise ConfigFailure("load_error", f"OpenVINO conversion failed: {out['error']}")
            return {**out, "conversion_process": "forked child"}
    if proc.exitcode == -9:
        raise ConfigFailure("oom", "the OpenVINO conversion process was killed by SIGKILL (out of memory?)")
    raise ConfigFailure("load_error", f"the OpenVINO conversion process exited with code {proc.exitcode}")


def _convert_entry(config: BenchmarkConfig, fp32_entry: Path, int8_entry: Path | None, result: Path) -> None:
    try:
        out: dict[str, Any] = _convert(config, fp32_entry, int8_entry)
    except BaseException as exc:  # reported to the parent, which raises ConfigFailure
        out = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]}
    result.write_text(json.dumps(out))
    os._exit(0)  # no atexit handlers / finalizers of the parent's state in the fork


class OpenVINOBackend(Backend):
    name = "openvino"

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        if config.mode == "training":
            return "OpenVINO runs inference only"
        if config.hardware != "openvino":
            return f"the openvino backend runs on the openvino platform, not {config.hardware}"
        info = hardware.get("openvino")
        if not info.available:
            return f"OpenVINO is not available: {info.reason}"
        if config.device not in info.devices:
            return f"OpenVINO device '{config.device}' not found (detected: {', '.join(info.devices) or 'none'})"
        need = CAPABILITY.get(config.precision)
        if need:
            caps = device_capabilities(config.device)
            if need not in caps and (config.precision != "int8" or caps):
                return (
                    f"OpenVINO {config.device} does not support {config.precision} "
                    f"(OPTIMIZATION_CAPABILITIES: {', '.join(caps) or 'unknown'})"
                )
        return None

    # ------------------------------------------------------------------ prepare: IR from the cache

    def prepare(self) -> None:
        import openvino as ov

        self.ov = ov
        cfg = self.config
        ref = reference_backend(cfg)
        self.inputs = _numpy_inputs(ref)  # the torch backend's seeded inputs
        fp32_key = {
            **reference_identity(ref, describe_shapes(self.inputs)),
            "precision": "fp32",
            "converter": CONVERTER,
            "openvino": ov.__version__,
            "torch": ref.torch.__version__,
            "transformers": _transformers_version(),
        }
        self.fp32_entry = cache_entry("openvino", **fp32_key)
        self.int8_entry = None
        if cfg.precision == "int8":
            from importlib.metadata import version  # not `import nncf` (0.3 s): only a miss quantizes

            int8_key = {
                **fp32_key,
                "precision": "int8",
                "quantization": quantization_method(),
                "nncf": version("nncf"),
            }
            self.int8_entry = cache_entry("openvino", **int8_key)
        entry = self.int8_entry or self.fp32_entry
        self.cache = "hit" if (entry / META_FILE).exists() else "miss"
        self.conversion: dict[str, Any] = {"conversion_ms": 0.0, "quantize_ms": 0.0, "conversion_process": "none"}
        if self.cache == "miss" or not (self.fp32_entry / META_FILE).exists():
            self.conversion = convert_cached(cfg, self.fp32_entry, self.int8_entry)
        self.entry = entry
        self.meta = json.loads((self.fp32_entry / META_FILE).read_text())
        if self.int8_entry is not None:
            self.meta.update(json.loads((self.int8_entry / META_FILE).read_text()))
        self.xml = entry / IR_XML

    # ------------------------------------------------------------------ load: read + compile (startup_ms)

    def load(self) -> dict[str, Any]:
        ov = self.ov
        cfg = self.config
        self.core = core = ov.Core()
        model = core.read_model(str(self.xml))
        shapes = {k: list(v.shape) for k, v in self.inputs.items()}
        if any(p.get_partial_shape().is_dynamic for p in model.inputs) or [
            list(p.get_shape()) for p in model.inputs
        ] != list(shapes.values()):
            model.reshape(shapes)
        self.hint = "THROUGHPUT" if cfg.scenario == "throughput" else "LATENCY"
        props = {"PERFORMANCE_HINT": self.hint, "INFERENCE_PRECISION_HINT": HINT_PRECISION[cfg.precision]}
        self.compiled = compiled = core.compile_model(model, cfg.device, props)
        self.nireq = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = None
        if cfg.scenario == "throughput":
            self.queue = ov.AsyncInferQueue(compiled, self.nireq)
            self.requests = [self.queue[i] for i in range(self.nireq)]
            self._queue_start = super(ov.AsyncInferQueue, self.queue).start_async
        else:
            self.requests = [compiled.create_infer_request()]
            # The pybind method under InferRequest.infer: no input dispatch, outputs not copied.
            self._infer = super(ov.InferRequest, self.requests[0]).infer
        for req in self.requests:
            self._fill(req)
        meta = self.meta
        return {
            "model_path": str(self.xml),
            "ir_sha256": meta["ir_sha256"],
            "ir_cache": self.cache,
            "ir_size_mb": round((self.entry / IR_BIN).stat().st_size / 2**20, 3),
            "conversion_ms": round(self.conversion["conversion_ms"], 1),
            "conversion_process": self.conversion["conversion_process"],
            "converter": meta["converter"],
            "input_shape": meta["input_shape"],
            "weights": meta["weights"],
            "weights_sha256": meta["weights_sha256"],
            "model_params": meta["model_params"],
            "model_size_mb": meta["model_size_mb"],
            "model_class": meta["model_class"],
            **self._quant_params(),
            "ov_version": ov.__version__,
            **self._compiled_properties(),
        }

    def _fill(self, req: Any) -> None:
        """Copy the inputs into the request's own input tensors, once (by name, else by position)."""
        import numpy as np

        ports = self.compiled.inputs
        names = list(self.inputs)
        for i, port in enumerate(ports):
            name = next((n for n in port.get_names() if n in self.inputs), names[i])
            tensor = req.get_input_tensor(i)
            tensor.data[...] = np.asarray(self.inputs[name]).astype(tensor.data.dtype, copy=False)

    def _quant_params(self) -> dict[str, Any]:
        if self.int8_entry is None:
            return {"quantization": "none"}
        m = self.meta
        return {
            "quantization": m["quantization"],
            "calibration_size": m["calibration_size"],
            "nncf_model_type": m["nncf_model_type"],
            "nncf_version": m["nncf_version"],
            "quantize_ms": round(self.conversion["quantize_ms"], 1),
        }

    def _compiled_properties(self) -> dict[str, Any]:
        c = self.compiled

        def prop(name: str) -> Any:
            try:
                return c.get_property(name)
            except Exception:
                return None

        precision = prop("INFERENCE_PRECISION_HINT")
        return {
            "ov_performance_hint": str(prop("PERFORMANCE_HINT")),
            "ov_num_streams": str(prop("NUM_STREAMS")),
            "ov_inference_num_threads": str(prop("INFERENCE_NUM_THREADS")),
            "ov_inference_precision": precision.get_type_name() if hasattr(precision, "get_type_name") else precision,
            "ov_optimal_infer_requests": self.nireq,
        }

    # ------------------------------------------------------------------ run

    def run(self) -> Any:
        if self.queue is None:
            return next(iter(self._infer({}, True, True).values()))
        idle = self.queue.get_idle_request_id()
        self._queue_start({}, None)
        self.queue.wait_all()
        return self.requests[idle].get_output_tensor(0).data

    def output_dtype(self, out: Any) -> str:
        return str(out.dtype)

    def throughput_loop(self, rule: StopRule) -> LoopResult | None:
        """Keep all ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` requests busy until ``rule`` says stop.

        As benchmark_app's async loop: wait for an idle request, take the latency of its
        previous run (OpenVINO's start → completion time), start it again. No Python
        callback runs on OpenVINO's threads. ``wall_s`` spans the first start to the last
        completion, so every started request is counted.
        """
        queue, requests, start_async = self.queue, self.requests, self._queue_start
        get_idle = queue.get_idle_request_id
        clock = time.perf_counter
        started = [False] * len(requests)
        samples: list[float] = []
        empty: dict[str, Any] = {}
        with LoopWindow(rule) as window:
            t_start = clock()
            while True:
                idle = get_idle()
                if started[idle]:
                    samples.append(requests[idle].latency)
                else:
                    started[idle] = True
                start_async(empty, None)
                if window.should_stop(samples, clock() - t_start):
                    break
            queue.wait_all()
            wall = clock() - t_start
        samples.extend(requests[i].latency for i, s in enumerate(started) if s)
        return window.result(samples, self.config.batch_size, wall)

    # ------------------------------------------------------------------ reporting

    def conditions(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.queue is not None:
            out["throughput_mode"] = f"OpenVINO THROUGHPUT hint, AsyncInferQueue with {self.nireq} requests"
        for key, name in (
            ("ov_execution_devices", "EXECUTION_DEVICES"),
            ("ov_enable_cpu_pinning", "ENABLE_CPU_PINNING"),
            ("ov_enable_hyper_threading", "ENABLE_HYPER_THREADING"),
            ("ov_scheduling_core_type", "SCHEDULING_CORE_TYPE"),
            ("ov_execution_mode_hint", "EXECUTION_MODE_HINT"),
        ):
            try:
                value = self.compiled.get_property(name)
            except Exception:
                continue
            out[key] = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        with contextlib.suppress(Exception):
            out["ov_device_name"] = self.core.get_property(self.config.device, "FULL_DEVICE_NAME")
        return out

    def weights_sha256(self) -> str:
        return getattr(self, "meta", {}).get("weights_sha256", "")

    def close(self) -> None:
        self.queue = None
        self.requests = []
        self._infer = None
        self._queue_start = None
        self.compiled = None
        self.core = None


def _transformers_version() -> str:
    import transformers

    return transformers.__version__
