"""benchmarks/vs_torch_timer.py end to end: our median and torch's Timer are the same order of size.

Tests check correctness, not timings: this guards against gross measurement errors (a wrong
batch accounting, a unit slip, warm-up counted: factors, not percent) and checks the script's
output. The 3 % agreement goal is the benchmark's, run by hand on a quiet machine (README).
On the shared CI machine even medians of three pairs have landed 0.60 and 0.83 apart
(CI, 2026-11-25), so the bound here is a factor of two."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# --repeat 3: the order alternates (ours first, Timer first) and the ratio is the median of the
# three back-to-back pairs, as the README advises: one pair on this shared machine can land
# one tool in a slow phase (seen: 1.48, 1.09, 1.15 in three single-pair attempts in a row)
COMMAND = [
    sys.executable,
    "benchmarks/vs_torch_timer.py",
    "--batch-sizes",
    "8",
    "--max-time",
    "1",
    "--repeat",
    "3",
    "--check",
    "0.50",
]
ATTEMPTS = 2  # the criterion is agreement within 50 %


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
            # the plain-process column: Timer in a default Python process, beside the same-conditions one
            assert re.search(r"plain process \d+\.\d{3} ms \(\d+\.\d{2}× ours\)", out), out
            assert re.search(r"PLAIN a default Python process measured [+-]\d+ % against ours", out), out
            return
    pytest.fail("medians disagreed by more than 50 % in every attempt:\n" + "\n".join(outputs))
