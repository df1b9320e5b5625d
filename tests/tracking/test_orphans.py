"""A sweep whose process is gone is closed as interrupted by the next run / search / sync."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil

from hwbench_mlflow import names as N
from hwbench_mlflow.tracking.connect import sqlite_store_lock
from tests._util import FAST, clean_env, run_cli


def _running(client, exp_ids: list[str]) -> list:
    return client.search_runs(exp_ids, "attributes.status = 'RUNNING'")


def test_parent_killed_mid_sweep_is_closed_by_the_next_sync(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri, db = f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "hw.duckdb")
    argv = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1,2,4,8,16", "--precision", "fp32"]
    argv += ["--max-time", "3", "--min-time", "2", "--tracking-uri", uri, "--no-db"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwbench_mlflow", *argv],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers in one group: cleaned up at the end
    )
    try:
        client, sweep = None, None
        deadline = time.monotonic() + 120
        while sweep is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if (tmp_path / "mlflow.db").exists():
                if client is None:
                    with sqlite_store_lock(str(tmp_path / "mlflow.db")):  # not while hwbench creates the schema
                        client = MlflowClient(uri)
                        client.search_experiments()
                found = client.search_runs(
                    [e.experiment_id for e in client.search_experiments()],
                    f"tags.`{N.T_ROLE}` = 'sweep' AND attributes.status = 'RUNNING'",
                )
                sweep = found[0] if found and N.T_OWNER_PID in found[0].data.tags else None
        assert sweep is not None, "the sweep run never appeared RUNNING"
        assert sweep.data.tags[N.T_OWNER_PID] == str(proc.pid)
        assert sweep.data.tags[N.T_HOST] == socket.gethostname()
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: nothing of it can clean up
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the workers it left
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    assert [r.info.run_id for r in _running(client, exp_ids)] == [sweep.info.run_id]

    done = run_cli(["sync", "--tracking-uri", uri, "--db-path", db], tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    line = f"hwbench: closed 1 run(s) left RUNNING by a process that is gone (pid {proc.pid}): {sweep.info.run_name}"
    assert line in done.stderr, done.stderr
    assert _running(client, exp_ids) == []
    closed = client.get_run(sweep.info.run_id)
    assert closed.info.status == "KILLED"
    assert closed.data.tags[N.T_ERROR_CATEGORY] == "interrupted"
    assert f"pid {proc.pid}" in closed.data.tags[N.MLFLOW_RUN_NOTE]
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT run_status FROM sweeps WHERE mlflow_run_id = ?", [sweep.info.run_id]).fetchall()
    assert rows == [("KILLED",)]  # mirrored by the same sync that closed it

    again = run_cli(["sync", "--tracking-uri", uri, "--db-path", db], tmp_path, timeout=180)
    assert again.returncode == 0 and "closed" not in again.stderr, again.stderr


def test_only_provably_gone_owners_are_closed_by_the_next_run(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("hwbench")
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "120"])
    try:
        alive_started = psutil.Process(alive.pid).create_time()
        host = socket.gethostname()

        def open_run(name: str, **tags: object) -> str:
            tags = {N.T_ROLE: "sweep", **{k: str(v) for k, v in tags.items()}}
            return client.create_run(exp, run_name=name, tags=tags).info.run_id

        owner = {N.T_HOST: host}
        gone = open_run("sweep-gone", **owner, **{N.T_OWNER_PID: dead.pid, N.T_OWNER_STARTED: time.time() - 5})
        child = client.create_run(exp, run_name="cfg", tags={"mlflow.parentRunId": gone}).info.run_id
        reused = open_run(  # the pid lives, but it is another process (started at another time)
            "sweep-reused", **owner, **{N.T_OWNER_PID: alive.pid, N.T_OWNER_STARTED: alive_started - 3600}
        )
        live = open_run("sweep-live", **owner, **{N.T_OWNER_PID: alive.pid, N.T_OWNER_STARTED: alive_started})
        remote = open_run("sweep-remote", **{N.T_HOST: "another-host", N.T_OWNER_PID: dead.pid, N.T_OWNER_STARTED: 1.0})
        ownerless = open_run("sweep-ownerless")

        argv = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1", "--precision", "fp32"]
        proc = run_cli([*argv, *FAST, "--tracking-uri", uri, "--no-db"], tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "hwbench: closed 2 run(s) left RUNNING by a process that is gone" in proc.stderr, proc.stderr
        assert "sweep-gone, sweep-reused → KILLED, hwbench.error_category=interrupted" in proc.stderr
        status = {rid: client.get_run(rid).info.status for rid in (gone, child, reused, live, remote, ownerless)}
        assert status == {
            gone: "KILLED",
            child: "KILLED",
            reused: "KILLED",
            live: "RUNNING",
            remote: "RUNNING",
            ownerless: "RUNNING",
        }
        assert client.get_run(child).data.tags[N.T_ERROR_CATEGORY] == "interrupted"
    finally:
        alive.kill()
        alive.wait()


def test_a_reading_command_record_that_fails_halfway_is_closed(tmp_path: Path) -> None:
    import pytest
    from mlflow import MlflowClient

    from hwbench_mlflow.tracking.records import log_output_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises for a missing file
        log_output_run(uri, "hwbench-outputs", "report", {"a": 1}, "note", files=[(tmp_path / "missing.png", None)])
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("hwbench-outputs").experiment_id])
    assert run.info.status == "FAILED"
