"""benchmarks/vs_benchmark_app.py end to end: our OpenVINO throughput is at least 0.5 × benchmark_app's.

Tests check correctness, not timings: a guard against gross errors (a factor of two); the
1.00× goal is the benchmark's, run with --repeat 3 on a quiet machine (README). One pair
per hint on this shared machine has landed at 0.64–0.89× in a noisy phase (CI, 2026-11-25)
and 1.00–1.03× in quiet ones."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_APP = Path(sys.executable).with_name("benchmark_app")
COMMAND = [sys.executable, "benchmarks/vs_benchmark_app.py", "--batch-sizes", "8", "--time", "3", "--check", "0.50"]
ATTEMPTS = 2  # a shared, noisy machine can slow either side of one pair; the criterion is ours >= 0.5 × theirs


@pytest.mark.slow
def test_throughput_matches_benchmark_app() -> None:
    if not BENCHMARK_APP.exists():
        pytest.skip(f"benchmark_app not found next to {sys.executable}")
    pytest.importorskip("openvino")
    outputs = []
    for attempt in range(1, ATTEMPTS + 1):
        proc = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        outputs.append(f"--- attempt {attempt}: exit {proc.returncode}\n{out[-3000:]}")
        if proc.returncode == 0:
            for hint in ("latency", "throughput"):
                assert re.search(
                    rf"RATIO b8 {hint}: throughput ours/theirs \d+\.\d{{4}}, median ours/theirs \d+\.\d{{4}}", out
                ), out
            assert "SUMMARY 2/2 config(s)" in out and "CHECK OK" in out, out
            return
    pytest.fail("our throughput was below 0.5 × benchmark_app's in every attempt:\n" + "\n".join(outputs))
