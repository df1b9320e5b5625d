"""benchmarks/vs_torch_timer.py end to end: our median agrees with torch's Timer within 10 %.

The test guards against gross measurement errors (a missed synchronisation, warm-up counted,
a wrong batch accounting: tens of percent); the 3 % agreement goal is the benchmark's, run by
hand on a quiet machine (README). On this shared machine single pairs have moved by up to
9 % in a noisy phase even as medians of three (CI, 2026-11-25)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# --repeat 3: the order alternates (ours first, Timer first) and the ratio is the median of the
# three back-to-back pairs, as the README advises: one pair on this shared machine can land
# one tool in a slow phase (seen: 1.48, 1.09, 1.15 in three single-pair attempts in a row)
COMMAND = [
    sys.executable,
    "benchmarks/vs_torch_timer.py",
    "--batch-sizes",
    "8",
    "--max-time",
    "2",
    "--repeat",
    "3",
    "--check",
    "0.10",
]
ATTEMPTS = 3  # the criterion is agreement within 10 %


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
    pytest.fail("medians disagreed by more than 10 % in every attempt:\n" + "\n".join(outputs))
