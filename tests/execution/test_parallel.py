"""--max-workers: configs run at once on disjoint cores, and every run says so."""

from __future__ import annotations

import os

import pytest

from hwbench_mlflow import names as N
from tests._util import child_runs, run_cli


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_two_workers_run_at_once_on_disjoint_cores(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1,2", "--max-workers", "2"]
    args += ["--warmup", "1", "--min-time", "1", "--max-time", "1", "--tracking-uri", uri, "--no-db"]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hwbench: warning: --max-workers 2 runs 2 configs at once on disjoint cores" in proc.stderr
    runs = sorted(child_runs(uri), key=lambda r: int(r.data.params["batch_size"]))
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    cores = [r.data.params["cpu_cores"] for r in runs]
    # each worker really ran where it was pinned, and no core was shared
    assert [r.data.params["cpu_affinity_observed"] for r in runs] == cores
    sets = [set(_expand(c)) for c in cores]
    assert sets[0] and sets[1] and not sets[0] & sets[1]
    for r in runs:
        assert r.data.params["concurrent_workers"] == "2"
        assert r.data.tags[N.T_SHARED_HOST] == "true"
        assert r.data.metrics[N.M_LAT_P50] > 0
    # they ran at the same time: the two [start, end] intervals overlap
    (a, b) = [(r.info.start_time, r.info.end_time) for r in runs]
    assert max(a[0], b[0]) < min(a[1], b[1])


def _expand(cores: str) -> list[int]:
    out: list[int] = []
    for part in cores.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out
