"""docs/kubernetes: the project copy and Job template that `mlflow run -b kubernetes` uses,
read with MLflow's own loaders (no cluster here: what runs on one is the same entry points)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "kubernetes"))

from make_project import make_project  # noqa: E402


def test_kubernetes_project_has_the_same_entry_points_in_a_docker_env(tmp_path, monkeypatch):
    from mlflow.projects import _parse_kubernetes_config
    from mlflow.projects._project_spec import load_project
    from mlflow.projects.kubernetes import _get_kubernetes_job_definition, _get_run_command

    ours = load_project(str(ROOT))
    k8s = load_project(str(make_project(tmp_path / "k8s", "registry.example.com/hwbench/base:1")))
    assert k8s.env_type == "docker_env" and k8s.docker_env["image"] == "registry.example.com/hwbench/base:1"
    assert ours.env_type == "conda_env"
    assert set(k8s._entry_points) == set(ours._entry_points) >= {"main", "benchmark", "sync", "search", "recommend"}
    params = {"model": "bert", "batch_sizes": "1,8,32"}
    for name, entry in ours._entry_points.items():
        theirs = k8s._entry_points[name]
        assert theirs.command == entry.command
        assert {p: v.default for p, v in theirs.parameters.items()} == {
            p: v.default for p, v in entry.parameters.items()
        }
    command = k8s.get_entry_point("benchmark").compute_command(params, str(tmp_path))
    assert command.startswith("python cli.py run --model bert --hardware cpu --batch-sizes 1,8,32")

    config = json.loads((ROOT / "docs/kubernetes/kubernetes_config.json").read_text())
    monkeypatch.chdir(ROOT)  # the template path in the config is relative to the project
    kube = _parse_kubernetes_config(config)
    monkeypatch.setenv("KUBE_MLFLOW_TRACKING_URI", "http://mlflow.hwbench.svc:5000")
    job = _get_kubernetes_job_definition(
        "hwbench_mlflow",
        "registry.example.com/hwbench/hwbench-mlflow:abc",
        "sha256:0",
        _get_run_command([command]),
        {"MLFLOW_RUN_ID": "r1", "MLFLOW_EXPERIMENT_ID": "1"},
        kube["kube-job-template"],
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["python", "cli.py", "run", "--model"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.hwbench.svc:5000" and env["MLFLOW_RUN_ID"] == "r1"
    assert env["HWBENCH_OUTBOX"] == "/outbox"
    assert container["envFrom"][0]["secretRef"]["name"] == "hwbench-mlflow-credentials"
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS: whole cores while measuring
    assert job["spec"]["backoffLimit"] == 0
    assert yaml.safe_dump(job)  # still a plain YAML document
