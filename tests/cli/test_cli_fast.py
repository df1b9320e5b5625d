"""Fast CLI checks: help, lazy imports, the catalog listing and hardware detection (no sweep)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._util import REPO

CATALOG_KEYS = ("bert", "bert-tiny", "minilm", "t5", "gpt2", "smollm2", "vit", "resnet", "whisper", "clip")
PLATFORMS = ("cpu", "cuda", "rocm", "mps", "openvino", "qnn", "webnn", "webgpu")
HEAVY = ("torch", "mlflow", "transformers")


def test_help_lists_commands(hwbench, tmp_path: Path) -> None:
    proc = hwbench("--help")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    commands = proc.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"run", "hardware", "models", "ui"} <= listed, proc.stdout
    assert os.listdir(tmp_path) == []


def test_run_help(hwbench, tmp_path: Path) -> None:
    proc = hwbench("run", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--model", "--hardware", "--batch-sizes", "--precision", "--tracking-uri", "--output"):
        assert option in proc.stdout
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]], ids=["help", "run-help"])
def test_help_imports_no_heavy_modules(argv: list[str], clean_env: dict[str, str], tmp_path: Path) -> None:
    code = (
        "import sys; from hwbench_mlflow.cli.app import cli; from click.testing import CliRunner; "
        f"r = CliRunner().invoke(cli, {argv!r}); assert r.exit_code == 0, r.output; "
        f"bad = [m for m in {HEAVY!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"heavy modules imported: stdout={proc.stdout!r} stderr={proc.stderr!r}"
    assert proc.stdout.strip() == "[]"


def test_models_lists_the_catalog(hwbench, tmp_path: Path) -> None:
    proc = hwbench("models")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells and cells[0].rstrip(" *") in CATALOG_KEYS:
            rows[cells[0].rstrip(" *")] = line
    assert set(rows) == set(CATALOG_KEYS), out
    for hf_id in ("prajjwal1/bert-tiny", "sentence-transformers/all-MiniLM-L6-v2"):
        assert hf_id in out
    assert "sentence-transformers/all-MiniLM-L6-v2" in rows["minilm"]
    assert "pretrained" in rows["minilm"], rows["minilm"]
    assert "prajjwal1/bert-tiny" in rows["bert-tiny"]
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def hardware_json(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cwd = tmp_path_factory.mktemp("hardware")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HWBENCH_DEBUG")}
    proc = subprocess.run(
        [sys.executable, "-m", "hwbench_mlflow", "hardware", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(cwd) == []
    return json.loads(proc.stdout)


def test_hardware_json_platforms(hardware_json: dict) -> None:
    platforms = [p["platform"] for p in hardware_json["platforms"]]
    assert sorted(platforms) == sorted(PLATFORMS)
    assert len(platforms) == len(set(platforms))
    for p in hardware_json["platforms"]:
        if not p["available"]:
            assert isinstance(p["reason"], str) and p["reason"].strip(), p


def test_hardware_json_cpu(hardware_json: dict) -> None:
    import psutil

    cpu = next(p for p in hardware_json["platforms"] if p["platform"] == "cpu")
    assert cpu["available"] is True
    assert cpu["details"]["logical_cores"] == os.cpu_count()
    total_mb = psutil.virtual_memory().total / 2**20
    assert abs(cpu["details"]["memory_total_mb"] - total_mb) <= 0.02 * total_mb, (cpu["details"], total_mb)


def test_hardware_json_cuda_matches_torch(hardware_json: dict) -> None:
    import torch

    cuda = next(p for p in hardware_json["platforms"] if p["platform"] == "cuda")
    if torch.cuda.is_available() and torch.version.hip is None:
        assert cuda["available"] is True, cuda
        assert len(cuda["devices"]) == torch.cuda.device_count(), cuda
    if not torch.cuda.is_available():
        assert cuda["available"] is False, cuda
        assert cuda["reason"].strip(), cuda


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_output_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    from hwbench_mlflow.cli.options import check_output_path, write_output

    frame = pd.DataFrame({"run_id": ["a", "b"], "latency_p50_ms": [1.5, 2.25], "batch_size": [1, 8]})
    path = check_output_path(str(tmp_path / f"results{suffix}"))
    write_output(frame, path)
    back = {".csv": pd.read_csv, ".json": pd.read_json, ".parquet": pd.read_parquet}[suffix](path)
    assert back.to_dict("records") == frame.to_dict("records")
    assert [p.name for p in tmp_path.iterdir()] == [f"results{suffix}"]  # no temp file left behind


def test_ui_on_a_busy_port_is_exit_2_before_any_url(tmp_path: Path) -> None:
    import socket

    from tests._util import run_cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli(
            ["ui", "--port", str(port), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"], tmp_path, timeout=60
        )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        proc.stderr == f"hwbench: error: --port {port}: 127.0.0.1:{port} is already in use (Address already in use)\n"
    )


def test_ui_opens_the_experiment_of_the_newest_sweep(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from hwbench_mlflow import names as N
    from tests._util import run_cli

    uri = f"sqlite:///{tmp_path}/m.db"
    client = MlflowClient(uri)
    named = client.create_experiment(N.DEFAULT_EXPERIMENT)
    client.create_run(named, tags={N.T_ROLE: "sweep"})
    client.create_run("0", tags={N.T_ROLE: "sweep"})  # newer: `mlflow run` without --experiment-name
    client.create_run(named, tags={N.T_ROLE: "report"})  # a reading command's record is not a sweep
    proc = run_cli(["ui", "--print-url", "--tracking-uri", uri], tmp_path, timeout=60)
    view = "&viewStateShareKey=hwbench"  # hwbench's saved view of the runs table (columns)
    assert proc.stdout == f"http://127.0.0.1:5000/#/experiments/0/runs?workflowType=machine_learning{view}\n"
    proc = run_cli(["ui", "--print-url", "--tracking-uri", uri, "--experiment", "hwbench"], tmp_path, timeout=60)
    assert proc.stdout == f"http://127.0.0.1:5000/#/experiments/{named}/runs?workflowType=machine_learning{view}\n"


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a system python without hwbench's packages")
def test_repo_shim_hands_a_bare_python_over_to_the_venv() -> None:
    """`mlflow run` outside an activated venv runs MLproject's `python cli.py` with the system python."""
    bare = subprocess.run(["/usr/bin/python3", "-c", "import rich"], capture_output=True)
    if bare.returncode == 0:
        pytest.skip("/usr/bin/python3 has rich: nothing to hand over")
    proc = subprocess.run(
        ["/usr/bin/python3", "cli.py", "models"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bert-tiny" in proc.stdout


def test_help_says_what_every_option_takes() -> None:
    from click.testing import CliRunner

    from hwbench_mlflow.cli.app import cli

    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"], terminal_width=100)
        assert result.exit_code == 0, (name, result.output)
        assert "TEXT" not in result.output, (name, result.output)
    run_help = CliRunner().invoke(cli, ["run", "--help"], terminal_width=100).output
    assert "--batch-sizes N[,N…]" in run_help and "--max-time SECONDS" in run_help
