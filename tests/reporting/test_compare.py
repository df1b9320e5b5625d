"""hwbench analyze / compare on a mirror with two platforms and four batch sizes whose raw
samples are known: numbers that match DuckDB, the saturation point, the winner per metric,
and regression verdicts that need size and significance (exit 1 only for a regression)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import hwbench_mlflow as hb
from hwbench_mlflow import names as N
from hwbench_mlflow.measure import quantile_ci
from tests._util import log_synthetic_config, run_cli

# throughput (samples/s) by platform and batch: cpu saturates at batch 4 (>= 95 % of its best)
CURVES = {
    ("cpu", "torch", "cpu"): {1: 100.0, 2: 180.0, 4: 300.0, 8: 310.0},
    ("openvino", "openvino", "CPU"): {1: 150.0, 2: 280.0, 4: 420.0, 8: 600.0},
}
N_SAMPLES = 200


def log_config(client: MlflowClient, exp_id: str, hw: str, backend: str, device: str, batch: int, thr: float) -> str:
    config = ("bert-tiny", hw, backend, device)
    return log_synthetic_config(
        client, exp_id, config, batch, thr, samples=N_SAMPLES, spread=0.03, seed=batch * 7 + len(hw),
        model_name="prajjwal1/bert-tiny",
    )  # fmt: skip


def build_mirror(d, extra=()) -> str:
    """CURVES (with raw samples) plus ``extra`` rows of tests.test_recommend.ROWS, synced; the URI."""
    from tests.reporting.test_recommend import log_result

    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("hwbench", artifact_location=(d / "artifacts").as_uri())
    for (hw, backend, device), curve in CURVES.items():
        for batch, thr in curve.items():
            log_config(client, exp_id, hw, backend, device, batch, thr)
    for row in extra:
        log_result(client, exp_id, row)
    report = hb.sync(uri, d / "hwbench.duckdb")
    assert report.samples_written == 8 * N_SAMPLES
    return uri


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    build_mirror(d)
    return d


def test_analyze_writes_what_duckdb_holds_with_speedups_and_ci(mirror):
    d = mirror
    proc = run_cli(["analyze", "--db-path", str(d / "hwbench.duckdb"), "--output", "a.csv"], d, 120)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(d / "a.csv").sort_values(["hardware", "batch_size"]).reset_index(drop=True)
    run_id = proc.stderr.split("logged to MLflow: run ")[1].split()[0]  # written back to MLflow too
    client = MlflowClient(f"sqlite:///{d}/mlflow.db")
    assert client.get_run(run_id).data.tags[N.T_ROLE] == "report"
    assert {a.path for a in client.list_artifacts(run_id)} == {"analysis.csv", "analysis.md"}
    truth = hb.sql(
        "SELECT hardware, batch_size, throughput_samples_per_s, latency_p50_ms, latency_p99_ms, mlflow_run_id"
        " FROM latest_results ORDER BY hardware, batch_size",
        d / "hwbench.duckdb",
    )
    assert len(table) == 8
    for col in ("throughput_samples_per_s", "latency_p50_ms", "latency_p99_ms"):
        assert np.allclose(table[col], truth[col], rtol=1e-12)
    assert list(table["mlflow_run_id"]) == list(truth["mlflow_run_id"])
    ov = table[table["hardware"] == "openvino"].set_index("batch_size")
    cpu = table[table["hardware"] == "cpu"].set_index("batch_size")
    assert np.allclose(ov["speedup_throughput"], ov["throughput_samples_per_s"] / cpu["throughput_samples_per_s"])
    assert (cpu["speedup_throughput"] == 1.0).all()
    # the CIs come from the raw samples in DuckDB: order statistics, as measure.quantile_ci computes them
    samples = np.sort(
        hb.sql(
            f"SELECT latency_ms FROM latency_samples WHERE mlflow_run_id = '{cpu.loc[4, 'mlflow_run_id']}'",
            d / "hwbench.duckdb",
        ).latency_ms.to_numpy()
    )
    assert (cpu.loc[4, "latency_p50_ci_low_ms"], cpu.loc[4, "latency_p50_ci_high_ms"]) == quantile_ci(samples, 0.5)
    assert cpu.loc[4, "latency_p99_ci_low_ms"] == quantile_ci(samples, 0.99)[0]
    assert (table["latency_p50_ci_low_ms"] <= table["latency_p50_ms"]).all()
    assert (table["latency_p50_ms"] <= table["latency_p50_ci_high_ms"]).all()


def test_batch_scaling_finds_the_saturation_point(mirror):
    from hwbench_mlflow.reporting.comparative import batch_scaling

    scaling = batch_scaling(mirror / "hwbench.duckdb")
    cpu = scaling[scaling["hardware"] == "cpu"].set_index("batch_size")
    ov = scaling[scaling["hardware"] == "openvino"].set_index("batch_size")
    assert int(cpu["saturates_at"].iloc[0]) == 4 and int(ov["saturates_at"].iloc[0]) == 8
    t1 = cpu.loc[1, "throughput_samples_per_s"]
    assert cpu.loc[2, "scaling_efficiency"] == pytest.approx(cpu.loc[2, "throughput_samples_per_s"] / (2 * t1))
    assert cpu.loc[8, "speedup_vs_batch1"] == pytest.approx(cpu.loc[8, "throughput_samples_per_s"] / t1)
    assert 0.85 < cpu.loc[2, "scaling_efficiency"] < 0.95  # 180 / (2 · 100), measured with noise
    proc = run_cli(
        ["compare", "--batch-scaling", "--db-path", str(mirror / "hwbench.duckdb"), "--format", "json", "--no-log"],
        mirror,
    )
    assert proc.returncode == 0 and {r["saturates_at"] for r in json.loads(proc.stdout)} == {4, 8}


def test_cross_platform_names_the_winner_and_its_significance(mirror):
    from hwbench_mlflow.reporting.comparative import cross_platform

    frame = cross_platform(mirror / "hwbench.duckdb")
    assert set(frame["winner_throughput"]) == {"openvino/openvino/fp32@CPU"}
    assert set(frame["winner_p50"]) == {"openvino/openvino/fp32@CPU"}
    assert set(frame["winner_memory"]) <= {"cpu/torch/fp32@cpu", "openvino/openvino/fp32@CPU"}
    assert frame["winner_significant"].all() and (frame["test"] == "mann-whitney").all()
    assert (frame["winner_p_value"] < 1e-10).all()  # 200 samples each, ≥ 1.5× apart


@pytest.fixture(scope="module")
def baseline_csv(mirror):
    """The baseline as a user writes it: `hwbench analyze --output` (once for every case)."""
    proc = run_cli(["analyze", "--db-path", str(mirror / "hwbench.duckdb"), "--output", "base.csv", "--no-log"], mirror)
    assert proc.returncode == 0, proc.stderr
    return mirror / "base.csv"


@pytest.mark.parametrize(
    ("scale", "verdicts", "code"),
    [
        (1.00, {"no change"}, 0),  # the same sweep: same samples
        (1.02, {"no change"}, 0),  # 2 % is under the 10 % alert
        (1.25, {"regression"}, 1),  # the baseline was 25 % faster: regression, significant
        (0.75, {"improvement"}, 0),
    ],
)
def test_regression_alert_needs_size_and_significance(mirror, baseline_csv, scale, verdicts, code):
    d = mirror
    db = str(d / "hwbench.duckdb")
    frame = pd.read_csv(baseline_csv)
    if scale != 1.0:
        frame["throughput_samples_per_s"] *= scale
        for col in ("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms"):
            frame[col] /= scale
    frame.to_csv(d / f"base-{scale}.csv", index=False)
    proc = run_cli(
        [
            "compare",
            "--db-path",
            db,
            "--compare-to",
            f"base-{scale}.csv",
            "--regression-alert",
            "0.1",
            "--format",
            "json",
        ],
        d,
        120,
    )
    assert proc.returncode == code, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 8 and {r["verdict"] for r in rows} == verdicts
    for r in rows:
        assert r["delta_pct"] == pytest.approx((1 / scale - 1) * 100)
    if scale == 1.0:
        assert {r["test"] for r in rows} == {"mann-whitney"}  # the baseline's runs are in the mirror
    else:
        assert {r["test"] for r in rows} == {"ci"}  # edited numbers: only the file's own CIs count
    if code:
        assert proc.stderr.strip().splitlines()[-1] == (
            "hwbench: regression in 8 configuration(s) (> 10% and significant)"
        )
        assert "logged to MLflow: run " in proc.stderr  # the verdicts are in MLflow as compare-regression.csv


def test_a_wide_ci_is_inconclusive_not_an_alert(mirror):
    from hwbench_mlflow.reporting.comparative import compare_to_baseline

    base = hb.analyze(mirror / "hwbench.duckdb")
    base["throughput_samples_per_s"] *= 1.25
    base["latency_p50_ms"] /= 1.25
    base["latency_p50_ci_low_ms"] = base["latency_p50_ms"] * 0.2  # a baseline measured far too briefly
    base["latency_p50_ci_high_ms"] = base["latency_p50_ms"] * 5.0
    verdicts = compare_to_baseline(mirror / "hwbench.duckdb", base, threshold=0.1)
    assert set(verdicts["verdict"]) == {"inconclusive"}


def test_baseline_sweep_and_bad_input(mirror):
    db = str(mirror / "hwbench.duckdb")
    proc = run_cli(["compare", "--db-path", db, "--baseline-sweep", "s1", "--format", "markdown", "--no-log"], mirror)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("| no change |") == 8
    cases = [
        (
            ["compare", "--db-path", db],
            "hwbench: error: choose one of --cross-platform, --batch-scaling, --compare-to FILE / --baseline-sweep ID",
        ),
        (
            ["compare", "--db-path", db, "--compare-to", "nope.csv"],
            "hwbench: error: --compare-to: no such file: nope.csv",
        ),
        (
            ["compare", "--db-path", db, "--baseline-sweep", "zzz"],
            f"hwbench: error: --baseline-sweep: no successful results of sweep 'zzz' in {db}",
        ),
        (
            ["analyze", "--db-path", db, "--baseline", "cpu"],
            "hwbench: error: --baseline must be hardware/backend/precision (example: cpu/torch/fp32), got 'cpu'",
        ),
    ]
    for args, message in cases:
        proc = run_cli(args, mirror)
        assert proc.returncode == 2 and proc.stderr.strip() == message, (args, proc.stderr)


def _files(d) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # was a `regression` with p = 0 and exit 1
            lambda f: f.assign(throughput_samples_per_s=[float("inf")] * 8),
            "throughput_samples_per_s must be a finite number > 0, got inf in row 1, inf in row 2, inf in row 3"
            " and 5 more",
        ),
        (  # was an `improvement` of inf
            lambda f: f.assign(throughput_samples_per_s=0.0, latency_p50_ms=0.0),
            "throughput_samples_per_s must be a finite number > 0, got 0 in row 1, 0 in row 2, 0 in row 3 and 5 more",
        ),
        (  # was `inconclusive`
            lambda f: f.assign(latency_p50_ms=[float("nan")] + [1.0] * 7),
            "latency_p50_ms must be a finite number > 0, got NaN in row 1",
        ),
        (  # was a raw TypeError
            lambda f: f.assign(latency_p50_ms=["fast"] + [1.0] * 7),
            "latency_p50_ms must be a finite number > 0, got 'fast' in row 1",
        ),
        (  # was compared twice
            lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
            "the same configuration on several rows: rows 1 and 9 (bert-tiny cpu/torch/fp32 batch 1"
            " inference/latency); keep one row of each",
        ),
    ],
    ids=["inf", "all-zero", "nan", "string", "duplicated"],
)
def test_a_baseline_that_cannot_be_compared_is_refused_naming_its_rows(mirror, baseline_csv, edit, message):
    d = mirror
    frame = edit(pd.read_csv(baseline_csv).sort_values(["hardware", "batch_size"], ignore_index=True))
    frame.to_csv(d / "bad-base.csv", index=False)
    before = _files(d)
    proc = run_cli(["compare", "--db-path", str(d / "hwbench.duckdb"), "--compare-to", "bad-base.csv"], d, 120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (
        2,
        f"hwbench: error: --compare-to: bad-base.csv: {message}\n",
        "",
    )
    assert _files(d) == before  # nothing logged to MLflow, nothing written
    (d / "bad-base.csv").unlink()
    # the same frame handed to the API is refused the same way
    from hwbench_mlflow.errors import BadInputError
    from hwbench_mlflow.reporting.comparative import compare_to_baseline

    with pytest.raises(BadInputError) as err:
        compare_to_baseline(d / "hwbench.duckdb", frame)
    assert str(err.value) == f"baseline: {message}"
