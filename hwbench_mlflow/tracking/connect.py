"""Building an ``MlflowClient`` (the package's only place that does) and the experiment
helpers every writer shares: get-or-create, set a tag once, clip a value to MLflow's limits."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .uri import sqlite_path


def clip(value: Any, limit: int = 6000) -> str:
    """``value`` as a string MLflow accepts (params: 6000 characters; tags: pass 5000)."""
    s = str(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def http_client_settings(uri: str) -> None:
    """For a tracking server: MLflow retries a refused request with a growing back-off for
    minutes by default, so a sweep notices a server that went away within seconds instead and
    keeps the runs in the outbox; and MLflow prints two URLs (after one more request) per
    finished run on stdout, which a sweep of hundreds of runs does not want. The user's own
    MLFLOW_* settings win."""
    if not uri.startswith(("http://", "https://")):
        return
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


@contextlib.contextmanager
def sqlite_store_lock(db_path: str) -> Iterator[None]:
    """An exclusive lock beside a SQLite store while MLflow creates or migrates its schema:
    two processes starting on a store that does not exist yet would otherwise race in
    MLflow's migrations ("Online migration expected to match one row") and one would die."""
    import fcntl

    fd = os.open(Path(db_path).resolve().parent, os.O_RDONLY)  # the store's directory: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def open_client(tracking_uri: str) -> Any:
    """A client for writing or syncing: MLflow's loggers quietened, a server's retries
    shortened, a SQLite store created and migrated under :func:`sqlite_store_lock`."""
    import logging

    from mlflow import MlflowClient

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    http_client_settings(tracking_uri)
    path = sqlite_path(tracking_uri)
    if path is None:
        return MlflowClient(tracking_uri)
    with sqlite_store_lock(path):  # creates and migrates the store, one at a time
        client = MlflowClient(tracking_uri)
        client.search_experiments(max_results=1)
    return client


def reading_client(tracking_uri: str) -> Any:
    """A plain client for a short read of a store that exists (no lock, no settings changed)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def get_or_create_experiment(client: Any, name: str) -> str:
    """The experiment's id, created if missing; two hosts creating it at once both get it."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def ensure_experiment_tag(tracking_uri: str, experiment_id: str, key: str, value: str, client: Any = None) -> bool:
    """Set the experiment tag ``key`` to ``value`` unless the experiment has that tag already
    (its value is kept). True when the tag is there; False where the store refuses (a
    read-only server or file, no permission, a server error)."""
    try:
        client = client or reading_client(tracking_uri)
        if key not in client.get_experiment(experiment_id).tags:
            client.set_experiment_tag(experiment_id, key, value)
    except Exception:  # whatever the store says (permission, read-only file, server error)
        return False
    return True
