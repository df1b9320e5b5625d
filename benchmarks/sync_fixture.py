"""A throwaway MLflow store shaped like hwbench's, for timing ``hwbench sync``.

Clearly a fixture, never a user's store: its experiment is ``hwbench-sync-fixture`` and
every run carries the tag ``hwbench.fixture=true``. Runs are written through
MLflow's public client exactly as :class:`hwbench_mlflow.tracking.sweep.SweepTracker` writes
them: a sweep parent run (``hwbench.hw.*`` tags, ``hardware.json``) and one finished
child run per config (contract params, metrics and tags, ``raw_latencies_ms.json``).
Start and end times are spread over the 30 days before the build, as a history would be.

Building is slow (MLflow's ``log_batch`` makes ≈ 75 runs/s here), so callers cache the
store and build it once.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from hwbench_mlflow import names as N

FIXTURE_EXPERIMENT = "hwbench-sync-fixture"
CONFIGS_PER_SWEEP = 50
MODELS = (("bert-tiny", "prajjwal1/bert-tiny"), ("minilm", "sentence-transformers/all-MiniLM-L6-v2"))
BACKENDS = (("cpu", "torch", "cpu"), ("openvino", "openvino", "CPU"), ("cpu", "onnxruntime", "cpu"))
PRECISIONS = ("fp32", "bf16", "int8")
BATCHES = (1, 2, 4, 8, 16, 32)
DAY_MS = 86_400_000


def local_path(artifact_uri: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(artifact_uri).path) if artifact_uri.startswith("file:") else artifact_uri


def config_params(rng: random.Random, i: int) -> dict[str, str]:
    model, model_name = MODELS[i % len(MODELS)]
    hardware, backend, device = BACKENDS[(i // 2) % len(BACKENDS)]
    precision = PRECISIONS[(i // 6) % len(PRECISIONS)]
    batch = BATCHES[(i // 18) % len(BATCHES)]
    params = {
        "model": model,
        "model_name": model_name,
        "model_path": model_name,
        "category": "text",
        "hardware": hardware,
        "hardware_name": "AMD EPYC" if hardware == "cpu" else "OpenVINO 2026.4.1",
        "device": device,
        "backend": backend,
        "precision": precision,
        "batch_size": str(batch),
        "mode": "inference",
        "scenario": "latency",
        "input_shape": f"input_ids=[{batch},128];attention_mask=[{batch},128]",
        "seq_length": "128",
        "warmup": "5",
        "min_iterations": "10",
        "min_time_s": "0.5",
        "max_time_s": "10",
        "target_ci": "0.02",
        "target_percentile": "99.0",
    }
    # the runtime-specific params a real run records (~50 in all, as an OpenVINO run has)
    params.update({f"{backend}_setting_{k}": f"value-{rng.randrange(1000)}" for k in range(28)})
    return params


def config_metrics(rng: random.Random, samples: list[float], batch: int) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    mean = sum(s) / n

    def pct(q: float) -> float:
        return s[min(n - 1, round(q * (n - 1)))]

    return {
        N.M_THROUGHPUT: batch * 1000.0 / mean,
        N.M_LAT_MEAN: mean,
        N.M_LAT_P50: pct(0.5),
        N.M_LAT_P90: pct(0.9),
        N.M_LAT_P95: pct(0.95),
        N.M_LAT_P99: pct(0.99),
        N.M_LAT_MIN: s[0],
        N.M_LAT_MAX: s[-1],
        N.M_LAT_STD: (sum((x - mean) ** 2 for x in s) / n) ** 0.5,
        N.M_MEMORY_PEAK: 300 + 10 * batch + rng.random(),
        N.M_STARTUP: 200 + 100 * rng.random(),
        N.M_FIRST_INFERENCE: 5 + rng.random(),
        N.M_ITERATIONS: float(n),
        N.M_DURATION: sum(s) / 1000.0,
        N.M_CI_LOW: pct(0.48),
        N.M_CI_HIGH: pct(0.52),
        N.M_PAGE_FAULTS: rng.random(),
        N.M_MEMORY_BASELINE: 290 + rng.random(),
    }


def add_sweep(
    client: Any, experiment_id: str, sweep_no: int, n_configs: int, start_ms: int, seed: int = 0
) -> list[str]:
    """One sweep parent + ``n_configs`` finished child runs starting at ``start_ms``; their ids."""
    from mlflow.entities import Metric, Param, RunTag

    rng = random.Random(seed * 1_000_003 + sweep_no)
    sweep_id = f"fixture-{seed}-{sweep_no:05d}"
    common = {
        N.T_SWEEP_ID: sweep_id,
        N.T_HOST: f"fixture-host-{sweep_no % 3}",
        N.T_IS_SIMULATED: "false",
        "hwbench.fixture": "true",
        **{N.T_VERSION_PREFIX + k: v for k, v in (("torch", "2.13.0+cpu"), ("mlflow", "3.17.2"), ("python", "3.11"))},
    }
    parent = client.create_run(experiment_id, start_time=start_ms, run_name=f"sweep-{sweep_id}")
    hw_tags = {N.T_HW_PREFIX + p: "available" for p in ("cpu", "openvino")}
    hw_tags.update({N.T_HW_PREFIX + p: f"unavailable: no {p} on this fixture host" for p in ("cuda", "rocm", "mps")})
    client.log_batch(
        parent.info.run_id,
        params=[Param("sweep_configs", str(n_configs))],
        tags=[RunTag(k, v) for k, v in {**common, N.T_ROLE: "sweep", **hw_tags}.items()],
    )
    hardware = {
        "host": common[N.T_HOST],
        "platforms": [
            {"platform": p, "available": v == "available", "name": p.upper(), "devices": [p], "reason": v}
            for p, v in ((k.removeprefix(N.T_HW_PREFIX), v) for k, v in hw_tags.items())
        ],
    }
    client.log_dict(parent.info.run_id, hardware, N.A_HARDWARE)
    ids, t = [], start_ms
    for i in range(n_configs):
        params = config_params(rng, i)
        batch = int(params["batch_size"])
        base = 0.5 * batch * (1 + (i % 7) / 10)
        samples = [round(base * (1 + abs(rng.gauss(0, 0.05))), 6) for _ in range(rng.randrange(300, 900))]
        duration_ms = int(sum(samples)) + 300
        failed = i % 25 == 24
        tags = {**common, N.MLFLOW_PARENT_RUN_ID: parent.info.run_id, N.T_ROLE: "config"}
        if failed:
            tags.update({N.T_STATUS: "failed", N.T_ERROR_CATEGORY: "oom", N.T_ERROR_MESSAGE: "worker killed"})
            metrics: dict[str, float] = {}
        else:
            tags.update({N.T_STATUS: "success", N.T_WEIGHTS: "random", N.T_STOP_REASON: "converged"})
            tags.update({N.T_CI_MET: "true", N.T_PERCENTILE_METHOD: "linear"})
            metrics = config_metrics(rng, samples, batch)
        run = client.create_run(
            experiment_id, start_time=t, tags=tags, run_name=params["model"] + f"/fixture/{sweep_no}/{i}"
        )
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(k, v, t + duration_ms, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        if not failed:  # what log_dict leaves in a local artifact store, without its per-call get_run
            folder = Path(local_path(run.info.artifact_uri))
            folder.mkdir(parents=True, exist_ok=True)
            payload = {"unit": "ms", "batch_size": batch, "wall_s": duration_ms / 1000, "latencies_ms": samples}
            (folder / N.A_RAW_SAMPLES).write_text(json.dumps(payload, indent=2))
        t += duration_ms
        client.set_terminated(rid, status="FAILED" if failed else "FINISHED", end_time=t)
        ids.append(rid)
    client.set_terminated(parent.info.run_id, status="FINISHED", end_time=t + 10)
    return ids


def build_fixture(
    tracking_uri: str,
    n_runs: int,
    artifact_root: Path,
    seed: int = 0,
    progress: bool = True,
    first_sweep: int = 0,
    configs_per_sweep: int = CONFIGS_PER_SWEEP,
) -> str:
    """Add ``n_runs`` config runs (plus a sweep run per ``configs_per_sweep``) to a store; the experiment id.

    ``artifact_root`` holds the experiment's artifacts (never the caller's cwd).
    """
    import logging

    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(FIXTURE_EXPERIMENT)
    experiment_id = (
        exp.experiment_id
        if exp
        else client.create_experiment(FIXTURE_EXPERIMENT, artifact_location=Path(artifact_root).resolve().as_uri())
    )
    n_sweeps = -(-n_runs // configs_per_sweep)
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    for s in range(n_sweeps):
        n = min(configs_per_sweep, n_runs - s * configs_per_sweep)
        start = now - 30 * DAY_MS + s * (30 * DAY_MS // max(n_sweeps, 1))
        add_sweep(client, experiment_id, first_sweep + s, n, start, seed)
        if progress and (s % 10 == 9 or s == n_sweeps - 1):
            done = s * configs_per_sweep + n
            rate = done / (time.perf_counter() - t0)
            print(f"  fixture: {done}/{n_runs} runs ({rate:.0f} runs/s)", flush=True)
    return experiment_id
