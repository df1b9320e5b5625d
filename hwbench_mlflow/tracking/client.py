"""The only module that talks to MLflow: experiments, the sweep parent run, one nested
child run per config, artifacts. Names come from :mod:`hwbench_mlflow.names`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .. import names as N
from ..errors import BadInputError
from .orphans import owner_tags
from .outbox import Outbox, PendingRun, is_unreachable, new_uid, write_run

if TYPE_CHECKING:
    from ..hardware import HardwareReport
    from ..results import ConfigResult

VERSIONED_LIBRARIES = ("torch", "transformers", "mlflow", "numpy", "hwbench-mlflow")


def resolve_tracking_uri(uri: str | None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the cwd."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return "sqlite:///" + str(Path.cwd() / "mlflow.db")
    return uri


def redact_uri(uri: str) -> str:
    """The URI with any password removed, safe to print or log."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_tracking_uri(uri: str) -> None:
    """Fail fast, before anything is measured or logged, when the store cannot be reached."""
    shown = redact_uri(uri)
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise BadInputError(f"malformed tracking URI {shown}: {exc}") from None
    scheme = parts.scheme if "://" in uri else ""
    if scheme in ("http", "https"):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=5)
            answer = requests.get(
                uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
                params={"max_results": 1},
                auth=_http_auth(),
                timeout=30,
            )
        except requests.RequestException as exc:
            reason = re.sub(r"\s+", " ", type(exc).__name__)
            raise BadInputError(f"tracking server unreachable at {shown} ({reason})") from None
        if answer.status_code == 401:
            raise BadInputError(
                f"the tracking server at {shown} refused the credentials (HTTP 401): "
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        if answer.status_code == 403:
            raise BadInputError(f"the tracking server at {shown} denied access to this user (HTTP 403)")
    elif scheme == "sqlite":
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise BadInputError(f"tracking URI {shown} names no database file (example: sqlite:///mlflow.db)")
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise BadInputError(f"tracking store directory does not exist: {parent} (from {shown})")
        if not os.access(parent, os.W_OK):
            raise BadInputError(f"tracking store directory is not writable: {parent}")
    elif scheme in ("", "file"):
        path = Path(parts.path if scheme else uri)
        if not path.parent.exists():
            raise BadInputError(f"tracking store directory does not exist: {path.parent}")
    elif scheme not in ("postgresql", "mysql", "mssql", "databricks", "databricks-uc", "postgresql+psycopg2"):
        raise BadInputError(f"unsupported tracking URI scheme '{scheme}' in {shown}")


def _http_auth() -> Any:
    """The credentials MLflow's own client sends, from MLflow's own environment variables."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return (user, password)
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:

        def bearer(request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {token}"
            return request

        return bearer
    return None


def library_versions() -> dict[str, str]:
    out = {}
    for lib in VERSIONED_LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    import platform

    out["python"] = platform.python_version()
    return out


def _clip(value: Any, limit: int = 6000) -> str:
    s = str(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def experiment_id(client: Any, name: str) -> str:
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


def model_files(model_path: str) -> list[Path]:
    """The files behind a converted model's ``model_path`` (an IR's .xml has its .bin)."""
    path = Path(model_path)
    if not model_path or not path.is_file():
        return []
    weights = path.with_suffix(".bin")
    return [path, weights] if path.suffix == ".xml" and weights.is_file() else [path]


class SweepTracker:
    """One sweep = one parent run (or the active ``mlflow run`` run) + a child run per config.

    A child run is written only once its config has finished, in a single batch, so an
    interrupted sweep never leaves a half-written child.
    """

    def __init__(self, tracking_uri: str, experiment: str, sweep_id: str, role: str = "sweep") -> None:
        self.tracking_uri = tracking_uri
        self.client = _client(tracking_uri)
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
            self.experiment_id = experiment_id(self.client, self.experiment_name)
            from .ui_url import ensure_runs_view

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
            params=[Param(k, _clip(v)) for k, v in params.items() if k not in existing],
            tags=[RunTag(k, _clip(v, 5000)) for k, v in tags.items()],
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
                tags={N.MLFLOW_RUN_NOTE: note, **{k: _clip(v, 5000) for k, v in (tags or {}).items()}},
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
                params={k: _clip(v) for k, v in result.params.items()},
                metrics={k: float(v) for k, v in result.metrics.items()},
                tags={k: _clip(v, 5000) for k, v in tags.items()},
                dicts=dicts,
                files=[(str(f), "model") for f in files],
            )
        )


def _http_client_settings(uri: str) -> None:
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


class RunReader:
    """Read-only access to a tracking store for ``hwbench sync``: experiments, pages of runs
    through MLflow's public search API, the soft-deleted ids, the raw-sample artifacts."""

    PAGE_SIZE = 1000
    ID_CHUNK = 100  # run ids per `attributes.run_id IN (...)` filter

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = _client(tracking_uri)

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
                local.session.auth = _http_auth()
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

    client = _client(tracking_uri)
    adopted = os.environ.get("MLFLOW_RUN_ID")
    if adopted:
        run_id = adopted
        existing = set(client.get_run(run_id).data.params)
        params = {k: v for k, v in params.items() if k not in existing}
    else:
        exp_id = experiment_id(client, experiment)
        run_id = client.create_run(exp_id, run_name=f"{role}-" + time.strftime("%Y%m%d-%H%M%S")).info.run_id
    try:
        client.log_batch(
            run_id,
            params=[Param(k, _clip(v)) for k, v in params.items()],
            tags=[
                RunTag(N.T_ROLE, role),
                RunTag(N.T_HOST, socket.gethostname()),
                RunTag(N.MLFLOW_RUN_NOTE, _clip(note, 5000)),
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


def announce_orphans(client: Any) -> int:
    """Close runs left RUNNING by a process that is gone (orphans.py) and say so on stderr."""
    from .orphans import close_orphaned_runs, describe

    closed = close_orphaned_runs(client)
    if closed:
        print(f"hwbench: {describe(closed)}", file=sys.stderr)
    return len(closed)


def replay_outbox(tracking_uri: str | None) -> int:
    """Write the runs the outbox keeps for this store (``hwbench sync --replay``); how many."""
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_uri(uri)
    return Outbox().replay(_client(uri), redact_uri(uri))


def _client(tracking_uri: str) -> Any:
    import logging

    from mlflow import MlflowClient

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _http_client_settings(tracking_uri)
    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri)
    with sqlite_store_lock(tracking_uri[len("sqlite:///") :]):  # creates and migrates the store, one at a time
        client = MlflowClient(tracking_uri)
        client.search_experiments(max_results=1)
    return client


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


# ----------------------------------------------------------------------------- reads for other modules
# matrix.py, ui_url.py and freshness.py ask these instead of building an MlflowClient of their own.


def _reading_client(tracking_uri: str) -> Any:
    """A plain client for a short read of a store that exists (no lock, no settings changed)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def last_config_statuses(tracking_uri: str) -> list[tuple[str, ...]]:
    """Every config run, newest first, as ``(model, hardware, backend, precision, mode, status,
    error category, run id)`` ("" where a run lacks one). Reads only a store that already
    exists: an absent SQLite file is no runs, and stays absent."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[len("sqlite:///") :]).exists():
        return []
    client = _reading_client(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    if not exps:
        return []
    runs = client.search_runs(
        exps, f"tags.`{N.T_ROLE}` = 'config'", max_results=5000, order_by=["attributes.start_time DESC"]
    )
    return [
        (
            *(r.data.params.get(k, "") for k in ("model", "hardware", "backend", "precision", "mode")),
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
    if tracking_uri.startswith("sqlite:///"):
        path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
        if not Path(path).is_file():
            return None
    client = _reading_client(tracking_uri)
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


def ensure_experiment_tag(tracking_uri: str, experiment_id: str, key: str, value: str, client: Any = None) -> bool:
    """Set the experiment tag ``key`` to ``value`` unless the experiment has that tag already
    (its value is kept). True when the tag is there; False where the store refuses (a
    read-only server or file, no permission, a server error)."""
    from mlflow import MlflowClient

    try:
        client = client or MlflowClient(tracking_uri)
        if key not in client.get_experiment(experiment_id).tags:
            client.set_experiment_tag(experiment_id, key, value)
    except Exception:  # whatever the store says (permission, read-only file, server error)
        return False
    return True


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
