"""ONNX Runtime Web in a headless Chromium: hardware ``cpu`` (device ``wasm``), ``webgpu`` (the
browser's adapter) and ``webnn`` (device type cpu | gpu | npu); inference only.

The model is the ONNX file the ONNX Runtime backend exports and caches (int8 / fp16: its
derived files). A page server on 127.0.0.1 (:mod:`hwbench_mlflow.browsers`) serves it with the
ORT Web bundle and the page; Chromium runs the page, which times each ``session.run`` with
``performance.now()`` (cross-origin isolated: 5 µs resolution) and hands the raw samples back in
chunks; Python applies the same stop rule and statistics as for the native backends.

* ``startup_ms``: ``InferenceSession.create`` in the page (the bundle's import and the model
  fetch are params: ``ort_web_import_ms``, ``ort_web_model_bytes``).
* ``first_inference_ms``: the first ``session.run`` in the page.
* ``memory_peak_mb``: the peak of the summed RSS of the browser's renderer and GPU processes,
  sampled from outside every 20 ms with psutil (``memory_baseline_mb``: the same sum with the
  page open and no session yet).
* The first run's outputs are checked against native onnxruntime (CPU EP) on the same file and
  inputs: a browser that computes something else fails the config (``runtime_error``) instead of
  passing as a fast one. ``output_max_abs_diff`` records the difference.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import browsers
from ..config import BenchmarkConfig
from ..hardware import HardwareReport
from ..measure import LoopResult, LoopWindow, StopRule
from .onnxruntime_backend import INT8_DYNAMIC, OnnxRuntimeBackend, refusal, usable_cores

EP = {"cpu": "wasm", "webgpu": "webgpu", "webnn": "webnn"}
BUNDLE = {"wasm": "ort.wasm.min.mjs", "webgpu": "ort.webgpu.min.mjs", "webnn": "ort.all.min.mjs"}
CHUNK_S = 0.1  # page round trips are batched so each covers about this much measuring
MEMORY_SAMPLE_S = 0.02
MEMORY_METHOD = "peak of summed RSS of Chromium's renderer and GPU processes, psutil every 20 ms"
# |browser - native| allowed, relative to the largest |native| output: fp32 kernels differ in
# summation order only; fp16 and int8 files run different kernels on each side.
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 5e-2}
THREADS_ENV = "HWBENCH_WASM_THREADS"


def wasm_threads() -> int:
    """Threads for the wasm EP: ``$HWBENCH_WASM_THREADS``, else one per usable core."""
    raw = os.environ.get(THREADS_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else usable_cores()


def _spec(a: np.ndarray) -> dict[str, Any]:
    types = {np.dtype("int64"): "int64", np.dtype("int32"): "int32", np.dtype("float32"): "float32"}
    if a.dtype not in types:
        raise TypeError(f"input dtype {a.dtype} is not passed to the browser")
    return {"type": types[a.dtype], "dims": list(a.shape), "data": a.ravel().tolist()}


class _MemorySampler:
    """Peak of the summed RSS of the renderer and GPU processes among ``find_pids()`` (the
    process list is refreshed every second: a GPU process that restarts is followed)."""

    def __init__(self, find_pids: Any) -> None:
        self.find_pids = find_pids
        self.procs: list[Any] = []
        self.rescan()
        self.peak_mb = self.now_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def rescan(self) -> None:
        import psutil

        procs = []
        for pid in self.find_pids():
            try:
                p = psutil.Process(pid)
                if any(a in ("--type=renderer", "--type=gpu-process") for a in p.cmdline()):
                    procs.append(p)
            except psutil.Error:
                continue
        self.procs = procs

    def now_mb(self) -> float:
        total = 0
        for p in self.procs:
            try:
                total += p.memory_info().rss
            except Exception:
                continue
        return total / 2**20

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(MEMORY_SAMPLE_S):
            ticks += 1
            if ticks % 50 == 0:
                self.rescan()
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.now_mb())
        return self.peak_mb


class OrtWebBackend(OnnxRuntimeBackend):
    name = "onnxruntime-web"

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        if browsers.ort_dist() is None:
            return f"onnxruntime-web is not installed under {browsers.web_dir()}: {browsers.INSTALL_HINT}"
        if browsers.browser_for(config.hardware, config.device) is not None:
            return None
        found = browsers.detect_browsers()
        if not found:
            return f"no Chromium found: {browsers.INSTALL_HINT}"
        why = "; ".join(f"{b.name}: {b.why_not(config.hardware) or 'no ' + config.device}" for b in found)
        return f"no browser here runs {config.hardware} on '{config.device}' ({why})"

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        ep = EP.get(config.hardware)
        subject = "the onnxruntime-web backend"

        def platform() -> str | None:
            return None if ep else f"onnxruntime-web runs on cpu (wasm), webgpu and webnn, not {config.hardware}"

        def scenario() -> str | None:
            if config.scenario != "throughput":
                return None
            return f"{subject} measures one request at a time (a page runs one session.run at once)"

        def kernels(precision: str) -> str | None:
            if precision == "int8" and ep != "wasm":
                return (
                    f"{INT8_DYNAMIC}which the {ep} EP does not run: those nodes would fall back to the wasm CPU kernels"
                )
            if precision == "fp16" and ep == "wasm":
                return (
                    "fp16 is not run on the wasm EP: it has few fp16 kernels, the graph would mostly run through casts"
                )
            if precision == "fp16" and ep == "webgpu":
                browser = browsers.browser_for(config.hardware, config.device)
                features = browser.probe["webgpu"].get("features", []) if browser else []
                if "shader-f16" not in features:
                    return "fp16 on WebGPU needs the adapter feature 'shader-f16', which this adapter does not offer"
            return None

        return refusal(
            config, subject, first=[platform], then=[scenario, lambda: cls.unavailable(config)], kernels=kernels
        )

    def prepare(self) -> None:
        super().prepare()
        browser = browsers.browser_for(self.config.hardware, self.config.device)
        if browser is None:
            raise RuntimeError(self.unavailable(self.config) or "no browser")
        self.browser = browser
        self.ep = EP[self.config.hardware]
        self.threads = wasm_threads() if self.ep == "wasm" else 1
        self.own: dict[str, float] = {}
        self._first: dict[str, Any] | None = None
        self.server = browsers.PageServer().__enter__()
        self.page = browsers.BrowserPage(browser.path, timeout_s=600).__enter__()
        self.page.open(self.server.url)
        self.sampler = _MemorySampler(self.page.pids)
        self.own["memory_baseline_mb"] = self.sampler.now_mb()

    def load(self) -> dict[str, Any]:
        from ..errors import ConfigFailure

        extra = sorted(p.name for p in Path(self.path).parent.glob("*") if p.suffix not in (".onnx", ".json"))
        if extra:
            raise ConfigFailure(
                "unsupported",
                f"the ONNX file keeps its weights in external data ({', '.join(extra)}); the page loads one file",
            )
        url = self.server.serve_file("model.onnx", Path(self.path))
        feeds = {k: _spec(v) for k, v in self.feeds.items()}
        opts = {"ep": self.ep, "model_url": url, "num_threads": self.threads, "feeds": feeds}
        if self.ep == "webnn":
            opts["device_type"] = self.config.device
        info = _page_call(self.config, self.page, "load", opts)
        self.own["startup_ms"] = info["startup_ms"]
        if sorted(info["input_names"]) != sorted(self.feeds):
            raise RuntimeError(f"the ONNX graph wants inputs {info['input_names']}, the model's are {list(self.feeds)}")
        params = dict(self.params)
        params.update(
            browser=self.browser.name,
            browser_version=self.browser.version,
            browser_path=self.browser.path,
            ort_web_version=browsers.ort_web_version(),
            ort_web_bundle=BUNDLE[self.ep],
            ort_web_ep=self.ep,
            ort_web_import_ms=round(info["import_ms"], 3),
            ort_web_model_bytes=info["model_bytes"],
            cross_origin_isolated=str(info["cross_origin_isolated"]).lower(),
            timer="performance.now() in the page",
            memory_measured=MEMORY_METHOD,
        )
        if self.ep == "wasm":
            params["ort_web_num_threads"] = info["num_threads"]
        if self.ep == "webgpu":
            adapter = self.browser.probe["webgpu"]
            params.update(
                webgpu_vendor=adapter.get("vendor", ""),
                webgpu_architecture=adapter.get("architecture", ""),
                webgpu_description=adapter.get("description", ""),
                webgpu_is_fallback_adapter=str(bool(adapter.get("is_fallback_adapter"))).lower(),
                device_kind=browsers.device_kind(adapter),
            )
        elif self.ep == "webnn":
            params["webnn_device_type"] = self.config.device
            params["device_kind"] = self.config.device
        else:
            params["device_kind"] = "cpu"
        return params

    def run(self) -> Any:
        if self._first is None:
            self._first = _page_call(self.config, self.page, "first")
            self.own["first_inference_ms"] = self._first["ms"]
            self._check_outputs(self._first["outputs"])
            return self._first["outputs"]
        return self.page.call("runs", 1)["samples"]

    def _check_outputs(self, outputs: dict[str, Any]) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        native = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        names = [o.name for o in native.get_outputs()]
        ref = dict(zip(names, native.run(None, self.feeds), strict=True))
        worst = 0.0
        for name, want in ref.items():
            got = outputs.get(name)
            if got is None or list(got["dims"]) != list(want.shape):
                raise RuntimeError(f"browser output '{name}' is {got and got['dims']}, native gives {list(want.shape)}")
            want = np.asarray(want, dtype=np.float64)
            diff = float(np.max(np.abs(np.asarray(got["data"], dtype=np.float64) - want.ravel())))
            scale = float(np.max(np.abs(want))) or 1.0
            worst = max(worst, diff / scale)
        self.output_max_rel_diff = worst
        allowed = TOLERANCE.get(self.config.precision, 5e-2)
        if worst > allowed:
            raise RuntimeError(
                f"browser outputs differ from native onnxruntime on the same file: max |diff| {worst:.3g} "
                f"of the largest output (allowed {allowed:g})"
            )

    def latency_loop(self, rule: StopRule) -> LoopResult:
        """Chunks of back-to-back runs timed in the page until ``rule`` says stop."""
        samples: list[float] = []
        wall_ms = 0.0  # the page's own windows: first start to last end of each chunk
        chunk = 1
        with LoopWindow(rule) as window:
            start = time.perf_counter()
            while True:
                got = self.page.call("runs", chunk)
                samples.extend(got["samples"])
                wall_ms += got["wall"]
                if rule.converged(samples, wall_ms / 1e3):
                    window.stop_reason = "converged"
                    break
                # the page's time decides; Python's clock only guards against a page that stalls
                if wall_ms / 1e3 >= rule.max_time_s or time.perf_counter() - start >= 2 * rule.max_time_s:
                    break
                mean_s = max(got["wall"] / len(got["samples"]) / 1e3, 1e-6)
                chunk = max(1, min(1000, int(CHUNK_S / mean_s)))
        return window.result(samples, self.config.batch_size, wall_ms / 1e3)

    def own_observations(self) -> dict[str, float | None]:
        out: dict[str, float | None] = dict(self.own)
        out["page_faults_minor_per_iter"] = None  # the worker's faults say nothing of the browser's
        if getattr(self, "sampler", None) is not None:
            out["memory_peak_mb"] = self.sampler.stop()
            self.sampler = None
        return out

    def output_dtype(self, out: Any) -> str:
        return str(next(iter(out.values()))["type"]) if isinstance(out, dict) and out else ""

    def conditions(self) -> dict[str, Any]:
        return {"output_max_rel_diff": f"{getattr(self, 'output_max_rel_diff', float('nan')):.3g}"}

    def close(self) -> None:
        for name in ("page", "server"):  # closing the browser releases the session with it
            obj = getattr(self, name, None)
            if obj is not None:
                obj.__exit__(None, None, None)
                setattr(self, name, None)
        if getattr(self, "sampler", None) is not None:
            self.sampler.stop()
            self.sampler = None
        self.feeds = None


def _page_call(config: BenchmarkConfig, page: Any, fn: str, arg: Any = None) -> Any:
    """A page call whose EP refusal (the page marks it ``EP_REFUSED``) is ``unsupported`` with
    the EP's own message; anything else (a crash, a timeout, a failed fetch) stays an error."""
    from ..errors import ConfigFailure

    try:
        return page.call(fn, arg)
    except Exception as exc:
        text = str(exc)
        if "EP_REFUSED:" not in text:
            raise
        msg = text.split("EP_REFUSED:", 1)[1]  # ConfigFailure makes it one line and clips it
        raise ConfigFailure(
            "unsupported", f"onnxruntime-web {EP[config.hardware]} refused {config.precision}: {msg}"
        ) from None
