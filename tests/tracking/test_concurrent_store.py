"""Two sweeps started at once on a store that does not exist yet: both land."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests._util import child_runs, clean_env


def test_two_runs_at_once_on_a_new_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = [sys.executable, "-m", "hwbench_mlflow", "run", "--model", "bert-tiny", "--hardware", "cpu"]
    argv += ["--batch-sizes", "1", "--precision", "fp32", "--max-time", "0.3", "--min-time", "0.1"]
    argv += ["--tracking-uri", uri, "--no-db"]
    procs = [
        subprocess.Popen(argv, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    runs = child_runs(uri)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["hwbench.sweep_id"] for r in runs}) == 2
