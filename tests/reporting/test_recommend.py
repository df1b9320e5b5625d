"""hwbench recommend on a mirror holding measured and simulated rows: the five criteria,
evidence and confidence, simulated rows that never win silently, the memory filter, value
per dollar and per watt (measured vs estimated), the formats and the MLflow record."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

import hwbench_mlflow as hb
from hwbench_mlflow import names as N
from hwbench_mlflow.cli.reports import parse_weights
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.reporting.recommend import CRITERIA, NoResultsError
from tests._util import run_cli

# (model, hardware, backend, precision, batch, throughput, p50, p99, memory, samples, ci ±fraction, extra)
ROWS = [
    ("bert-tiny", "cpu", "torch", "fp32", 1, 200.0, 5.0, 7.0, 370.0, 200, 0.01, {}),
    ("bert-tiny", "cpu", "torch", "fp32", 16, 600.0, 26.0, 30.0, 400.0, 40, 0.03, {"energy_j_per_sample": 0.05}),
    ("bert-tiny", "openvino", "openvino", "int8", 8, 900.0, 9.0, 12.0, 500.0, 8, 0.04, {}),
    ("bert-tiny", "cuda", "torch", "fp16", 32, 5000.0, 2.0, 3.0, 300.0, 500, 0.01, {"simulated": True}),
    ("vit", "cuda", "torch", "fp16", 8, 3000.0, 3.0, 4.0, 2000.0, 300, 0.01, {"simulated": True}),
]


def log_result(client: MlflowClient, exp_id: str, row: tuple) -> str:
    model, hw, backend, precision, batch, thr, p50, p99, mem, n, ci, extra = row
    device = {"cpu": "cpu", "cuda": "cuda:0", "openvino": "CPU"}[hw]
    simulated = extra.get("simulated", False)
    tags = {
        N.T_ROLE: "config",
        N.T_STATUS: "success",
        N.T_HOST: "testhost",
        N.T_SWEEP_ID: "fixture",
        N.T_IS_SIMULATED: str(simulated).lower(),
    }
    if simulated:
        tags[N.T_SIMULATION_REASON] = "asked for: no GPU on this host"
    run = client.create_run(exp_id, tags=tags, run_name=f"{model}/{hw}/{precision}/b{batch}")
    params = {
        "model": model,
        "model_name": model,
        "category": "text",
        "hardware": hw,
        "hardware_name": {"cpu": "Test CPU", "cuda": "Test GPU", "openvino": "Test CPU (OpenVINO)"}[hw],
        "device": device,
        "backend": backend,
        "precision": precision,
        "batch_size": batch,
        "mode": "inference",
        "scenario": "latency",
    }
    metrics = {
        N.M_THROUGHPUT: thr,
        N.M_LAT_P50: p50,
        N.M_LAT_P99: p99,
        N.M_MEMORY_PEAK: mem,
        N.M_ITERATIONS: n,
        N.M_CI_LOW: p50 * (1 - ci),
        N.M_CI_HIGH: p50 * (1 + ci),
    }
    if hw == "cuda":
        metrics[N.M_GPU_MEMORY_PEAK] = mem
        metrics[N.M_MEMORY_PEAK] = 1200.0
    if "energy_j_per_sample" in extra:
        metrics[N.M_ENERGY] = extra["energy_j_per_sample"]
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("hwbench.percentile_warning", f"p99 from {n} samples (needs >= 662)")] if n < 662 else [],
    )
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("hwbench", artifact_location=(d / "artifacts").as_uri())
    ids = [log_result(client, exp_id, row) for row in ROWS]
    hb.sync(uri, d / "hwbench.duckdb")
    return d, uri, ids


def by_criterion(recs, model="bert-tiny"):
    return {r.criterion: r for r in recs if r.model == model}


def test_five_criteria_with_evidence_and_simulated_never_wins_silently(mirror):
    d, _, ids = mirror
    prices = {"cpu": 0.10, "openvino": 0.10, "cuda": 2.50}
    power = {"cpu": 65.0, "openvino": 65.0}
    recs = by_criterion(hb.recommend(d / "hwbench.duckdb", prices=prices, power=power))
    assert set(recs) == set(CRITERIA)
    thr, lat, mem = recs["best_throughput"], recs["best_latency"], recs["best_memory"]
    # the simulated GPU row has the best numbers everywhere, yet a measured row wins, with a warning
    assert (thr.hardware, thr.precision, thr.batch_size, thr.value) == ("openvino", "int8", 8, 900.0)
    assert "simulated result (cuda/torch/fp16/b32" in thr.warning and "not measured" in thr.warning
    assert thr.confidence == "low"  # 8 samples: thin
    assert thr.mlflow_run_id == ids[2] and thr.samples == 8
    assert (lat.hardware, lat.batch_size, lat.value, lat.confidence) == ("cpu", 1, 5.0, "high")
    assert lat.latency_p50_ci_low_ms == pytest.approx(4.95) and lat.latency_p50_ci_high_ms == pytest.approx(5.05)
    assert "simulated" in lat.warning
    assert (mem.hardware, mem.batch_size, mem.value) == ("cpu", 1, 370.0)
    assert "simulated result (cuda/torch/fp16/b32, 300 MB)" in mem.warning  # its GPU memory, not host RSS
    # best overall: 0.5·T/900 + 0.5·5/L over measured rows: b1 0.611, b16 0.430, int8 0.778
    overall = recs["best_overall"]
    assert (overall.hardware, overall.precision) == ("openvino", "int8")
    assert overall.value == pytest.approx(0.5 * 900 / 900 + 0.5 * 5 / 9)
    assert not any(r.is_simulated for r in recs.values())
    # value per dollar: 900·3600/0.10 for the int8 row beats the rest
    dollar = recs["best_value_per_dollar"]
    assert (dollar.hardware, dollar.value) == ("openvino", pytest.approx(900 * 3600 / 0.10))
    # value per watt: the measured energy counter (1 / 0.05 J = 20 samples/J) beats the estimates (900/65 = 13.8)
    watt = recs["best_value_per_watt"]
    assert (watt.batch_size, watt.value, watt.estimated) == (16, pytest.approx(20.0), False)
    assert watt.confidence == "high"


def test_weights_memory_limit_only_simulated_and_not_available(mirror):
    d, _, _ = mirror
    db = d / "hwbench.duckdb"
    recs = by_criterion(hb.recommend(db, weights={"throughput": 0, "latency": 1}, memory_limit_mb=450))
    assert (recs["best_overall"].batch_size, recs["best_overall"].hardware) == (1, "cpu")
    assert recs["best_throughput"].batch_size == 16  # the 500 MB int8 row is over the limit
    assert recs["best_value_per_dollar"].status == "not_available"
    assert recs["best_value_per_dollar"].reason == "no --prices table given"
    # power table only: every value per watt for the cpu rows, the b16 one measured
    vit = by_criterion(hb.recommend(db, models=["vit"]), "vit")
    assert vit["best_throughput"].is_simulated and vit["best_throughput"].confidence == "low"
    assert vit["best_throughput"].warning.startswith("SIMULATED: only simulated results exist")
    none_fit = by_criterion(hb.recommend(db, models=["bert-tiny"], memory_limit_mb=100))
    assert {r.status for r in none_fit.values()} == {"not_available"}
    assert none_fit["best_overall"].reason == "no result of bert-tiny stays under --memory-limit 100 MB"
    with pytest.raises(NoResultsError, match="no inference results for resnet50"):
        hb.recommend(db, models=["resnet50"])
    with pytest.raises(BadInputError, match="--weights: 'speed=1' is not throughput=W or latency=W"):
        parse_weights("speed=1")
    with pytest.raises(BadInputError, match=r"^weights: unknown key 'speed'; use throughput and latency$") as err:
        hb.recommend(db, weights={"speed": 1.0})
    assert err.value.renamed({"weights": "--weights"}).startswith("--weights: unknown key")
    with pytest.raises(BadInputError, match=r"^weights: at least one weight must be > 0$"):
        hb.recommend(db, weights={"throughput": 0, "latency": 0})


def test_cli_formats_and_mlflow_record(mirror, tmp_path):
    d, uri, _ = mirror
    db = str(d / "hwbench.duckdb")
    prices = tmp_path / "prices.yaml"
    prices.write_text("cpu: 0.10\nopenvino: 0.10\ncuda: 2.50\n")
    proc = run_cli(["recommend", "--db-path", db, "--prices", str(prices), "--format", "json"], tmp_path, 120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["criterion"] for r in rows if r["model"] == "bert-tiny"} == set(CRITERIA)
    assert "hwbench: warning: bert-tiny best_throughput: a simulated result" in proc.stderr
    run_id = proc.stderr.split("logged to MLflow: run ")[1].split()[0]
    run = MlflowClient(uri).get_run(run_id)  # logged to the store the mirror syncs from
    assert run.data.tags[N.T_ROLE] == "recommend" and run.data.params["prices"] == str(prices)
    logged = json.loads(Path(run.info.artifact_uri.removeprefix("file://"), N.A_RECOMMENDATIONS).read_text())
    assert len(logged["recommendations"]) == len(rows)
    md = run_cli(["recommend", "--db-path", db, "--format", "markdown", "--no-log"], tmp_path, 120)
    assert (
        md.returncode == 0 and "| vit | best_throughput | **SIMULATED** cuda (cuda:0) torch fp16 batch 8 |" in md.stdout
    )
    assert "logged to MLflow" not in md.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("cpu: -1\n")
    proc = run_cli(["recommend", "--db-path", db, "--prices", str(bad)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"hwbench: error: --prices: {bad}: 'cpu' must be a positive number of $/hour, got -1"


@pytest.mark.parametrize(
    ("simulated", "samples", "ci", "estimated", "expected", "contended"),
    [
        (False, 200, 0.01, False, "high", False),
        (False, 29, 0.01, False, "medium", False),  # under 30 samples
        (False, 200, 0.06, False, "medium", False),  # CI over 5 %
        (False, 200, 0.01, True, "medium", False),  # an estimated value
        (False, 9, 0.01, False, "low", False),  # thin
        (False, 200, 0.30, False, "low", False),  # a median known only to ±30 %
        (False, 200, float("nan"), False, "low", False),  # no CI
        (True, 500, 0.01, False, "low", False),  # simulated
        (False, 500, 0.01, False, "low", True),  # measured on a busy host
    ],
)
def test_confidence_rules(simulated, samples, ci, estimated, expected, contended):
    from types import SimpleNamespace

    from hwbench_mlflow.reporting.picking import _confidence

    row = SimpleNamespace(
        is_simulated=simulated, samples=samples, ci_rel=ci, percentile_warning=None, host_contended=contended
    )
    assert _confidence(row, uses_p99=False, estimated=estimated) == expected
