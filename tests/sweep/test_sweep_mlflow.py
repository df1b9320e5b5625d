"""End to end: `hwbench run` → nested MLflow runs, read back independently with MlflowClient."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from hwbench_mlflow import names as N
from tests._util import FAST, child_runs, run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{d}/mlflow.db"
    common = ["--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1,4", "--tracking-uri", uri, *FAST]
    inf = run_cli(["run", *common, "--precision", "fp32,int8", "--output", str(d / "results.csv")], d)
    train = run_cli(["run", *common, "--precision", "fp32", "--training-mode", "--experiment", "train"], d)
    return {"dir": d, "uri": uri, "inference": inf, "training": train}


def _by_name(runs):
    return {r.info.run_name: r for r in runs}


def test_cli_exit_codes_and_output(store):
    for key in ("inference", "training"):
        proc = store[key]
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    out = store["inference"].stdout
    assert "int8 b4 · cpu/torch · bert-tiny · inference" in out
    assert "mlflow ui --backend-store-uri sqlite:///" in out


def test_every_contract_param_metric_and_tag(store):
    runs = child_runs(store["uri"])
    assert len(runs) == 6
    names = _by_name(runs)
    assert set(names) == {
        f"{p} b{b} · cpu/torch · bert-tiny · {m}"
        for p, m in (("fp32", "inference"), ("int8", "inference"), ("fp32", "training"))
        for b in (1, 4)
    }
    for r in runs:
        p, m, t = r.data.params, r.data.metrics, r.data.tags
        assert r.info.status == "FINISHED"
        assert set(N.CONFIG_PARAMS) <= set(p), set(N.CONFIG_PARAMS) - set(p)
        assert set(N.CONTRACT_METRICS) <= set(m), set(N.CONTRACT_METRICS) - set(m)
        assert t[N.T_STATUS] == "success" and t[N.T_IS_SIMULATED] == "false" and t[N.T_WEIGHTS] == "random"
        assert t[N.T_HOST] and t[N.T_SWEEP_ID] and t[N.T_VERSION_PREFIX + "torch"].startswith("2.13.0")
        assert (p["model"], p["model_name"], p["category"], p["hardware"], p["device"], p["backend"]) == (
            "bert-tiny",
            "prajjwal1/bert-tiny",
            "text",
            "cpu",
            "cpu",
            "torch",
        )
        assert p["scenario"] == "latency"
        assert p["input_shape"] == f"input_ids=[{p['batch_size']},128];attention_mask=[{p['batch_size']},128]"
        assert p["allocator"] == "glibc" and p["malloc_settings"] == "tuned" and int(p["torch_num_threads"]) >= 1
        assert r.info.run_name == f"{p['precision']} b{p['batch_size']} · cpu/torch · bert-tiny · {p['mode']}"


def test_metric_relations(store):
    for r in child_runs(store["uri"]):
        m, p = r.data.metrics, r.data.params
        b = int(p["batch_size"])
        assert m[N.M_LAT_MIN] <= m[N.M_LAT_P50] <= m[N.M_LAT_P90] <= m[N.M_LAT_P95] <= m[N.M_LAT_P99]
        assert m[N.M_LAT_P99] <= m[N.M_LAT_MAX]
        if N.M_CI_LOW in m:
            assert m[N.M_CI_LOW] <= m[N.M_LAT_P50] <= m[N.M_CI_HIGH]
        else:  # too few samples for a 95 % order-statistic CI of the median (a loaded machine)
            assert m[N.M_ITERATIONS] < 6
        # throughput is batch × iterations / loop wall time, ≈ batch × 1000 / mean latency
        assert m[N.M_THROUGHPUT] == pytest.approx(b * m[N.M_ITERATIONS] / m[N.M_DURATION], rel=1e-6)
        assert m[N.M_THROUGHPUT] == pytest.approx(b * 1000 / m[N.M_LAT_MEAN], rel=0.10)
        assert m[N.M_MEMORY_PEAK] > float(p["model_size_mb"]) > 10
        assert m[N.M_MEMORY_PEAK] >= m[N.M_MEMORY_BASELINE]
        assert m[N.M_STARTUP] > 0 and m[N.M_FIRST_INFERENCE] > 0
        assert 0 < m[N.M_DURATION] <= 1.5 + m[N.M_LAT_MAX] / 1e3 + 0.1
        # fewer than 5 iterations only when --max-time cut the loop (a loaded host), and then it says so
        assert m[N.M_ITERATIONS] >= 5 or r.data.tags[N.T_STOP_REASON] == "max_time", (m, r.data.tags)


def test_raw_samples_artifact_reproduces_the_metrics(store, tmp_path):
    client = MlflowClient(store["uri"])
    for r in child_runs(store["uri"]):
        path = client.download_artifacts(r.info.run_id, N.A_RAW_SAMPLES, str(tmp_path))
        raw = json.loads(Path(path).read_text())
        s = np.array(raw["latencies_ms"])
        m = r.data.metrics
        assert len(s) == m[N.M_ITERATIONS]
        assert np.percentile(s, 50) == pytest.approx(m[N.M_LAT_P50])
        assert np.percentile(s, 99) == pytest.approx(m[N.M_LAT_P99])
        assert s.mean() == pytest.approx(m[N.M_LAT_MEAN])
        short = len(s) < 662
        assert (N.T_PERCENTILE_WARNING in r.data.tags) == short


def test_precision_and_mode_recorded(store):
    names = _by_name(child_runs(store["uri"]))
    int8 = names["int8 b4 · cpu/torch · bert-tiny · inference"].data.params
    assert "quantize_dynamic" in int8["quantization"]
    assert int(int8["quantized_linear_layers"]) == 13  # 2 layers × 6 Linear + the pooler
    assert int8["output_dtype"] == "float32"
    train = names["fp32 b4 · cpu/torch · bert-tiny · training"].data.params
    assert train["mode"] == "training" and "backward" in train["training_step"]
    assert names["fp32 b1 · cpu/torch · bert-tiny · inference"].data.params["quantization"] == "none"


def test_parent_run_summarises_the_sweep(store, tmp_path):
    client = MlflowClient(store["uri"])
    runs = child_runs(store["uri"])
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 2
    for pid in parents:
        parent = client.get_run(pid)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags[N.T_ROLE] == "sweep"
        assert "configs measured" in parent.data.tags[N.MLFLOW_RUN_NOTE]
        assert parent.data.tags[N.T_HW_PREFIX + "cpu"] == "available"
        assert parent.data.tags[N.T_HW_PREFIX + "qnn"].startswith("unavailable: ")  # no Qualcomm SDK here
        hw = json.loads(Path(client.download_artifacts(pid, N.A_HARDWARE, str(tmp_path))).read_text())
        assert [p["platform"] for p in hw["platforms"]] == list(N.PLATFORMS)
        kids = [r for r in runs if r.data.tags["mlflow.parentRunId"] == pid]
        assert {r.data.tags[N.T_SWEEP_ID] for r in kids} == {parent.data.tags[N.T_SWEEP_ID]}
    exps = {client.get_experiment(r.info.experiment_id).name for r in runs}
    assert exps == {"hwbench", "train"}


def test_output_file_matches_mlflow(store):
    df = pd.read_csv(store["dir"] / "results.csv")
    assert len(df) == 4 and set(df["status"]) == {"success"}
    runs = {r.info.run_id: r for r in child_runs(store["uri"])}
    for row in df.itertuples():
        assert row.latency_p50_ms == pytest.approx(runs[row.run_id].data.metrics[N.M_LAT_P50])


def test_run_name_starts_with_what_tells_configs_apart(tmp_path):
    """MLflow's runs table shows a name's start: precision and batch come first, the model after."""
    from hwbench_mlflow.cli.render import CONFIG_CELL_WIDTH
    from hwbench_mlflow.cli.render import fit_config_name as _fit_config_name
    from hwbench_mlflow.config import BenchmarkConfig

    def name(model="bert-tiny", hw="cpu", backend="torch", device="cpu", precision="fp32", batch=8, **kw):
        return BenchmarkConfig(model, hw, backend, device, precision, batch, **kw).run_name

    assert name() == "fp32 b8 · cpu/torch · bert-tiny · inference"
    assert name(precision="int8", batch=1, mode="training") == "int8 b1 · cpu/torch · bert-tiny · training"
    assert name(scenario="throughput") == "fp32 b8 · cpu/torch · bert-tiny · inference · throughput"
    assert name(hw="cuda", device="cuda:0") == "fp32 b8 · cuda/torch · bert-tiny · inference"
    assert name(hw="cuda", device="cuda:1") == "fp32 b8 · cuda:1/torch · bert-tiny · inference"
    assert (
        name(hw="qnn", backend="onnxruntime", device="htp") == "fp32 b8 · qnn:htp/onnxruntime · bert-tiny · inference"
    )
    # a local model by its last path component; a Hugging Face id (org/name) whole
    local = tmp_path / "models" / "my-bert"
    local.mkdir(parents=True)
    assert name(model=str(local)) == "fp32 b8 · cpu/torch · my-bert · inference"
    assert name(model=f"{local}/") == "fp32 b8 · cpu/torch · my-bert · inference"
    assert name(model="./rel/model.onnx") == "fp32 b8 · cpu/torch · model.onnx · inference"
    assert name(model="prajjwal1/bert-tiny") == "fp32 b8 · cpu/torch · prajjwal1/bert-tiny · inference"

    # the terminal table's config cell: a long name keeps its start and end, the model loses its middle
    short = name()
    assert _fit_config_name(short) == short
    long_model = "sentence-transformers/all-MiniLM-L6-v2-finetuned-on-a-very-long-dataset-name-epoch3"
    long = name(model=long_model, backend="onnxruntime", precision="int8", batch=128, scenario="throughput")
    cut = _fit_config_name(long)
    assert len(long) > CONFIG_CELL_WIDTH and len(cut) == CONFIG_CELL_WIDTH
    assert cut.startswith("int8 b128 · cpu/onnxruntime · sentence") and cut.endswith("epoch3 · inference · throughput")
    assert "…" in cut.split(" · ")[2] and cut.count("…") == 1
    assert _fit_config_name("x" * 100) == "x" * 47 + "…" + "x" * 24  # not a config name: its middle goes
