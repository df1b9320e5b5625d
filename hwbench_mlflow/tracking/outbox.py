"""Runs that could not reach the tracking store wait in a local outbox until they are replayed.

When the store goes away mid-sweep (a server restarted, a network cut), each finished run is
kept as one JSON file — params, metrics, tags, small artifacts inline, model files copied —
written atomically (temporary file, then rename), so a crash never leaves half a record. The
outbox is replayed automatically when the next ``hwbench run`` / ``search`` reaches the same
store, or by ``hwbench sync --replay``.

Replay is idempotent: every run carries the tag ``hwbench.run_uid``. A run that reached the
store partly (created, then the connection dropped) is found by that tag and completed, never
created twice; a record is deleted only after its run is complete in the store.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import names as N

OUTBOX_ENV = "HWBENCH_OUTBOX"
OUTBOX_VERSION = 1


def outbox_dir() -> Path:
    """``$HWBENCH_OUTBOX``, else ``hwbench-outbox`` in the current directory (beside mlflow.db)."""
    return Path(os.environ.get(OUTBOX_ENV) or Path.cwd() / "hwbench-outbox")


def new_uid() -> str:
    return uuid.uuid4().hex


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the store could not be reached, as opposed to
    a request the store refused: only those are worth keeping for a later replay."""
    import requests

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        name = type(current).__name__
        text = str(current)
        if name in ("OperationalError", "MaxRetryError", "NewConnectionError", "ProtocolError"):
            return True
        if name in ("MlflowException", "RestException") and any(
            s in text
            for s in ("Max retries exceeded", "Connection refused", "Connection aborted", "failed with exception")
        ):
            return True
        if name == "RestException" and any(s in text for s in (" 502", " 503", " 504", "TEMPORARILY_UNAVAILABLE")):
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass
class PendingRun:
    """Everything one finished run writes, so that it can be written later, exactly once."""

    store: str  # the tracking URI, password redacted
    experiment_id: str
    uid: str
    run_name: str
    start_ms: int
    end_ms: int = 0
    run_id: str = ""  # known once the run exists in the store
    status: str | None = None  # None: leave the run open (an `mlflow run` run closes itself)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dicts: dict[str, Any] = field(default_factory=dict)  # artifact file name → JSON content
    files: list[tuple[str, str | None]] = field(default_factory=list)  # (path, artifact dir)


def write_run(client: Any, run: PendingRun, replay: bool = False) -> str:
    """Write ``run`` to the store behind ``client`` (create or complete it); its run id.

    ``run.run_id`` is set as soon as the run exists, so a caller that is cut off afterwards
    keeps a record that completes this run instead of creating another; a ``replay`` first
    looks for the run by its uid (it may have been created before the connection dropped)."""
    from mlflow.entities import Metric, Param, RunTag

    if not run.run_id and replay:
        run.run_id = _find(client, run.experiment_id, run.uid)
    created = not run.run_id
    if created:
        run.run_id = client.create_run(
            run.experiment_id,
            start_time=run.start_ms,
            tags={**run.tags, N.T_RUN_UID: run.uid},
            run_name=run.run_name,
        ).info.run_id
        existing = {}
    else:
        existing = client.get_run(run.run_id).data.params
    end = run.end_ms or int(time.time() * 1000)
    client.log_batch(
        run.run_id,
        metrics=[Metric(k, float(v), end, 0) for k, v in run.metrics.items()],
        params=[Param(k, v) for k, v in run.params.items() if k not in existing],
        tags=[] if created else [RunTag(k, v) for k, v in {**run.tags, N.T_RUN_UID: run.uid}.items()],
    )
    for name, content in run.dicts.items():
        client.log_dict(run.run_id, content, name)
    for path, artifact_dir in run.files:
        client.log_artifact(run.run_id, path, artifact_dir)
    if run.status:
        client.set_terminated(run.run_id, status=run.status, end_time=end)
    return run.run_id


def _find(client: Any, experiment_id: str, uid: str) -> str:
    from mlflow.entities import ViewType

    found = client.search_runs(
        [experiment_id], f"tags.`{N.T_RUN_UID}` = '{uid}'", run_view_type=ViewType.ALL, max_results=1
    )
    return found[0].info.run_id if found else ""


class Outbox:
    """A folder of pending runs, one ``<time>-<uid>.json`` each, replayed in the order kept."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else outbox_dir()

    def put(self, run: PendingRun) -> Path:
        """Keep ``run`` (its files copied into the outbox); atomic: all of it or nothing."""
        self.path.mkdir(parents=True, exist_ok=True)
        if run.files:
            folder = self.path / f"{run.uid}.files"
            folder.mkdir(exist_ok=True)
            kept = []
            for i, (src, artifact_dir) in enumerate(run.files):
                dst = folder / f"{i}-{Path(src).name}"
                shutil.copyfile(src, dst)
                kept.append((str(dst), artifact_dir))
            run.files = kept
        target = self.path / f"{time.time_ns():020d}-{run.uid}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": OUTBOX_VERSION, **asdict(run)}))
        os.replace(tmp, target)
        return target

    def pending(self, store: str | None = None) -> list[tuple[Path, PendingRun]]:
        """Records waiting (for ``store`` only, when given), oldest first, each read once."""
        if not self.path.is_dir():
            return []
        records = [(f, _load(f)) for f in sorted(self.path.glob("*.json"))]
        return [(f, run) for f, run in records if store is None or run.store == store]

    def replay(self, client: Any, store: str) -> int:
        """Write every record kept for ``store``; how many were written. A record leaves the
        outbox only once its run is complete; a store that is down again stops the replay."""
        done = 0
        for record, run in self.pending(store):
            write_run(client, run, replay=True)
            record.unlink()
            shutil.rmtree(self.path / f"{run.uid}.files", ignore_errors=True)
            done += 1
        return done


def _load(path: Path) -> PendingRun:
    data = json.loads(path.read_text())
    data.pop("version", None)
    data["files"] = [tuple(f) for f in data.get("files", [])]
    return PendingRun(**data)
