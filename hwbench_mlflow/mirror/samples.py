"""Reading ``raw_latencies_ms.json`` artifacts into arrays, in this process or in a helper
process (``python -m hwbench_mlflow.mirror.samples``) that imports only json and numpy, so a
big sync parses on the other core without contending for the sync's GIL."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import IO, Any

# (run ids, sample counts, all latencies, unreadable run ids, run id → token_times_ms of a generate run)
Parsed = tuple[list[str], list[int], Any, list[str], dict[str, list[list[float]]]]


def read_samples(batch: list[tuple[str, str]]) -> Parsed:
    """``[(run id, path)]`` → (run ids, sample counts, all latencies concatenated, unreadable run ids,
    each generate run's per-token times: run id → one list of ms after t0 per generation).

    A missing file is skipped silently (a failed config has none); an unreadable one is reported.
    """
    import numpy as np

    ids: list[str] = []
    counts: list[int] = []
    arrays: list[Any] = []
    bad: list[str] = []
    tokens: dict[str, list[list[float]]] = {}
    for run_id, path in batch:
        try:
            with open(path, "rb") as f:
                raw = json.load(f)
            array = np.asarray(raw["latencies_ms"], dtype=np.float64)
            if array.ndim != 1:
                raise ValueError("latencies_ms is not a list of numbers")
            times = raw.get("token_times_ms")
            if times is not None:
                times = [[float(t) for t in g] for g in times]
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            bad.append(run_id)
            continue
        ids.append(run_id)
        counts.append(len(array))
        arrays.append(array)
        if times:
            tokens[run_id] = times
    values = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.float64)
    return ids, counts, values, bad, tokens


class SampleReaderProcess:
    """A helper process running :func:`read_samples` on batches, in order. One JSON line per
    batch goes in; a JSON header line and the float64 bytes come back."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hwbench_mlflow.mirror.samples"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.in_flight = 0

    def submit(self, batch: list[tuple[str, str]]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(batch).encode() + b"\n")
        self.proc.stdin.flush()
        self.in_flight += 1

    def result(self) -> Parsed:
        """The oldest submitted batch's result."""
        import numpy as np

        assert self.proc.stdout is not None
        header = self.proc.stdout.readline()
        if not header:
            raise RuntimeError(f"the sample reader process died (exit {self.proc.wait()})")
        meta = json.loads(header)
        raw = _read_exact(self.proc.stdout, meta["nbytes"])
        self.in_flight -= 1
        return meta["ids"], meta["counts"], np.frombuffer(raw, dtype=np.float64), meta["bad"], meta["tokens"]

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise RuntimeError("the sample reader process stopped mid-batch")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _serve() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        ids, counts, values, bad, tokens = read_samples([tuple(x) for x in json.loads(line)])
        data = values.tobytes()
        meta = {"ids": ids, "counts": counts, "bad": bad, "tokens": tokens, "nbytes": len(data)}
        out.write(json.dumps(meta).encode() + b"\n")
        out.write(data)
        out.flush()


if __name__ == "__main__":
    _serve()
