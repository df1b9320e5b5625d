"""benchmarks/vs_torch_timer.py end to end: our median agrees with torch's Timer within 5 %."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "benchmarks/vs_torch_timer.py", "--batch-sizes", "8", "--max-time", "2", "--check", "0.05"]
ATTEMPTS = 3  # a shared, noisy machine can move one tool's median; the criterion is agreement within 5 %


@pytest.mark.slow
def test_median_agrees_with_torch_timer() -> None:
    outputs = []
    for attempt in range(1, ATTEMPTS + 1):
        proc = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        outputs.append(f"--- attempt {attempt}: exit {proc.returncode}\n{out[-3000:]}")
        if proc.returncode == 0:
            assert re.search(r"b8 rep 1: .* ratio \d+\.\d{4}", out), out
            assert "max |ratio-1|" in out and "CHECK OK" in out, out
            return
    pytest.fail("medians disagreed by more than 5 % in every attempt:\n" + "\n".join(outputs))
