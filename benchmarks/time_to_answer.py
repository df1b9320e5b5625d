"""Time to the first answer: one config from the command line to a valid result, ours vs optimum-benchmark.

Ours: ``hwbench run --model bert-tiny --hardware cpu --batch-sizes 1 --no-db`` on a new
MLflow store (the first thing a user runs), and the per-config cost of a sweep (a
5-config sweep's wall time minus the 1-config run's, per extra config). Theirs:
optimum-benchmark's inline and process launchers on the same model folder (saved with
``save_pretrained``, so it never asks the hub), when ``--optimum-python`` names a Python
that has it (install it in its own venv: ``pip install torch==2.13.0`` first, then
``optimum-benchmark==0.6.0 "transformers<5" "datasets>=4,<5"``). Runs alternate; the
medians and the ratios are printed side by side.

Usage::

    python benchmarks/time_to_answer.py --repeat 3
    python benchmarks/time_to_answer.py --repeat 3 --optimum-python ~/ob-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OURS_ONE = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1", "--no-db"]
OURS_SWEEP = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1,2,4,8,16", "--no-db"]

OPTIMUM_SCRIPT = """
import sys
from optimum_benchmark import Benchmark, BenchmarkConfig, InferenceConfig, PyTorchConfig
from optimum_benchmark import InlineConfig, ProcessConfig

if __name__ == "__main__":  # the process launcher spawns
    launcher = InlineConfig() if sys.argv[2] == "inline" else ProcessConfig()
    backend = PyTorchConfig(model=sys.argv[1], device="cpu", no_weights=False, task="feature-extraction",
                            library="transformers", model_type="bert")
    scenario = InferenceConfig(latency=True, memory=True, input_shapes={"batch_size": 1, "sequence_length": 128})
    Benchmark.launch(BenchmarkConfig(name="tta", launcher=launcher, scenario=scenario, backend=backend))
    print("OPTIMUM_OK")
"""


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    tail = (proc.stderr.strip().splitlines() or [""])[-1]
    return time.perf_counter() - t0, proc.returncode, tail


WINDOWS: dict[str, list[float]] = {}  # ours: the timed windows' seconds (duration_s), per step


def _windows_s(store: Path) -> float:
    """The sum of the runs' timed windows (metric duration_s) in an MLflow SQLite store."""
    with sqlite3.connect(store) as con:
        (total,) = con.execute("SELECT COALESCE(SUM(value), 0) FROM latest_metrics WHERE key = 'duration_s'").fetchone()
    return float(total)


def ours(args: list[str], work: Path) -> float:
    store = work / "mlflow.db"
    store.unlink(missing_ok=True)  # a new store, as on a first run
    env = {**os.environ, "COLUMNS": "160"}
    wall, rc, tail = _timed([sys.executable, "-m", "hwbench_mlflow", *args, "--tracking-uri", f"sqlite:///{store}"],
                            work, env)  # fmt: skip
    if rc != 0:
        raise SystemExit(f"hwbench failed ({rc}): {tail}")
    WINDOWS.setdefault(" ".join(args), []).append(_windows_s(store))
    return wall


def model_folder(work: Path) -> Path:
    """bert-tiny as a local folder (random weights, the catalog's architecture)."""
    from transformers import AutoConfig, AutoModel

    from hwbench_mlflow.catalog import resolve_model

    spec = resolve_model("bert-tiny")
    folder = work / "bert-tiny"
    if not folder.exists():
        AutoModel.from_config(AutoConfig.for_model(spec.model_type, **spec.config_kwargs())).save_pretrained(folder)
    return folder


FAILURES: list[str] = []  # optimum-benchmark runs that gave no answer, said at the end


def theirs(python: str, launcher: str, folder: Path, work: Path) -> float | None:
    """optimum-benchmark's wall time to its answer; None (and a line in FAILURES) when it gave
    none: its memory tracker sometimes fails ("Could not get memory tracking results")."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    script = work / "optimum_one_config.py"
    script.write_text(OPTIMUM_SCRIPT)
    wall, rc, tail = _timed([python, str(script), str(folder), launcher], work, env)
    if rc != 0:
        FAILURES.append(f"optimum-benchmark {launcher} failed after {wall:.1f} s (exit {rc}): {tail}")
        return None
    return wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--optimum-python", help="a Python with optimum-benchmark 0.6 installed")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hwbench-tta-"))
    try:
        walls: dict[str, list[float]] = {"ours: one config": [], "ours: 5-config sweep": []}
        if args.optimum_python:
            walls |= {"optimum-benchmark inline": [], "optimum-benchmark process": []}
            folder = model_folder(work)
        for rep in range(args.repeat):
            steps = [
                ("ours: one config", lambda: ours(OURS_ONE, work)),
                ("ours: 5-config sweep", lambda: ours(OURS_SWEEP, work)),
            ]
            if args.optimum_python:
                steps += [
                    ("optimum-benchmark inline", lambda: theirs(args.optimum_python, "inline", folder, work)),
                    ("optimum-benchmark process", lambda: theirs(args.optimum_python, "process", folder, work)),
                ]
            for name, step in steps if rep % 2 == 0 else steps[::-1]:
                wall = step()
                if wall is None:
                    print(f"  rep {rep + 1}: {name}: no answer ({FAILURES[-1]})", flush=True)
                    continue
                walls[name].append(wall)
                print(f"  rep {rep + 1}: {name}: {wall:.1f} s", flush=True)
        med = {k: statistics.median(v) for k, v in walls.items() if v}
        per_config = (med["ours: 5-config sweep"] - med["ours: one config"]) / 4
        print(f"ours: one config {med['ours: one config']:.1f} s; each further config {per_config:.1f} s")
        win_one = statistics.median(WINDOWS[" ".join(OURS_ONE)])
        win_sweep = statistics.median(WINDOWS[" ".join(OURS_SWEEP)])
        outside = (med["ours: 5-config sweep"] - win_sweep - (med["ours: one config"] - win_one)) / 4
        print(
            f"  of which timed windows (the stop rule: CI of the median, LoadGen's 662 samples for the p99): "
            f"one config {win_one:.1f} s, 5-config sweep {win_sweep:.1f} s; "
            f"each further config outside its window {outside:.2f} s"
        )
        for line in FAILURES:
            print(f"not counted: {line}")
        if args.optimum_python and "optimum-benchmark inline" not in med:
            print("optimum-benchmark inline gave no answer in any repetition: no ratio")
        elif args.optimum_python:
            inline = med["optimum-benchmark inline"]
            process = med.get("optimum-benchmark process")
            said = f"{process:.1f} s" if process else "no answer"
            print(f"optimum-benchmark: inline {inline:.1f} s, process {said}")
            print(
                f"RATIO one config ours / optimum inline = {med['ours: one config'] / inline:.2f} (goal <= 0.5); "
                f"per config ours / optimum inline = {per_config / inline:.2f} (goal <= 0.2); "
                f"outside the window {outside / inline:.2f}"
            )
        else:
            print("optimum-benchmark not measured: pass --optimum-python (see the module docstring)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
