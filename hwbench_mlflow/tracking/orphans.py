"""Runs left RUNNING by a process that is gone: find them and close them as interrupted.

Every sweep / search run that hwbench opens carries its owner: ``hwbench.host``,
``hwbench.owner_pid`` and ``hwbench.owner_started`` (the process's start time, seconds
since the epoch, as psutil reports it). A RUNNING run whose owner is provably gone — same
host, and the pid is not alive or now belongs to a process that started at another time —
is closed as KILLED with ``hwbench.error_category=interrupted``, with the RUNNING config
runs under it. Runs of another host, and runs without an owner (``mlflow run``'s own
run, older versions), are never touched: nothing proves their owner is gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from .. import names as N

START_TOLERANCE_S = 1.0  # psutil's create_time is rounded by the kernel's clock ticks


@dataclass(frozen=True)
class ClosedRun:
    """One run closed as interrupted, and the owner that left it open."""

    run_id: str
    run_name: str
    pid: int
    children: int


def owner_tags() -> dict[str, str]:
    """The tags that name this process as the owner of a run it opens."""
    import psutil

    return {
        N.T_HOST: socket.gethostname(),
        N.T_OWNER_PID: str(os.getpid()),
        N.T_OWNER_STARTED: f"{psutil.Process().create_time():.2f}",
    }


def owner_alive(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs on this host."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - started) <= START_TOLERANCE_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # another user's live process: not provably gone
        return True


def _gone(tags: dict[str, str], host: str) -> int | None:
    """The owner's pid when it is provably gone, else None."""
    try:
        pid, started = int(tags[N.T_OWNER_PID]), float(tags[N.T_OWNER_STARTED])
    except (KeyError, ValueError):
        return None
    if tags.get(N.T_HOST) != host or pid == os.getpid():
        return None
    return None if owner_alive(pid, started) else pid


def close_orphaned_runs(client: Any, experiment_ids: list[str] | None = None) -> list[ClosedRun]:
    """Close every RUNNING sweep / search run of this host whose owner is gone; what was closed."""
    from mlflow.entities import RunTag

    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiment_ids:
        return []
    host = socket.gethostname()
    running = client.search_runs(
        experiment_ids,
        f"attributes.status = 'RUNNING' AND tags.`{N.T_OWNER_PID}` != ''",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    closed: list[ClosedRun] = []
    for run in running:
        pid = _gone(run.data.tags, host)
        if pid is None:
            continue
        note = (
            f"**Interrupted.** The process that ran this (pid {pid} on {host}) ended without closing it; "
            "closed by a later hwbench command. Config runs it had finished are kept."
        )
        reason = RunTag(N.T_ERROR_MESSAGE, f"owner process {pid} on {host} is gone")
        tags = [RunTag(N.T_ERROR_CATEGORY, N.E_INTERRUPTED), reason]
        children = client.search_runs(
            [run.info.experiment_id],
            f"attributes.status = 'RUNNING' AND tags.`mlflow.parentRunId` = '{run.info.run_id}'",
            max_results=1000,
        )
        for child in children:
            client.log_batch(child.info.run_id, tags=tags)
            client.set_terminated(child.info.run_id, status="KILLED")
        client.log_batch(run.info.run_id, tags=[*tags, RunTag(N.MLFLOW_RUN_NOTE, note)])
        client.set_terminated(run.info.run_id, status="KILLED")
        closed.append(ClosedRun(run.info.run_id, run.info.run_name or run.info.run_id, pid, len(children)))
    return closed


def describe(closed: list[ClosedRun]) -> str:
    """One line for the user: which runs were closed and why."""
    names = ", ".join(c.run_name for c in closed[:3]) + (f" and {len(closed) - 3} more" if len(closed) > 3 else "")
    pids = ", ".join(sorted({str(c.pid) for c in closed}))
    return (
        f"closed {len(closed)} run(s) left RUNNING by a process that is gone (pid {pids}): {names} "
        "→ KILLED, hwbench.error_category=interrupted"
    )
