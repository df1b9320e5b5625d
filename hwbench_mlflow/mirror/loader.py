"""Loading raw samples into ``latency_samples`` on a background thread, inside the store's
open transaction, while the sync goes on reading MLflow."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any, Protocol

SAMPLE_BATCH_FILES = 500


class TableWriter(Protocol):
    """What the loader needs of :class:`~.store.MirrorStore`: statements run with Arrow tables."""

    def with_tables(self, statements: Sequence[str], **tables: Any) -> list[Any]: ...


class SampleLoader:
    """Loads ``raw_latencies_ms.json`` files into ``latency_samples`` inside the store's open
    transaction, from a background thread, while the caller goes on reading MLflow.

    Parsing is Python's json in a helper process once there are many files (so it never
    holds the caller's GIL), inline for a handful; the insert from Arrow runs in DuckDB
    without the GIL."""

    POOL_FROM_FILES = 200

    def __init__(self, store: TableWriter) -> None:
        self.store = store
        self.jobs: queue.Queue[list[tuple[str, str]] | None] = queue.Queue()
        self.counts: dict[str, int] = {}
        self.unreadable: list[str] = []
        self.error: BaseException | None = None
        self.cancelled = False
        self.pool: Any = None
        self.thread = threading.Thread(target=self._work, name="hwbench-samples", daemon=True)
        self.thread.start()

    def submit(self, files: list[tuple[str, str]]) -> None:
        """``[(run_id, local path), ...]``; files that do not exist are left out."""
        for i in range(0, len(files), SAMPLE_BATCH_FILES):
            self.jobs.put(files[i : i + SAMPLE_BATCH_FILES])

    def cancel(self) -> None:
        """Drop what is queued and wait for the thread (it may be mid-insert)."""
        self.cancelled = True
        self.jobs.put(None)
        self.thread.join()

    def finish(self) -> dict[str, int]:
        """Wait for every file; run id → samples loaded."""
        self.jobs.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.counts

    def _work(self) -> None:
        from .samples import SampleReaderProcess, read_samples

        try:
            while (batch := self.jobs.get()) is not None:
                if self.error is not None or self.cancelled:
                    continue
                try:
                    if self.pool is None and len(batch) >= self.POOL_FROM_FILES:
                        self.pool = SampleReaderProcess()
                    if self.pool is None:
                        self._insert(read_samples(batch))
                    else:  # one batch at a time: a pipe holds less than a batch's result
                        self.pool.submit(batch)
                        self._insert(self.pool.result())
                except BaseException as exc:  # re-raised in the caller's thread by finish()
                    self.error = exc
        except BaseException as exc:
            self.error = exc
        finally:
            if self.pool is not None:
                self.pool.close()

    def _insert(self, parsed: tuple[list[str], list[int], Any, list[str], dict[str, list[list[float]]]]) -> None:
        import numpy as np
        import pyarrow as pa

        ids, counts, values, bad, tokens = parsed
        self.unreadable.extend(bad)
        if not ids:
            return
        n = np.asarray(counts, dtype=np.int64)
        owner = np.repeat(np.arange(len(ids), dtype=np.int32), n)
        starts = np.repeat(np.cumsum(n) - n, n)
        table = pa.table(
            {
                "mlflow_run_id": pa.DictionaryArray.from_arrays(pa.array(owner), pa.array(ids, pa.string())),
                "iteration": pa.array((np.arange(len(values)) - starts).astype(np.int32)),
                "latency_ms": pa.array(values),
            }
        )
        self.store.with_tables(["INSERT INTO latency_samples SELECT * FROM parsed"], parsed=table)
        if tokens:  # generate runs: each generation's per-token clock
            rows = [
                (rid, g, i, t) for rid, gens in tokens.items() for g, ts in enumerate(gens) for i, t in enumerate(ts)
            ]
            times = pa.table(
                {
                    "mlflow_run_id": pa.array([r[0] for r in rows], pa.string()),
                    "generation": pa.array([r[1] for r in rows], pa.int32()),
                    "token": pa.array([r[2] for r in rows], pa.int32()),
                    "t_ms": pa.array([r[3] for r in rows], pa.float64()),
                }
            )
            self.store.with_tables(["INSERT INTO generation_token_times SELECT * FROM times"], times=times)
        for rid, count in zip(ids, counts, strict=True):
            self.counts[rid] = self.counts.get(rid, 0) + count
