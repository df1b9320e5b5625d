"""onnxruntime-web in a real headless Chromium (installed by `make web`, which .ci/run runs):
measured runs on wasm, webgpu and webnn with the browser and device recorded, the software
WebGPU adapter marked as such, outputs that match native onnxruntime, a browser without WebNN
giving `unavailable` runs, and the platforms reported unavailable when nothing is installed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hwbench_mlflow import browsers
from hwbench_mlflow import names as N
from tests._util import child_runs, run_cli

needs_web = pytest.mark.skipif(
    browsers.ort_dist() is None or shutil.which("chromium") is None or not browsers.sparticuz_path().is_file(),
    reason="the web backend is not installed: run `make web` (.ci/run does)",
)
WEB = ["--model", "bert-tiny", "--backend", "onnxruntime-web", "--seq-length", "32", "--warmup", "1"]
WINDOW = ["--max-time", "1", "--min-time", "0.2", "--min-iterations", "3"]
TINY_WINDOW = ["--max-time", "0.2", "--min-time", "0.1", "--warmup", "0", "--min-iterations", "1"]


@pytest.fixture(scope="module")
def web_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    uri = f"sqlite:///{d}/mlflow.db"
    proc = run_cli(
        ["run", *WEB, *WINDOW, "--hardware", "webgpu,webnn,cpu", "--tracking-uri", uri, "--no-db"], d, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, uri, {r.data.params["hardware"]: r for r in child_runs(uri)}


@needs_web
def test_each_web_platform_is_measured_with_its_browser_and_device(web_sweep):
    _, _, runs = web_sweep
    assert set(runs) == {"webgpu", "webnn", "cpu"}
    for run in runs.values():
        p, m, t = run.data.params, run.data.metrics, run.data.tags
        assert run.info.status == "FINISHED" and t[N.T_STATUS] == "success" and t[N.T_IS_SIMULATED] == "false"
        assert set(N.CONFIG_PARAMS) <= set(p), set(N.CONFIG_PARAMS) - set(p)
        assert set(N.CONTRACT_METRICS) <= set(m), set(N.CONTRACT_METRICS) - set(m)
        assert m[N.M_LAT_MIN] <= m[N.M_LAT_P50] <= m[N.M_LAT_P95] <= m[N.M_LAT_P99] <= m[N.M_LAT_MAX]
        # batch 1: n runs in the page's windows (first start to last end, the loop's overhead in)
        assert 0.8 * 1000.0 / m[N.M_LAT_MEAN] <= m[N.M_THROUGHPUT] <= 1000.0 / m[N.M_LAT_MEAN] * (1 + 1e-9)
        assert N.M_PAGE_FAULTS not in m  # the worker's page faults say nothing of the browser's
        assert p["backend"] == "onnxruntime-web" and p["browser_version"].startswith("Chromium ")
        assert p["cross_origin_isolated"] == "true" and p["timer"] == "performance.now() in the page"
        assert m["startup_ms"] > 0 and m["first_inference_ms"] > 0
        # the browser's renderer + GPU processes, not the worker: a page with a session holds more than none
        assert m[N.M_MEMORY_PEAK] > m["memory_baseline_mb"] > 10
        assert float(p["output_max_rel_diff"]) < 1e-4  # the same numbers as native onnxruntime
    gpu, nn, wasm = runs["webgpu"], runs["webnn"], runs["cpu"]
    assert gpu.data.params["device"] == "swiftshader:software"  # this host has no GPU: SwiftShader
    assert gpu.data.tags[N.T_DEVICE_KIND] == "software" and gpu.data.params["webgpu_is_fallback_adapter"] == "true"
    assert gpu.data.params["ort_web_bundle"] == "ort.webgpu.min.mjs"
    assert nn.data.params["device"] == "cpu" and nn.data.params["browser"].startswith("@sparticuz/chromium")
    assert wasm.data.params["device"] == "wasm" and int(wasm.data.params["ort_web_num_threads"]) >= 1
    assert wasm.data.tags[N.T_DEVICE_KIND] == "cpu"


@needs_web
def test_outputs_that_differ_from_native_fail_the_config(web_sweep):
    from hwbench_mlflow.backends.onnx_export import reference_inputs
    from hwbench_mlflow.backends.ortweb_backend import OrtWebBackend
    from hwbench_mlflow.config import BenchmarkConfig

    _, _, runs = web_sweep
    path = runs["cpu"].data.params["model_path"]
    import onnxruntime as ort

    cfg = BenchmarkConfig("bert-tiny", "cpu", "onnxruntime-web", "wasm", "fp32", 1, seq_length=32)
    backend = OrtWebBackend(cfg)
    backend.path, backend.feeds = path, reference_inputs(cfg)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    native = dict(zip([o.name for o in session.get_outputs()], session.run(None, backend.feeds), strict=True))

    def as_page(arrays):
        return {k: {"dims": list(v.shape), "type": "float32", "data": v.ravel().tolist()} for k, v in arrays.items()}

    backend._check_outputs(as_page(native))  # the same numbers pass
    assert backend.output_max_rel_diff == 0.0
    wrong = {k: v + 0.01 * np.abs(v).max() for k, v in native.items()}
    with pytest.raises(RuntimeError, match="browser outputs differ from native onnxruntime"):
        backend._check_outputs(as_page(wrong))


@needs_web
def test_a_browser_without_webnn_gives_unavailable_runs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        ["run", *WEB, "--hardware", "webnn", "--browser", "chromium", "--tracking-uri", uri, "--no-db"], tmp_path, 300
    )
    assert proc.returncode == 1, proc.stderr
    (run,) = child_runs(uri)
    t = run.data.tags
    assert run.info.status == "FAILED" and t[N.T_ERROR_CATEGORY] == "unavailable"
    assert "WebNN is not supported on this platform" in t[N.T_ERROR_MESSAGE]
    assert not {N.M_LAT_P50, N.M_THROUGHPUT} & set(run.data.metrics)  # no number where nothing ran


@needs_web
def test_hardware_shows_what_each_browser_provides(tmp_path):
    proc = run_cli(["hardware", "--json", "--no-db"], tmp_path, 300)
    assert proc.returncode == 0, proc.stderr
    platforms = {p["platform"]: p for p in json.loads(proc.stdout)["platforms"]}
    gpu, nn = platforms["webgpu"], platforms["webnn"]
    assert gpu["available"] and gpu["devices"] == ["swiftshader:software"]
    assert gpu["details"]["device_kind"] == "software"
    assert nn["available"] and nn["devices"] == ["cpu"]  # gpu / npu contexts exist, but no such device here
    seen = {b["browser"].split()[0]: b for b in nn["details"]["browsers"]}
    assert "WebNN is not supported on this platform" in seen["chromium"]["reason"]
    assert seen["@sparticuz/chromium"]["devices"] == ["cpu", "gpu", "npu"]


def test_without_the_web_packages_the_platforms_say_how_to_install_them(tmp_path):
    missing = str(tmp_path / "none")
    reason = (
        "onnxruntime-web is not installed: run 'make web' (installs chromium, onnxruntime-web and @sparticuz/chromium)"
    )
    proc = run_cli(["hardware", "--json", "--no-db"], tmp_path, 300, HWBENCH_WEB_DIR=missing)
    assert proc.returncode == 0, proc.stderr
    platforms = {p["platform"]: p for p in json.loads(proc.stdout)["platforms"]}
    for kind in ("webgpu", "webnn"):
        assert not platforms[kind]["available"] and platforms[kind]["reason"] == reason
    # a default sweep (no --hardware) still runs, and ends with what it did not measure and why
    proc = run_cli(
        ["run", "--model", "bert-tiny", "--limit", "1", "--seq-length", "16", "--no-db", *TINY_WINDOW],
        tmp_path,
        300,
        HWBENCH_WEB_DIR=missing,
    )
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())  # rich folds long lines
    assert f"webgpu: {reason}" in out and f"webnn: {reason}" in out and "Not measured here (unavailable):" in out
