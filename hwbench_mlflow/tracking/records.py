"""The single runs a command records besides a sweep: what a reading command produced
(``log_output_run``), a sync under ``mlflow run`` (``log_sync_report``), and the replay of
the runs the outbox kept (``replay_outbox``)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any

from .. import names as N
from .connect import clip, get_or_create_experiment, open_client
from .outbox import Outbox
from .uri import check_tracking_uri, redact_uri, resolve_tracking_uri


def log_output_run(
    tracking_uri: str,
    experiment: str,
    role: str,
    params: dict[str, Any],
    note: str,
    *,
    dicts: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
    files: list[tuple[Path, str | None]] = (),  # type: ignore[assignment]
    simulated: bool = False,
) -> str:
    """Record what a reading command produced (recommend, visualize, report) as an MLflow run
    tagged ``hwbench.role=ROLE`` — under `mlflow run`, on the project's own run; its run id."""
    from mlflow.entities import Param, RunTag

    client = open_client(tracking_uri)
    adopted = os.environ.get("MLFLOW_RUN_ID")
    if adopted:
        run_id = adopted
        existing = set(client.get_run(run_id).data.params)
        params = {k: v for k, v in params.items() if k not in existing}
    else:
        exp_id = get_or_create_experiment(client, experiment)
        run_id = client.create_run(exp_id, run_name=f"{role}-" + time.strftime("%Y%m%d-%H%M%S")).info.run_id
    try:
        client.log_batch(
            run_id,
            params=[Param(k, clip(v)) for k, v in params.items()],
            tags=[
                RunTag(N.T_ROLE, role),
                RunTag(N.T_HOST, socket.gethostname()),
                RunTag(N.MLFLOW_RUN_NOTE, clip(note, 5000)),
                RunTag(N.T_IS_SIMULATED, str(simulated).lower()),
            ],
        )
        for name, d in (dicts or {}).items():
            client.log_dict(run_id, d, name)
        for name, text in (texts or {}).items():
            client.log_text(run_id, text, name)
        for path, artifact_dir in files:
            client.log_artifact(run_id, str(path), artifact_dir)
    except BaseException:  # refused or interrupted halfway: the record is closed, never left RUNNING
        if not adopted:
            with contextlib.suppress(Exception):
                client.set_terminated(run_id, "FAILED")
        raise
    if not adopted:
        client.set_terminated(run_id, "FINISHED")
    return run_id


def log_sync_report(run_id: str, report: Any) -> None:
    """Record a sync on the active ``mlflow run`` run (the MLproject's ``sync`` entry point)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(resolve_tracking_uri(None))
    now = int(time.time() * 1000)
    metrics = {f"sync_{k}": float(v) for k, v in report.counts().items()}
    metrics["sync_seconds"] = report.seconds
    existing = set(client.get_run(run_id).data.params)
    params = {"db_path": report.db_path, "sync_kind": report.kind}
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items() if k not in existing],
        tags=[RunTag(N.T_ROLE, "sync")],
    )


def replay_outbox(tracking_uri: str | None) -> int:
    """Write the runs the outbox keeps for this store (``hwbench sync --replay``); how many."""
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_uri(uri)
    return Outbox().replay(open_client(uri), redact_uri(uri))
