"""Time ``hwbench sync`` against MLflow's own floor, side by side in one run.

On a throwaway fixture store (``benchmarks/sync_fixture.py``: 10,000 config runs shaped
like hwbench's, cached under ``--cache``; never the user's store), it times:

1. **floor**: MLflow's paged ``search_runs`` over every run, nothing else done: what any
   sync through MLflow's public API must pay (also with Python's cyclic GC paused, as the
   sync runs it: most of search_runs' time is GC walking mlflow's heap);
2. **full sync**: ``Syncer.run(full=True)`` into a new DuckDB file (raw samples included);
3. **incremental sync** after adding 100 runs: the sync's own work (in process), and the
   whole ``hwbench sync`` command in a fresh interpreter (imports included);

and prints seconds and ratios against the goals (full ≤ 1.1× floor; incremental ≤ 0.3 s of
sync work, ≤ 2 s for the command). The floor and the full sync alternate over
``--repeat`` rounds so a shared machine's drift hits both.

Usage::

    python benchmarks/sync_bench.py                 # 10,000 runs (first build: minutes, then cached)
    python benchmarks/sync_bench.py --runs 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sync_fixture import FIXTURE_EXPERIMENT, add_sweep, build_fixture  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "hwbench" / "sync-fixture"
NEW_RUNS = 100


def fixture(cache: Path, n_runs: int) -> Path:
    """The cached fixture for ``n_runs`` (built on tmpfs when there is one: sqlite commits are fsync-bound)."""
    target = cache / f"runs-{n_runs}"
    if (target / "done").is_file():
        return target
    build_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    tmp = Path(tempfile.mkdtemp(prefix="hwbench-fixture-", dir=build_root))
    print(f"building the fixture store ({n_runs} runs; cached in {target}) ...", flush=True)
    t = time.perf_counter()
    build_fixture(f"sqlite:///{tmp}/mlflow.db", n_runs, tmp / "artifacts")
    print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tmp, target)
    shutil.rmtree(tmp)
    # the experiment's artifact location names the build folder: point it at the cache
    import sqlite3

    with sqlite3.connect(target / "mlflow.db") as db:
        for table, col in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            db.execute(f"UPDATE {table} SET {col} = replace({col}, ?, ?)", (str(tmp), str(target)))
    (target / "done").write_text("ok\n")
    return target


def floor_seconds(uri: str, gc_off: bool = False) -> tuple[float, int]:
    """MLflow's paged search_runs over every run; ``gc_off`` pauses Python's cyclic GC as the sync does."""
    import gc

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    if gc_off:
        gc.disable()
    try:
        t = time.perf_counter()
        n, token = 0, None
        while True:
            page = client.search_runs(exps, max_results=1000, page_token=token)
            n += len(page)
            token = page.token
            if not token:
                return time.perf_counter() - t, n
    finally:
        gc.enable()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()

    source = fixture(args.cache, args.runs)
    work = Path(tempfile.mkdtemp(prefix="hwbench-sync-bench-"))
    try:
        shutil.copy(source / "mlflow.db", work / "mlflow.db")  # the incremental step adds runs: work on a copy
        uri = f"sqlite:///{work}/mlflow.db"
        from hwbench_mlflow.mirror.sync import Syncer

        floors, floors_gc_off, fulls = [], [], []
        for r in range(args.repeat):
            db = work / f"full-{r}.duckdb"
            floor, n = floor_seconds(uri)
            floor_gc_off, _ = floor_seconds(uri, gc_off=True)
            floors_gc_off.append(floor_gc_off)
            syncer = Syncer(uri, db)
            _ = syncer.reader  # the MLflow client, as the floor's, is made before the clock starts
            t = time.perf_counter()
            report = syncer.run(full=True)
            full = time.perf_counter() - t
            floors.append(floor)
            fulls.append(full)
            print(
                f"round {r + 1}: floor {floor:.2f} s ({n} runs, {n / floor:.0f} runs/s), with GC paused "
                f"{floor_gc_off:.2f} s | full sync {full:.2f} s ({report.rows_written} rows, "
                f"{report.samples_written} samples) | ratio {full / floor:.2f} ({full / floor_gc_off:.2f})",
                flush=True,
            )
        db = work / "full-0.duckdb"

        # incremental: 100 new runs (two sweeps that end now), then the sync's own work in process ...
        from mlflow import MlflowClient

        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(FIXTURE_EXPERIMENT).experiment_id
        now = int(time.time() * 1000)
        for s in range(NEW_RUNS // 50):
            add_sweep(client, exp, 90_000 + s, 50, now - 120_000 + s * 1000, seed=7)
        syncer = Syncer(uri, db)
        _ = syncer.reader
        t = time.perf_counter()
        inc = syncer.run()
        inc_work = time.perf_counter() - t
        # MLflow's own time to return just those 100 runs: the floor of any incremental sync
        t = time.perf_counter()
        new = client.search_runs([exp], f"attributes.start_time >= {now - 120_000}", max_results=1000)
        inc_floor = time.perf_counter() - t
        # ... and the whole command in a fresh interpreter after 100 more
        for s in range(NEW_RUNS // 50):
            add_sweep(client, exp, 91_000 + s, 50, now - 60_000 + s * 1000, seed=8)
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "hwbench_mlflow", "sync", "--tracking-uri", uri, "--db-path", str(db)],
            capture_output=True,
            text=True,
        )
        inc_cmd = time.perf_counter() - t
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1

        floor, full = statistics.median(floors), statistics.median(fulls)
        print()
        print(f"fixture: {args.runs} config runs + sweeps, {source}")
        ratio = full / floor
        print(
            f"full sync         {full:7.2f} s   floor (search_runs) {floor:7.2f} s   ratio {ratio:.2f}  (goal <= 1.10)"
        )
        gc_floor = statistics.median(floors_gc_off)
        print(f"  floor with Python's GC paused, as the sync runs it: {gc_floor:.2f} s, ratio {full / gc_floor:.2f}")
        work_note = f"({inc.runs_read} runs read, {inc.rows_written} rows)"
        print(f"incremental work  {inc_work:7.2f} s   {work_note}  (goal <= 0.30)")
        print(f"  floor: search_runs of the {len(new)} new runs alone {inc_floor:.2f} s")
        print(f"incremental cmd   {inc_cmd:7.2f} s   (`hwbench sync`, fresh interpreter)  (goal <= 2.00)")
        print(f"  {proc.stdout.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
