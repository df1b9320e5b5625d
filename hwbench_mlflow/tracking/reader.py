"""Reading a tracking store: :class:`RunReader` (pages of runs and their raw-sample artifacts,
for ``hwbench sync``) and the short reads matrix.py, ui_url.py and freshness.py ask for
instead of building an MlflowClient of their own."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import names as N
from .connect import open_client, reading_client
from .uri import http_auth, sqlite_path


class RunReader:
    """Read-only access to a tracking store for ``hwbench sync``: experiments, pages of runs
    through MLflow's public search API, the soft-deleted ids, the raw-sample artifacts."""

    PAGE_SIZE = 1000
    ID_CHUNK = 100  # run ids per `attributes.run_id IN (...)` filter

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = open_client(tracking_uri)

    def experiments(self) -> dict[str, str]:
        """Active experiments: id → name."""
        out: dict[str, str] = {}
        token = None
        while True:
            page = self.client.search_experiments(max_results=1000, page_token=token)
            out.update({e.experiment_id: e.name for e in page})
            token = page.token
            if not token:
                return out

    def pages(self, experiment_ids: list[str], filter_string: str = "", deleted: bool = False) -> Iterator[list[Any]]:
        """Every matching run, a page at a time."""
        from mlflow.entities import ViewType

        if not experiment_ids:
            return
        token = None
        view = ViewType.DELETED_ONLY if deleted else ViewType.ACTIVE_ONLY
        while True:
            page = self.client.search_runs(
                experiment_ids, filter_string, run_view_type=view, max_results=self.PAGE_SIZE, page_token=token
            )
            yield list(page)
            token = page.token
            if not token:
                return

    def deleted_ids(self, experiment_ids: list[str]) -> set[str]:
        return {r.info.run_id for page in self.pages(experiment_ids, deleted=True) for r in page}

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> Iterator[list[Any]]:
        """The active runs among ``run_ids`` (missing ones were purged)."""
        for i in range(0, len(run_ids), self.ID_CHUNK):
            quoted = ", ".join(f"'{r}'" for r in run_ids[i : i + self.ID_CHUNK] if re.fullmatch(r"[\w-]+", r))
            if quoted:
                yield from self.pages(experiment_ids, f"attributes.run_id IN ({quoted})")

    @staticmethod
    def local_artifact(artifact_uri: str, name: str) -> str | None:
        """The file's path when the run's artifacts are on this filesystem, else None."""
        if artifact_uri.startswith("file:"):
            from urllib.parse import unquote

            return os.path.join(unquote(urlsplit(artifact_uri).path), name)
        if artifact_uri.startswith("/"):
            return os.path.join(artifact_uri, name)
        return None

    def download_artifacts(self, runs: list[tuple[str, str]], name: str, dest: Path) -> list[tuple[str, str]]:
        """Fetch ``name`` of each (run id, artifact uri) from a remote artifact store into
        ``dest/<run id>/``, a few at a time; [(run id, local path)] of those that exist."""
        from concurrent.futures import ThreadPoolExecutor

        from mlflow.artifacts import download_artifacts

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file, thousands

        proxied = self.tracking_uri.startswith(("http://", "https://"))
        local = threading.local()

        def fetch(item: tuple[str, str]) -> tuple[str, str] | None:
            run_id, uri = item
            if proxied and uri.startswith("mlflow-artifacts:/"):
                return fetch_proxied(run_id, uri)
            try:
                path = download_artifacts(artifact_uri=f"{uri.rstrip('/')}/{name}", dst_path=str(dest / run_id))
            except Exception:  # no such artifact (a failed config has none)
                return None
            return run_id, path

        def fetch_proxied(run_id: str, uri: str) -> tuple[str, str] | None:
            """The server's artifact proxy, one GET on a kept-alive session per thread: MLflow's
            generic download lists the folder first and opens a connection per file."""
            import requests

            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.auth = http_auth()
            path = urlsplit(uri).path.lstrip("/")
            url = f"{self.tracking_uri.rstrip('/')}/api/2.0/mlflow-artifacts/artifacts/{path.rstrip('/')}/{name}"
            answer = local.session.get(url, timeout=120)
            if answer.status_code == 404:
                return None  # no such artifact (a failed config has none)
            answer.raise_for_status()
            target = dest / run_id / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(answer.content)
            return run_id, str(target)

        with ThreadPoolExecutor(max_workers=8) as pool:
            return [r for r in pool.map(fetch, runs) if r is not None]


# ----------------------------------------------------------------------------- short reads for other modules


def last_config_statuses(tracking_uri: str) -> list[tuple[str, ...]]:
    """Every config run, newest first, as ``(model, hardware, backend, precision, mode, status,
    error category, run id)`` ("" where a run lacks one; mode ``generate`` for that scenario).
    Reads only a store that already exists: an absent SQLite file is no runs, and stays absent."""
    path = sqlite_path(tracking_uri)
    if path is not None and not Path(path).exists():
        return []
    client = reading_client(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    if not exps:
        return []
    runs = client.search_runs(
        exps, f"tags.`{N.T_ROLE}` = 'config'", max_results=5000, order_by=["attributes.start_time DESC"]
    )

    def mode(params: dict[str, str]) -> str:  # the matrix's mode column: "generate" for that scenario
        return "generate" if params.get("scenario") == "generate" else params.get("mode", "")

    return [
        (
            *(r.data.params.get(k, "") for k in ("model", "hardware", "backend", "precision")),
            mode(r.data.params),
            r.data.tags.get(N.T_STATUS, ""),
            r.data.tags.get(N.T_ERROR_CATEGORY, ""),
            r.info.run_id,
        )
        for r in runs
    ]


def experiment_id_for_ui(tracking_uri: str, name: str | None) -> str | None:
    """The id of the active experiment ``name`` in the store; None when absent (a missing
    SQLite file stays missing: nothing is created). ``name`` None: the experiment of the
    newest sweep or search (``mlflow run`` puts them where its ``--experiment-name`` says),
    else ``hwbench``'s."""
    path = sqlite_path(tracking_uri)
    if path is not None and not Path(path.split("?", 1)[0]).is_file():
        return None
    client = reading_client(tracking_uri)
    if name is None:
        exps = [e.experiment_id for e in client.search_experiments(max_results=1000)]
        newest = [
            run
            for role in ("sweep", "search")  # MLflow's filter has no IN for tags
            for run in client.search_runs(
                exps, f"tags.`{N.T_ROLE}` = '{role}'", max_results=1, order_by=["attributes.start_time DESC"]
            )
        ]
        if newest:
            return str(max(newest, key=lambda r: r.info.start_time).info.experiment_id)
        name = N.DEFAULT_EXPERIMENT
    exp = client.get_experiment_by_name(name)
    if exp is None or exp.lifecycle_stage != "active":
        return None
    return str(exp.experiment_id)


def config_runs_ended_since(tracking_uri: str, since_ms: int, limit: int) -> list[str]:
    """The ids of up to ``limit`` config runs that ended at or after ``since_ms``."""
    reader = RunReader(tracking_uri)
    exp_ids = list(reader.experiments())
    if not exp_ids:
        return []
    runs = reader.client.search_runs(
        exp_ids,
        f"attributes.end_time >= {since_ms} AND tags.`{N.T_ROLE}` = 'config'",
        max_results=limit,
    )
    return [r.info.run_id for r in runs]
