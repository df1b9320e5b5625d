"""Shared helpers for the tests (not a fixture module: import explicitly)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Short measurement windows: tests check correctness, benchmarks/ checks speed.
FAST = ["--max-time", "1.5", "--min-time", "0.3", "--warmup", "3"]
CLI_TIMEOUT_S = 60  # bad input must fail fast; sweeps pass their own timeout


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "HWBENCH_DEBUG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["COLUMNS"] = "160"  # piped output honours COLUMNS (CI sets 80): tests read whole tables unless they say
    env.update(extra)
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """``hwbench ARGS`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "hwbench_mlflow", *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def child_runs(tracking_uri: str, parent_run_id: str | None = None) -> list:
    """Every config run in the store (optionally of one sweep), read back independently."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exps, "tags.`hwbench.role` = 'config'", max_results=1000)
    if parent_run_id:
        runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_run_id]
    return runs


# `python -c SYNC_KILLED_AFTER_RESULTS URI DB`: a sync that dies (SIGKILL: nothing can clean
# up) right after writing the results, before its transaction commits; URI "-" = the
# environment's tracking URI
SYNC_KILLED_AFTER_RESULTS = (
    "import os, signal, sys\n"
    "import hwbench_mlflow.mirror.store as st\n"
    "orig = st.MirrorStore.upsert\n"
    "def upsert(self, *a, **k):\n"
    "    orig(self, *a, **k)\n"
    "    if a[0] == 'performance_results': os.kill(os.getpid(), signal.SIGKILL)\n"
    "st.MirrorStore.upsert = upsert\n"
    "from hwbench_mlflow.mirror.sync import sync\n"
    "sync(None if sys.argv[1] == '-' else sys.argv[1], sys.argv[2])\n"
)


def log_synthetic_config(
    client: Any,
    exp_id: str,
    config: tuple[str, str, str, str],
    batch: int,
    throughput: float,
    *,
    samples: int,
    spread: float,
    seed: int,
    model_name: str | None = None,
) -> str:
    """A FINISHED config run with normal raw samples around ``batch / throughput`` (tests that
    need many configs fast: plots, compare); ``config`` = (model, hardware, backend, device)."""
    import numpy as np
    from mlflow.entities import Metric, Param, RunTag

    from hwbench_mlflow import names as N
    from hwbench_mlflow.measure import Measurement

    model, hw, backend, device = config
    latency = batch * 1000.0 / throughput
    raw = np.random.default_rng(seed).normal(latency, spread * latency, samples)
    m = Measurement(tuple(raw), batch, float(raw.sum()) / 1000.0)
    tags = {N.T_ROLE: "config", N.T_STATUS: "success", N.T_HOST: "h", N.T_SWEEP_ID: "s1", N.T_IS_SIMULATED: "false"}
    run_id = client.create_run(exp_id, tags=tags).info.run_id
    params = {
        "model": model,
        "model_name": model_name or model,
        "hardware": hw,
        "device": device,
        "backend": backend,
        "precision": "fp32",
        "batch_size": batch,
        "mode": "inference",
        "scenario": "latency",
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in {**m.metrics(), N.M_MEMORY_PEAK: 300.0 + batch}.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("mlflow.runName", f"{model}/{hw}/b{batch}")],
    )
    client.log_dict(run_id, {"unit": "ms", "latencies_ms": list(raw)}, N.A_RAW_SAMPLES)
    client.set_terminated(run_id, "FINISHED")
    return run_id
