"""The server path's measured limits: runs/s logged into an `mlflow server` (basic auth) on
PostgreSQL by several clients at once, and `hwbench sync` time from that server.

Each logged run goes through hwbench's own writer (``SweepTracker.log_config``), with the
payload of a real config run: the contract's params, metrics and tags, and a raw-samples
artifact of ``--samples`` latencies through the server's artifact proxy. The samples are
a synthetic load, not a measurement of any model; the server and its database are thrown
away at the end.

    python benchmarks/server_limits.py --runs 10000 --clients 4

Prints: runs/s logged (all clients together), full sync seconds for all runs, and an
incremental sync with nothing new.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._servers import MlflowServer, Postgres  # noqa: E402


def _log_runs(uri: str, env: dict[str, str], client: int, n: int, samples: int) -> float:
    import os

    os.environ.update(env)
    import numpy as np

    from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
    from hwbench_mlflow.hardware import detect_hardware
    from hwbench_mlflow.results import build_result
    from hwbench_mlflow.tracking.sweep import SweepTracker
    from hwbench_mlflow.worker import WorkerOutcome

    report = detect_hardware()
    settings = MeasureSettings()
    rng = np.random.default_rng(client)
    tracker = SweepTracker(uri, "server-limits", f"client-{client}")
    tracker.start(report, {"sweep_configs": n})
    t0 = time.perf_counter()
    results = []
    for i in range(n):
        config = BenchmarkConfig("bert-tiny", "cpu", "torch", "cpu", "fp32", 1 + i % 64, seq_length=128 + i // 64)
        lat = (5.0 + rng.gamma(2.0, 0.2, samples)).tolist()
        outcome = WorkerOutcome("success", samples_ms=lat, wall_s=sum(lat) / 1000, stop_reason="max_time")
        outcome.observed = {"memory_peak_mb": 300.0, "startup_ms": 120.0, "first_inference_ms": 8.0}
        result = build_result(config, outcome, report, settings)
        result.run_id = tracker.log_config(result, time.time())
        results.append(result)
    elapsed = time.perf_counter() - t0
    tracker.finish(results, "server_limits load")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000, help="child runs in all (default 2000)")
    ap.add_argument("--clients", type=int, default=4, help="processes logging at once (default 4)")
    ap.add_argument("--samples", type=int, default=200, help="latencies per run's raw-samples artifact")
    ap.add_argument("--server-workers", type=int, default=1, help="uvicorn workers of the server (default 1)")
    args = ap.parse_args()

    pg = Postgres().start()
    work = Path(tempfile.mkdtemp(prefix="hwbench-limits-"))
    server = MlflowServer(pg.create_database("mlflow"), work / "server", workers=args.server_workers)
    try:
        t = time.perf_counter()
        server.start()
        print(
            f"mlflow server (basic auth, {args.server_workers} worker(s)) on PostgreSQL started in "
            f"{time.perf_counter() - t:.1f} s"
        )
        env = server.client_env()
        per = [args.runs // args.clients + (i < args.runs % args.clients) for i in range(args.clients)]
        t = time.perf_counter()
        with mp.get_context("spawn").Pool(args.clients) as pool:
            spent = pool.starmap(_log_runs, [(server.url, env, i, n, args.samples) for i, n in enumerate(per)])
        wall = time.perf_counter() - t
        logged = sum(per)
        rates = ", ".join(f"{n / s:.1f}" for n, s in zip(per, spent, strict=True))
        print(
            f"LOGGED {logged} runs from {args.clients} clients in {wall:.1f} s wall: "
            f"{logged / wall:.1f} runs/s together; per client {rates} runs/s"
        )

        import os

        os.environ.update(env)
        from hwbench_mlflow.mirror.sync import Syncer

        db = work / "limits.duckdb"
        syncer = Syncer(server.url, str(db))
        t = time.perf_counter()
        full = syncer.run(full=True)
        print(f"SYNC full: {full.line()} ({time.perf_counter() - t:.1f} s wall)")
        t = time.perf_counter()
        again = syncer.run(full=False)
        print(f"SYNC incremental, nothing new: {again.line()} ({time.perf_counter() - t:.1f} s wall)")
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        rows, samples = con.execute(
            "SELECT count(*), (SELECT count(*) FROM latency_samples) FROM performance_results"
        ).fetchone()
        print(f"MIRROR {rows} results, {samples} latency samples")
        return 0 if rows == logged else 1
    finally:
        server.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
