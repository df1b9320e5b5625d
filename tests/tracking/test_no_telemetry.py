"""Benchmarks make no network call: OpenVINO's and NNCF's usage telemetry is declined in-process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("openvino_telemetry")

PROBE = """
import threading, time
import psutil
{decline}
import openvino, openvino.tools.ovc
import nncf
from openvino_telemetry import Telemetry
time.sleep(0.5)
print("CONSENT", Telemetry().consent)
print("SENDERS", sum(t.name.startswith("ThreadPoolExecutor") for t in threading.enumerate()))
print("CHILDREN", len(psutil.Process().children()))
"""


def _probe(decline: bool, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}  # CI declines by itself
    env["HOME"] = str(tmp_path)  # no consent file of this user: telemetry's default applies
    code = PROBE.format(
        decline="from hwbench_mlflow.worker_env import decline_vendor_telemetry; decline_vendor_telemetry()"
        if decline
        else ""
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_worker_environment_sends_no_telemetry(tmp_path) -> None:
    out = _probe(True, tmp_path)
    assert "CONSENT False" in out and "SENDERS 0" in out and "CHILDREN 0" in out, out
    assert not (tmp_path / "intel").exists() or not any((tmp_path / "intel").glob("openvino_telemetry"))
