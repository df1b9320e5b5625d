"""A busy host is detected and said: real CPU-burning processes beside a measurement."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.host_load import CONTENDED_OTHER_CPU_PCT, HostLoadWindow, is_contended
from tests._util import FAST, child_runs, run_cli

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="host load is read from /proc/stat")


@contextlib.contextmanager
def cpu_burners(n: int = 1, limit_s: float = 120.0) -> Iterator[list[int]]:
    """``n`` processes spinning on a core each, bounded in time and killed by pid on exit.

    They are started through a shell that exits at once, so they are nobody's children here:
    other processes on the host, not CPU time of the measuring process."""
    code = f"import time; end = time.monotonic() + {limit_s}\nwhile time.monotonic() < end: pass"
    launch = f"for i in $(seq {n}); do {sys.executable} -c '{code}' >/dev/null 2>&1 & echo $!; done"
    out = subprocess.run(["sh", "-c", launch], capture_output=True, text=True, check=True, timeout=30).stdout
    pids = [int(x) for x in out.split()]
    assert len(pids) == n
    try:
        time.sleep(0.3)  # spinning before the window starts
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_threshold_rule() -> None:
    assert not is_contended(0.0, 0.0)
    assert not is_contended(CONTENDED_OTHER_CPU_PCT, 0.0)
    assert is_contended(CONTENDED_OTHER_CPU_PCT + 0.1, 0.0)
    assert is_contended(0.0, 5.1) and not is_contended(0.0, 5.0)
    assert not is_contended(None, None)


def test_window_sees_other_processes_and_not_itself() -> None:
    # the window's own busy loop is not "other": subtracting the process's CPU time leaves
    # what the burner used (one spinning process: ~100 % of one core on an idle host, less
    # when it shares a core with us or other tests; far past the 25 % threshold). One burner
    # only: the other tests of the suite run beside this one.
    with cpu_burners(), HostLoadWindow() as w:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass
    assert w.other_cpu_pct is not None and w.other_cpu_pct > CONTENDED_OTHER_CPU_PCT, w.metrics()
    assert w.contended is True
    m = w.metrics()
    assert set(m) == {N.M_HOST_OTHER_CPU, N.M_HOST_STEAL, N.M_HOST_LOADAVG_START, N.M_HOST_LOADAVG_END}
    assert 0.0 <= m[N.M_HOST_STEAL] <= 100.0
    assert m[N.M_HOST_LOADAVG_START] >= 0.0 and m[N.M_HOST_LOADAVG_END] >= 0.0


def test_sweep_beside_burners_is_marked_busy(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    db = tmp_path / "hwbench.duckdb"
    argv = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1", "--precision", "fp32"]
    with cpu_burners():
        proc = run_cli([*argv, "--tracking-uri", uri, "--db-path", str(db), *FAST], tmp_path, COLUMNS="100")
    assert proc.returncode == 0, proc.stderr
    (run,) = child_runs(uri)
    metrics = run.data.metrics
    assert run.data.tags[N.T_HOST_CONTENDED] == "true", metrics
    assert metrics[N.M_HOST_OTHER_CPU] > CONTENDED_OTHER_CPU_PCT
    for key in (N.M_HOST_STEAL, N.M_HOST_LOADAVG_START, N.M_HOST_LOADAVG_END):
        assert key in metrics
    out = " ".join(proc.stdout.split())
    assert "configs met the ±" in out and "CI target on the p50." in out, proc.stdout
    assert "The host was busy: other processes used" in out and "during 1 of 1 windows" in out, proc.stdout
    # which process conditions the number stands for: on the run and in the summary
    threads = run.data.params["torch_num_threads"]
    process = "a warm worker forked from a preloaded server, glibc malloc tuned (mmap and trim thresholds raised)"
    assert run.data.tags[N.T_PROCESS] == f"{process}, {threads} torch threads"
    assert f"Measured in {process} ({threads} torch threads). A plain Python process" in out, proc.stdout
    assert "not reference numbers" in out
    assert "busy" in proc.stdout.split("The host was busy")[0]  # the row is marked in the table

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT host_contended, host_other_cpu_pct, host_steal_pct, host_loadavg_start, host_loadavg_end "
            "FROM results WHERE mlflow_run_id = ?",
            [run.info.run_id],
        ).fetchone()
    assert row is not None and row[0] is True
    assert row[1] == pytest.approx(metrics[N.M_HOST_OTHER_CPU])
    assert row[2] == pytest.approx(metrics[N.M_HOST_STEAL])
    assert row[3] == pytest.approx(metrics[N.M_HOST_LOADAVG_START])

    # evidence from a busy window is low confidence, and says why
    proc = run_cli(["recommend", "--db-path", str(db), "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    recs = [r for r in json.loads(proc.stdout) if r["status"] == "recommended"]
    assert recs, proc.stdout
    for rec in recs:
        assert rec["confidence"] == "low", rec
        assert "measured on a busy host (other processes used" in rec["warning"], rec

    # a busy side is neither a regression nor an improvement
    sweep_id = run.data.tags[N.T_SWEEP_ID]
    proc = run_cli(
        [
            "compare",
            "--db-path",
            str(db),
            "--baseline-sweep",
            sweep_id,
            "--regression-alert",
            "0.1",
            "--format",
            "csv",
            "--no-log",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[1].endswith(",inconclusive (host busy)"), proc.stdout

    # the report says it too
    proc = run_cli(["report", "--db-path", str(db), "--output", "r.html", "--no-log"], tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<b>1 configuration(s) were measured on a busy host</b>" in page
    assert "<th>host_contended</th>" in page
