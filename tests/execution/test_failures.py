"""Failed configs become FAILED child runs with a category, and the sweep goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import torch

from hwbench_mlflow import names as N
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.hardware import detect_hardware
from hwbench_mlflow.worker import run_in_worker
from tests._util import FAST, child_runs, clean_env, run_cli


def _failed_runs(uri):
    return {r.info.run_name: r for r in child_runs(uri) if r.info.status == "FAILED"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_absent_hardware_gives_unavailable_runs_and_the_sweep_goes_on(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["run", "--model", "bert-tiny", "--hardware", "cuda,cpu", "--precision", "fp32,fp16"]
    proc = run_cli([*args, "--tracking-uri", uri, *FAST], tmp_path)
    assert proc.returncode == 1, proc.stderr
    runs = {r.info.run_name: r for r in child_runs(uri)}
    assert len(runs) == 4
    for prec in ("fp32", "fp16"):
        r = runs[f"{prec} b1 · cuda/torch · bert-tiny · inference"]
        assert r.info.status == "FAILED" and r.data.metrics == {}
        assert r.data.tags[N.T_STATUS] == "failed"
        assert r.data.tags[N.T_ERROR_CATEGORY] == "unavailable"
        assert r.data.tags[N.T_ERROR_MESSAGE].startswith("cuda is not available on this host: ")
        assert r.data.params["device"] == "none"
    ok = runs["fp32 b1 · cpu/torch · bert-tiny · inference"]
    assert ok.info.status == "FINISHED" and ok.data.metrics[N.M_LAT_P50] > 0
    fp16 = runs["fp16 b1 · cpu/torch · bert-tiny · inference"]
    native_fp16 = bool(set(detect_hardware().get("cpu").details["flags"]) & {"avx512_fp16", "amx_fp16"})
    if not native_fp16:  # incompatible: never started, recorded as skipped with the reason
        assert fp16.info.status == "FINISHED" and fp16.data.metrics == {}
        assert fp16.data.tags[N.T_STATUS] == "skipped"
        assert fp16.data.tags[N.T_ERROR_CATEGORY] == "unsupported"
        assert "no fp16 arithmetic" in fp16.data.tags[N.T_ERROR_MESSAGE]
        assert "1 config(s) skipped" in proc.stderr
    assert "2 of 4 config(s) failed" in proc.stderr


def test_timeout_and_unsupported_in_one_sweep(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--precision", "int8", "--training-mode"]
    proc = run_cli([*args, "--tracking-uri", uri, *FAST], tmp_path)
    assert proc.returncode == 0, proc.stderr  # skipped is not failed
    (run,) = child_runs(uri)
    assert run.data.tags[N.T_STATUS] == "skipped" and run.data.tags[N.T_ERROR_CATEGORY] == "unsupported"
    assert "inference-only" in run.data.tags[N.T_ERROR_MESSAGE]
    assert _failed_runs(uri) == {}

    proc = run_cli(
        ["run", "--model", "bert-tiny", "--hardware", "cpu", "--timeout", "0.05", "--tracking-uri", uri, *FAST],
        tmp_path,
    )
    assert proc.returncode == 1
    timeouts = [r for r in _failed_runs(uri).values() if r.data.tags[N.T_ERROR_CATEGORY] == "timeout"]
    assert len(timeouts) == 1
    assert timeouts[0].data.tags[N.T_ERROR_MESSAGE] == "no result within --timeout 0.05 s"


def test_broken_local_model_is_a_load_error_and_a_local_model_works(tmp_path):
    from transformers import AutoConfig, AutoModel

    good = tmp_path / "my-bert"
    cfg = AutoConfig.for_model(
        "bert", hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128
    )
    AutoModel.from_config(cfg).save_pretrained(good)
    broken = tmp_path / "broken-bert"
    broken.mkdir()
    (broken / "config.json").write_text((good / "config.json").read_text())  # config, but no weights
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(["run", "--model", f"{good},{broken}", "--hardware", "cpu", "--tracking-uri", uri, *FAST], tmp_path)
    assert proc.returncode == 1, proc.stderr
    runs = {r.data.params["model"]: r for r in child_runs(uri)}
    assert runs[str(good)].data.tags[N.T_WEIGHTS] == "pretrained"
    assert runs[str(good)].data.tags[N.T_WEIGHTS_SHA256]
    assert runs[str(good)].info.status == "FINISHED"
    bad = runs[str(broken)]
    assert bad.data.tags[N.T_ERROR_CATEGORY] == "load_error"
    assert bad.info.status == "FAILED"


def _busy_worker(start_method: str, deadline: float, root: int | None = None, alive=lambda: True) -> int | None:
    """The pid of the first worker under process ``root`` (default: this one) that is busy,
    or None by ``deadline`` or once ``alive()`` says the parent is gone."""
    me = psutil.Process(root)
    while time.time() < deadline and alive():
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            return None
        for p in children:
            try:
                cmd = p.cmdline()
                is_worker = (
                    "hwbench_mlflow.worker" in cmd
                    if start_method == "exec"
                    else "forkserver" in " ".join(cmd) and p.parent().pid != me.pid
                )
                if is_worker and p.cpu_times().user > 0.3:
                    return p.pid
            except psutil.Error:
                continue
        time.sleep(0.05)
    return None


def _kill_worker_when_running(start_method: str, deadline: float, root: int | None = None) -> list[int]:
    pid = _busy_worker(start_method, deadline, root)
    if pid is None:
        return []
    os.kill(pid, signal.SIGKILL)
    return [pid]


def test_worker_killed_by_the_os_is_categorised():
    start_method = "exec"  # the forkserver path is the sweep test below
    cfg = BenchmarkConfig("bert-tiny", "cpu", "torch", "cpu", "fp32", 1)
    settings = MeasureSettings(min_time_s=20, max_time_s=30, worker_start=start_method, timeout_s=120)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("out", run_in_worker(cfg, settings)))
    t.start()
    killed = _kill_worker_when_running(start_method, time.time() + 60)
    t.join(120)
    assert killed, "no worker process found to kill"
    out = result["out"]
    assert out.status == "failed" and out.error_category == "oom"
    assert out.error_message == "worker killed by SIGKILL (the kernel OOM killer is the usual cause)"


def _sweep(tmp_path, seconds: str, batches: str = "1,2") -> tuple[str, subprocess.Popen]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    argv = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", batches, "--tracking-uri", uri]
    argv += ["--warmup", "1", "--min-time", seconds, "--max-time", seconds, "--db-path", str(tmp_path / "m.duckdb")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwbench_mlflow", *argv],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    return uri, proc


def _sweep_runs(uri):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    (parent,) = client.search_runs(["1"], "tags.`hwbench.role` = 'sweep'")
    return parent, {r.info.run_name: r for r in child_runs(uri, parent.info.run_id)}


def test_sigkilled_worker_in_a_sweep_is_a_failed_run_and_the_sweep_goes_on(tmp_path):
    uri, proc = _sweep(tmp_path, "2")
    killed = _kill_worker_when_running("forkserver", time.time() + 120, root=proc.pid)
    _, err = proc.communicate(timeout=300)
    assert killed, "no worker process found to kill"
    assert proc.returncode == 1, err
    assert "1 of 2 config(s) failed" in err
    parent, runs = _sweep_runs(uri)
    dead = runs["fp32 b1 · cpu/torch · bert-tiny · inference"]
    assert dead.info.status == "FAILED" and dead.data.tags[N.T_ERROR_CATEGORY] == "oom"
    assert dead.data.tags[N.T_ERROR_MESSAGE] == "worker killed by SIGKILL (the kernel OOM killer is the usual cause)"
    after = runs["fp32 b2 · cpu/torch · bert-tiny · inference"]
    assert after.info.status == "FINISHED" and after.data.metrics[N.M_LAT_P50] > 0
    assert parent.info.status == "FAILED"


def test_ctrl_c_mid_sweep_exits_130_ends_the_worker_and_closes_the_parent(tmp_path):
    uri, proc = _sweep(tmp_path, "3", "1,2,3")
    # configs run one after another and each is logged before the next worker starts: a busy
    # worker other than the first one means the first config is in MLflow; Ctrl-C then
    deadline = time.time() + 180
    alive = lambda: proc.poll() is None  # noqa: E731
    first = _busy_worker("forkserver", deadline, proc.pid, alive)
    worker = None
    while first is not None and worker is None and alive() and time.time() < deadline:
        found = _busy_worker("forkserver", deadline, proc.pid, alive)
        worker = found if found != first else None
        time.sleep(0.05)
    assert worker is not None, "no second config was measuring"
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("hwbench: interrupted"), err
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
    parent, runs = _sweep_runs(uri)
    assert parent.info.status == "KILLED" and "Interrupted" in parent.data.tags[N.MLFLOW_RUN_NOTE]
    # the interrupted config left no half run: only finished ones, in plan order
    assert 1 <= len(runs) < 3
    assert list(runs) == [f"fp32 b{b} · cpu/torch · bert-tiny · inference" for b in range(1, len(runs) + 1)]
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    # the mirror is consistent: a sync after the interruption holds exactly the finished runs
    sync = run_cli(["sync", "--tracking-uri", uri, "--db-path", str(tmp_path / "m.duckdb")], tmp_path)
    assert sync.returncode == 0, sync.stderr
    import duckdb

    con = duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM results").fetchone() == (len(runs),)
    assert con.execute("SELECT run_status FROM sweeps").fetchall() == [("KILLED",)]
