"""OpenVINO and ONNX Runtime through the CLI: model_path names the converted file, its
hash is recorded, and --log-model puts the file itself in MLflow."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlflow import MlflowClient

from hwbench_mlflow import names as N
from tests._util import child_runs, run_cli


def test_openvino_and_onnxruntime_runs_log_their_model_files(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    common = [
        "--model",
        "bert-tiny",
        "--batch-sizes",
        "2",
        "--seq-length",
        "16",
        "--tracking-uri",
        uri,
        "--max-time",
        "0.5",
        "--min-time",
        "0.1",
        "--log-model",
    ]
    env = {"HWBENCH_CACHE_DIR": str(tmp_path / "cache")}
    # (OpenVINO's throughput scenario and its hint: tests/backends/test_openvino_backend.py::test_worker_throughput)
    ov = run_cli(["run", "--hardware", "openvino", *common], tmp_path, **env)
    assert ov.returncode == 0, ov.stderr
    ort = run_cli(
        ["run", "--hardware", "cpu", "--backend", "onnxruntime", "--precision", "int8", *common], tmp_path, **env
    )
    assert ort.returncode == 0, ort.stderr
    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in child_runs(uri)}
    assert set(runs) == {
        "fp32 b2 · openvino/openvino · bert-tiny · inference",
        "int8 b2 · cpu/onnxruntime · bert-tiny · inference",
    }
    for run in runs.values():
        p, m = run.data.params, run.data.metrics
        assert run.data.tags[N.T_STATUS] == "success"
        assert set(N.CONFIG_PARAMS) <= set(p) and set(N.CONTRACT_METRICS) <= set(m)
        assert m[N.M_LAT_P50] <= m[N.M_LAT_P95] <= m[N.M_LAT_P99]
        assert Path(p["model_path"]).is_file() and str(tmp_path / "cache") in p["model_path"]
        logged = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "model")}
        local = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path / run.info.run_id)))
        if p["backend"] == "openvino":
            assert logged == {"model.xml", "model.bin"}
            digest = hashlib.sha256((local / "model.xml").read_bytes() + (local / "model.bin").read_bytes())
            assert digest.hexdigest() == p["ir_sha256"]
            assert p["ov_performance_hint"] == "LATENCY"
        else:
            assert logged == {Path(p["model_path"]).name} and logged.pop().endswith(".onnx")
            assert "quantize_dynamic" in p["quantization"]
