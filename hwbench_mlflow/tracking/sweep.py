"""The sweep writer: one sweep (or search) = one parent run + a finished child run per config,
written in one batch each, to the outbox once the store stops answering."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names as N
from .connect import clip, get_or_create_experiment, open_client
from .orphans import owner_tags
from .outbox import Outbox, PendingRun, is_unreachable, new_uid, write_run
from .ui_url import ensure_runs_view
from .uri import redact_uri

if TYPE_CHECKING:
    from ..hardware import HardwareReport
    from ..results import ConfigResult

VERSIONED_LIBRARIES = ("torch", "transformers", "mlflow", "numpy", "hwbench-mlflow")


def library_versions() -> dict[str, str]:
    """The installed versions of :data:`VERSIONED_LIBRARIES` and Python (tagged on every run)."""
    out = {}
    for lib in VERSIONED_LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out


def model_files(model_path: str) -> list[Path]:
    """The files behind a converted model's ``model_path`` (an IR's .xml has its .bin)."""
    path = Path(model_path)
    if not model_path or not path.is_file():
        return []
    weights = path.with_suffix(".bin")
    return [path, weights] if path.suffix == ".xml" and weights.is_file() else [path]


def announce_orphans(client: Any) -> int:
    """Close runs left RUNNING by a process that is gone (orphans.py) and say so on stderr."""
    from .orphans import close_orphaned_runs, describe

    closed = close_orphaned_runs(client)
    if closed:
        print(f"hwbench: {describe(closed)}", file=sys.stderr)
    return len(closed)


class SweepTracker:
    """One sweep = one parent run (or the active ``mlflow run`` run) + a child run per config.

    A child run is written only once its config has finished, in a single batch, so an
    interrupted sweep never leaves a half-written child.
    """

    def __init__(self, tracking_uri: str, experiment: str, sweep_id: str, role: str = "sweep") -> None:
        self.tracking_uri = tracking_uri
        self.client = open_client(tracking_uri)
        self.experiment_name = experiment
        self.sweep_id = sweep_id
        self.role = role  # sweep | search
        self.host = socket.gethostname()
        self.versions = library_versions()
        self.parent_run_id = ""
        self.parent_uid = ""
        self.experiment_id = ""
        self._owns_parent = True
        self.store = redact_uri(tracking_uri)
        self.outbox = Outbox()
        self.offline = False  # the store stopped answering: the rest of the runs go to the outbox
        self.outboxed = 0
        self.replayed = 0

    # -- parent ------------------------------------------------------------------------
    def start(self, hardware: HardwareReport, params: dict[str, Any], tags: dict[str, str] | None = None) -> str:
        from mlflow.entities import Param, RunTag

        self.replayed = self.outbox.replay(self.client, self.store)  # what an earlier sweep could not write
        announce_orphans(self.client)
        self.parent_uid = new_uid()
        adopted = os.environ.get("MLFLOW_RUN_ID")
        if adopted:  # under `mlflow run`: the project's run is the parent
            run = self.client.get_run(adopted)
            self.experiment_id = run.info.experiment_id
            self.experiment_name = self.client.get_experiment(self.experiment_id).name  # `mlflow run`'s choice
            self.parent_run_id = adopted
            self._owns_parent = False
        else:
            self.experiment_id = get_or_create_experiment(self.client, self.experiment_name)
            ensure_runs_view(self.tracking_uri, self.experiment_id, self.client)  # `mlflow ui` opens with columns
            run = self.client.create_run(self.experiment_id, run_name=f"{self.role}-{self.sweep_id}")
            self.parent_run_id = run.info.run_id
            tags = {**(tags or {}), **owner_tags()}  # a later command closes it if this process dies
        tags = {
            **(tags or {}),
            N.T_ROLE: self.role,
            N.T_SWEEP_ID: self.sweep_id,
            N.T_RUN_UID: self.parent_uid,
            N.T_HOST: self.host,
            N.T_IS_SIMULATED: "false",
            **{N.T_VERSION_PREFIX + k: v for k, v in self.versions.items()},
            **{
                N.T_HW_PREFIX + p.platform: ("available" if p.available else f"unavailable: {p.reason}")[:5000]
                for p in hardware.platforms
            },
        }
        existing = set(run.data.params)
        self.client.log_batch(
            self.parent_run_id,
            params=[Param(k, clip(v)) for k, v in params.items() if k not in existing],
            tags=[RunTag(k, clip(v, 5000)) for k, v in tags.items()],
        )
        self.client.log_dict(self.parent_run_id, hardware.to_dict(), N.A_HARDWARE)
        return self.parent_run_id

    def finish(
        self,
        results: list[ConfigResult],
        note: str,
        interrupted: bool = False,
        failed: bool | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        dicts: dict[str, Any] | None = None,
    ) -> None:
        """Close the parent: its note, results table, and (a search's) outcome metrics, tags
        and artifacts. ``failed`` defaults to "any config failed"."""
        if failed is None:
            failed = any(r.status == "failed" for r in results)
        status = "KILLED" if interrupted else ("FAILED" if failed else "FINISHED")
        self.deliver(
            PendingRun(
                self.store,
                self.experiment_id,
                self.parent_uid,
                f"{self.role}-{self.sweep_id}",
                start_ms=0,
                end_ms=int(time.time() * 1000),
                run_id=self.parent_run_id,
                status=status if self._owns_parent else None,  # `mlflow run` closes its own run from our exit code
                metrics={k: float(v) for k, v in (metrics or {}).items()},
                tags={N.MLFLOW_RUN_NOTE: note, **{k: clip(v, 5000) for k, v in (tags or {}).items()}},
                dicts={N.A_RESULTS: {"results": [r.to_row() for r in results]}, **(dicts or {})},
            )
        )

    def deliver(self, run: PendingRun) -> str:
        """Write ``run`` to the store; once the store has stopped answering, to the outbox
        instead (the rest of the sweep goes on measuring). The run id, or "" when kept."""
        if not self.offline:
            try:
                return write_run(self.client, run)
            except BaseException as exc:  # refused, or Ctrl-C while writing: the child is ended, never left running
                if not (isinstance(exc, Exception) and is_unreachable(exc)):
                    if run.run_id and run.run_id != self.parent_run_id:
                        self._end_killed(run.run_id)
                    raise
                self.offline = True
        self.outbox.put(run)
        self.outboxed += 1
        return ""

    def _end_killed(self, run_id: str) -> None:
        with contextlib.suppress(Exception):  # the store is gone too: the replay completes the run
            self.client.set_terminated(run_id, status="KILLED")

    # -- children ----------------------------------------------------------------------
    def log_config(self, result: ConfigResult, started_at: float, log_model: bool = False) -> str:
        """Create the finished child run for one config; returns its run id.

        ``log_model`` also logs the converted model file(s) that ``model_path`` names
        (OpenVINO IR .xml + .bin, ONNX file) under the artifact folder ``model/``.
        """
        tags = {
            N.MLFLOW_PARENT_RUN_ID: self.parent_run_id,
            N.T_ROLE: "config",
            N.T_SWEEP_ID: self.sweep_id,
            N.T_HOST: self.host,
            **{N.T_VERSION_PREFIX + k: v for k, v in self.versions.items()},
            **result.tags,
        }
        dicts = {}
        if result.measurement is not None:
            dicts[N.A_RAW_SAMPLES] = {
                "unit": "ms",
                "batch_size": result.config.batch_size,
                "wall_s": result.measurement.wall_s,
                "latencies_ms": list(result.measurement.samples_ms),
            }
            if result.generations:  # scenario generate: latencies are end to end; each token's time after t0
                dicts[N.A_RAW_SAMPLES]["token_times_ms"] = [g["token_ms"] for g in result.generations]
        files = model_files(str(result.params.get("model_path", ""))) if log_model else []
        return self.deliver(
            PendingRun(
                self.store,
                self.experiment_id,
                new_uid(),
                result.config.run_name,
                start_ms=int(started_at * 1000),
                end_ms=int(time.time() * 1000),
                status="FAILED" if result.status == "failed" else "FINISHED",
                params={k: clip(v) for k, v in result.params.items()},
                metrics={k: float(v) for k, v in result.metrics.items()},
                tags={k: clip(v, 5000) for k, v in tags.items()},
                dicts=dicts,
                files=[(str(f), "model") for f in files],
            )
        )
