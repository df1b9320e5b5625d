"""Where the tracking names used to live, kept importable while callers move to their homes:
:mod:`.uri` (URIs), :mod:`.connect` (clients, experiments), :mod:`.sweep` (the sweep writer),
:mod:`.reader` (reads), :mod:`.records` (single runs, the outbox replay)."""

from __future__ import annotations

from .connect import ensure_experiment_tag, sqlite_store_lock
from .reader import RunReader, config_runs_ended_since, experiment_id_for_ui, last_config_statuses
from .records import log_output_run, log_sync_report, replay_outbox
from .sweep import SweepTracker, announce_orphans
from .uri import check_tracking_uri, redact_uri, resolve_tracking_uri

__all__ = [
    "RunReader",
    "SweepTracker",
    "announce_orphans",
    "check_tracking_uri",
    "config_runs_ended_since",
    "ensure_experiment_tag",
    "experiment_id_for_ui",
    "last_config_statuses",
    "log_output_run",
    "log_sync_report",
    "redact_uri",
    "replay_outbox",
    "resolve_tracking_uri",
    "sqlite_store_lock",
]
