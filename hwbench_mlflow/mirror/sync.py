"""Mirror MLflow runs into DuckDB: incremental, idempotent, atomic.

What MLflow (3.17) lets a sync see, and how each case converges:

* **new and finished runs**: ``attributes.end_time >= watermark - slack``. A run is
  mirrored once it has ended (FINISHED / FAILED config runs are results; a sweep run when
  it ends), so a run that was RUNNING at the last sync is read when it ends. The
  watermark is the previous sync's start; ``slack`` covers clocks of other hosts and
  writers slower than the sync.
* **soft-deleted runs**: ``run_view_type=DELETED_ONLY`` every sync; they leave the mirror.
  The ids are kept, so a run restored later is read back by id.
* **metrics or tags logged later onto old runs, and runs purged by ``mlflow gc``**: no
  search filter sees either, so each incremental sync re-reads a window of mirrored runs
  by start time (``recheck`` runs, less what the sync already read, at least a tenth),
  moving on each time and wrapping around: every run is compared again after at most
  ``ceil(10 * runs / recheck)`` syncs, changes are rewritten, and mirrored runs missing
  from their window (purged) are removed. ``--full`` rebuilds everything at once.

Each sync is one DuckDB transaction (the watermark included): killed halfway, the file
keeps the previous state and the next sync starts from it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import names as N
from ..errors import BadInputError
from .files import DEFAULT_DB_PATH, DEFAULT_LOCK_TIMEOUT_S, SQLITE_MAGIC, check_mirror_file
from .loader import SampleLoader
from .store import IndexEntry, MirrorStore

DEFAULT_RECHECK = 100
DEFAULT_SLACK_S = 600.0
TERMINAL_RESULT_STATUSES = ("FINISHED", "FAILED")
REQUIRED_PARAMS = ("model", "hardware", "device", "backend", "precision", "batch_size", "mode")

# performance_results columns filled from MLflow metrics of the same name (the columns and
# their types are the schema's: analysis/schema/*.sql, read back by MirrorStore.arrow_columns)
METRIC_COLUMNS = (
    *N.CONTRACT_METRICS,
    N.M_GPU_MEMORY_PEAK,
    N.M_ENERGY,
    N.M_CI_LOW,
    N.M_CI_HIGH,
    N.M_PAGE_FAULTS,
    N.M_MEMORY_BASELINE,
    N.M_HOST_OTHER_CPU,
    N.M_HOST_STEAL,
    N.M_HOST_LOADAVG_START,
    N.M_HOST_LOADAVG_END,
    *N.GENERATION_METRICS,
)


@dataclass
class SyncReport:
    """What one sync did."""

    kind: str  # full | incremental
    db_path: str
    tracking_uri: str
    runs_read: int = 0
    rows_written: int = 0
    rows_removed: int = 0
    samples_written: int = 0
    runs_ignored: int = 0
    seconds: float = 0.0
    ignored: Counter[str] = field(default_factory=Counter)
    unreadable_samples: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "runs_read": self.runs_read,
            "rows_written": self.rows_written,
            "rows_removed": self.rows_removed,
            "samples_written": self.samples_written,
            "runs_ignored": self.runs_ignored,
        }

    def line(self) -> str:
        text = (
            f"{self.kind} sync of {self.tracking_uri} into {self.db_path}: {self.runs_read} runs read, "
            f"{self.rows_written} rows written, {self.rows_removed} removed, "
            f"{self.samples_written} raw samples, {self.seconds:.2f} s"
        )
        if self.ignored:
            text += "; not mirrored: " + ", ".join(f"{n} {why}" for why, n in self.ignored.most_common())
        if self.unreadable_samples:
            text += (
                f"; {len(self.unreadable_samples)} unreadable {N.A_RAW_SAMPLES} (e.g. run {self.unreadable_samples[0]})"
            )
        return text


# ----------------------------------------------------------------------------- run → rows


def _json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() == "true"


def _digest(info: Any, params: str, metrics: str, tags: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (info.status, str(info.start_time), str(info.end_time), info.experiment_id, params, metrics, tags):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _run_record(info: Any, params_j: str, metrics_j: str, tags_j: str) -> dict[str, Any]:
    """The columns every mirrored run row ends with: its times, the run as JSON, a hash."""
    return {
        "created_at": info.start_time,
        "ended_at": info.end_time,
        "params": params_j,
        "metrics": metrics_j,
        "tags": tags_j,
        "content_hash": _digest(info, params_j, metrics_j, tags_j),
    }


def result_row(run: Any, experiment_name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | str:
    """(row, model, platform) for a finished config run, or why it is not mirrored."""
    info, p, m, t = run.info, run.data.params, run.data.metrics, run.data.tags
    if info.status not in TERMINAL_RESULT_STATUSES:
        return f"config runs {info.status}"
    missing = [k for k in REQUIRED_PARAMS if not p.get(k)]
    status = t.get(N.T_STATUS, "")
    batch = _int(p.get("batch_size"))
    if missing or status not in N.STATUSES or batch is None or batch < 1:
        return "config runs without hwbench's params/tags"
    host = t.get(N.T_HOST) or "unknown"
    hardware_id = f"{host}/{p['hardware']}/{p['device']}"
    params_j, metrics_j, tags_j = _json(p), _json(m), _json(t)
    row = {
        "mlflow_run_id": info.run_id,
        "model_id": p["model"],
        "hardware_id": hardware_id,
        "backend": p["backend"],
        "precision": p["precision"],
        "batch_size": batch,
        "mode": p["mode"],
        "scenario": p.get("scenario") or "latency",
        "input_shape": p.get("input_shape"),
        "model_path": p.get("model_path"),
        "seq_length": _int(p.get("seq_length")),
        "prompt_tokens": _int(p.get("prompt_tokens")),
        "new_tokens": _int(p.get("new_tokens")),
        "decoding": p.get("decoding"),
        "weights_format": p.get("weights_format"),
        "weights_executed": p.get("weights_executed"),
        "status": status,
        "error_category": t.get(N.T_ERROR_CATEGORY),
        "error_message": t.get(N.T_ERROR_MESSAGE),
        "is_simulated": bool(_bool(t.get(N.T_IS_SIMULATED))),
        "simulation_reason": t.get(N.T_SIMULATION_REASON),
        "weights": t.get(N.T_WEIGHTS),
        **{k: m.get(k) for k in METRIC_COLUMNS},
        "stop_reason": t.get(N.T_STOP_REASON),
        "ci_target_met": _bool(t.get(N.T_CI_MET)),
        "host_contended": _bool(t.get(N.T_HOST_CONTENDED)),
        "percentile_warning": t.get(N.T_PERCENTILE_WARNING),
        "samples_count": 0,
        "experiment_id": info.experiment_id,
        "experiment_name": experiment_name,
        "sweep_id": t.get(N.T_SWEEP_ID),
        "parent_run_id": t.get(N.MLFLOW_PARENT_RUN_ID),
        "run_name": info.run_name,
        "host": host,
        "run_status": info.status,
        **_run_record(info, params_j, metrics_j, tags_j),
    }
    model = {"model_id": p["model"], "model_name": p.get("model_name") or p["model"], "category": p.get("category")}
    platform = {
        "hardware_id": hardware_id,
        "hardware_type": p["hardware"],
        "hardware_name": p.get("hardware_name"),
        "device": p["device"],
        "host": host,
    }
    return row, model, platform


def sweep_rows(run: Any, experiment_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | str:
    """(sweep row, availability rows) for an ended sweep or search run, or why it is not mirrored."""
    info, p, t = run.info, run.data.params, run.data.tags
    if info.status == "RUNNING" or not info.end_time:
        return "sweep runs still RUNNING"
    host = t.get(N.T_HOST) or "unknown"
    params_j, metrics_j, tags_j = _json(p), _json(run.data.metrics), _json(t)
    row = {
        "mlflow_run_id": info.run_id,
        "sweep_id": t.get(N.T_SWEEP_ID),
        "experiment_id": info.experiment_id,
        "experiment_name": experiment_name,
        "host": host,
        "run_status": info.status,
        "is_simulated": bool(_bool(t.get(N.T_IS_SIMULATED))),
        "configs": _int(p.get("sweep_configs")),
        "kind": t.get(N.T_ROLE, "sweep"),
        **_run_record(info, params_j, metrics_j, tags_j),
    }
    availability = []
    for key, value in sorted(t.items()):
        if key.startswith(N.T_HW_PREFIX):
            ok = value == "available"
            availability.append(
                {
                    "detection_id": info.run_id,
                    "hardware_type": key[len(N.T_HW_PREFIX) :],
                    "host": host,
                    "is_available": ok,
                    "reason": None if ok else value.removeprefix("unavailable:").strip(),
                    "detected_at": info.start_time,
                    "sweep_id": t.get(N.T_SWEEP_ID),
                    "mlflow_run_id": info.run_id,
                }
            )
    return row, availability


# ----------------------------------------------------------------------------- the sync


def normalise_uri(uri: str) -> str:
    """A relative sqlite path made absolute, so one store has one name in the mirror."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if path and path != ":memory:":
            return "sqlite:///" + str(Path(path).resolve())
    return uri


def check_sqlite_store(path: str) -> None:
    """Refuse an ``sqlite:///`` store that MLflow cannot read (truncated, random bytes, another
    program's database) with one line naming it, before anything is written; it is only read."""
    import sqlite3

    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        raise BadInputError(f"no MLflow store at {path}: nothing to sync (run `hwbench run`)")
    with p.open("rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BadInputError(f"{path} is not an MLflow store (not an SQLite database)")
    try:
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return  # cannot open it (permissions): MLflow says why
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorname", None) in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):  # truncated, damaged
            raise BadInputError(f"{path} is a damaged MLflow store (SQLite: {exc})") from None
        return  # busy for longer than the timeout, or an I/O error: MLflow waits or says why
    finally:
        con.close()
    if not {"experiments", "runs"} <= tables:
        raise BadInputError(f"{path} is not an MLflow store (an SQLite database without MLflow's tables)")


class Syncer:
    """Mirrors one tracking store into one DuckDB file; keeps its MLflow client between syncs
    (``--watch``), and opens the DuckDB file only while a sync runs."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        recheck: int = DEFAULT_RECHECK,
        slack_s: float = DEFAULT_SLACK_S,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        from ..tracking.uri import check_tracking_uri, redact_uri, resolve_tracking_uri

        check_mirror_file(db_path)  # before MLflow is read: a foreign file is refused untouched
        uri = normalise_uri(resolve_tracking_uri(tracking_uri))
        check_tracking_uri(uri)
        if uri.startswith("sqlite:///"):
            check_sqlite_store(uri[len("sqlite:///") :])
        if recheck < 0:
            raise BadInputError(f"recheck must be >= 0, got {recheck}", param="recheck")
        self.uri = uri
        self.uri_key = redact_uri(uri)
        self.db_path = Path(db_path)
        self.recheck = recheck
        self.slack_ms = int(slack_s * 1000)
        self.lock_timeout_s = lock_timeout_s
        self._reader: Any = None

    @property
    def reader(self) -> Any:
        if self._reader is None:
            from ..tracking.reader import RunReader

            self._reader = RunReader(self.uri)
        return self._reader

    def run(self, full: bool = False, on_progress: Callable[[int], None] | None = None) -> SyncReport:
        """One sync; ``full`` rebuilds the mirror from every run."""
        from ..tracking.sweep import announce_orphans

        announce_orphans(self.reader.client)  # closed now, so this sync mirrors them as interrupted
        started = time.time()
        t0 = time.perf_counter()
        with MirrorStore(self.db_path, self.lock_timeout_s) as store:
            state = store.state()
            if state.tracking_uri not in (None, self.uri_key) and not full:
                raise BadInputError(
                    f"{self.db_path} mirrors {state.tracking_uri}, not {self.uri_key}; "
                    "use --full to rebuild it from this store, or another --db-path"
                )
            full = full or state.watermark_ms is None
            report = SyncReport("full" if full else "incremental", str(self.db_path), self.uri_key)
            pass_ = _SyncPass(self, store, report, store.index(), full, on_progress)
            with store.transaction(), _gc_paused():
                pass_.execute(state, int(started * 1000))
            with store.transaction():
                store.gc_dimensions()
                report.seconds = time.perf_counter() - t0
                store.log_sync(report.kind, started, report.seconds, report.counts())
        return report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while MLflow's ORM builds thousands of short-lived objects: each
    collection would walk the whole heap of an interpreter that imported mlflow (measured:
    a third of search_runs' time). Refcounting still frees them; GC resumes after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _SyncPass:
    """The work of one sync inside the store's transaction."""

    def __init__(
        self,
        syncer: Syncer,
        store: MirrorStore,
        report: SyncReport,
        known: dict[str, IndexEntry],
        full: bool,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.syncer, self.store, self.report, self.known, self.full = syncer, store, report, known, full
        self.on_progress = on_progress
        self.seen: set[str] = set()
        self.results: list[dict[str, Any]] = []
        self.sweeps: list[dict[str, Any]] = []
        self.availability: list[dict[str, Any]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.platforms: dict[str, dict[str, Any]] = {}
        self.remove: set[str] = set()
        self.remote: list[tuple[str, str]] = []
        self.loader: SampleLoader | None = None
        self.experiments: dict[str, str] = {}

    def execute(self, state: Any, now_ms: int) -> None:
        reader, store, full = self.syncer.reader, self.store, self.full
        self.experiments = reader.experiments()
        exp_ids = list(self.experiments)
        deleted = reader.deleted_ids(exp_ids)
        cursor = 0
        if full:
            store.clear_mirror()
        self.loader = SampleLoader(store)
        try:
            if full:
                for page in reader.pages(exp_ids):
                    self.consume(page)
            else:
                since = max(0, (state.watermark_ms or 0) - self.syncer.slack_ms)
                for page in reader.pages(exp_ids, f"attributes.end_time >= {since}"):
                    self.consume(page)
                restored = sorted(state.deleted - deleted)
                for page in reader.runs_by_id(exp_ids, restored):
                    self.consume(page)
                cursor = self.recheck(exp_ids, state.recheck_cursor_ms)
                gone_exps = {rid for rid, e in self.known.items() if e.experiment_id not in self.experiments}
                self.remove |= (deleted & set(self.known)) | gone_exps
            counts = self.finish_samples()
        except BaseException:
            self.loader.cancel()  # before the rollback: its thread writes into this transaction
            raise
        self.write(counts)
        store.set_state(self.syncer.uri_key, now_ms, cursor, deleted, full)

    def recheck(self, exp_ids: list[str], cursor_ms: int) -> int:
        """Re-read one window of runs by start time; remove mirrored runs gone from it; the next cursor."""
        if self.syncer.recheck == 0 or not self.known:
            return cursor_ms
        # a busy sync rechecks less (a tenth at least): the work of one sync stays bounded
        size = max(self.syncer.recheck // 10, self.syncer.recheck - self.report.runs_read, 1)
        start, end = self.store.recheck_window(cursor_ms, size)
        where = f"attributes.start_time >= {start}" + (f" AND attributes.start_time < {end}" if end else "")
        returned: set[str] = set()
        for page in self.syncer.reader.pages(exp_ids, where):
            returned |= {r.info.run_id for r in page}
            self.consume(page)
        in_window = {
            rid for rid, e in self.known.items() if e.created_ms >= start and (end is None or e.created_ms < end)
        }
        self.remove |= in_window - returned
        return end if end is not None else 0

    def consume(self, page: list[Any]) -> None:
        """Classify a page of runs; queue what changed."""
        samples: list[tuple[str, str]] = []
        for run in page:
            rid = run.info.run_id
            if rid in self.seen:
                continue
            self.seen.add(rid)
            self.report.runs_read += 1
            prior = None if self.full else self.known.get(rid)
            exp_name = self.experiments.get(run.info.experiment_id, "")
            role = run.data.tags.get(N.T_ROLE)
            if role == "config":
                built = result_row(run, exp_name)
                if isinstance(built, str):
                    self._ignore(rid, built)
                    continue
                row, model, platform = built
                if prior and prior.kind == "result" and prior.content_hash == row["content_hash"]:
                    continue  # unchanged
                row["samples_count"] = prior.samples_count if prior else 0
                self.results.append(row)
                self.models.setdefault(row["model_id"], model)
                self.platforms.setdefault(row["hardware_id"], platform)
                if row["status"] == "success" and row["samples_count"] == 0:
                    local = self.syncer.reader.local_artifact(run.info.artifact_uri, N.A_RAW_SAMPLES)
                    if local is not None:
                        samples.append((rid, local))
                    else:
                        self.remote.append((rid, run.info.artifact_uri))
            elif role in ("sweep", "search"):
                built_sweep = sweep_rows(run, exp_name)
                if isinstance(built_sweep, str):
                    self._ignore(rid, built_sweep)
                    continue
                row, availability = built_sweep
                if prior and prior.kind == "sweep" and prior.content_hash == row["content_hash"]:
                    continue
                self.sweeps.append(row)
                self.availability.extend(availability)
            elif role not in ("sync", "recommend", "report"):  # what reading commands record is not data
                self._ignore(rid, "runs not made by hwbench")
        if samples and self.loader is not None:
            self.loader.submit(samples)
        if self.on_progress is not None:
            self.on_progress(self.report.runs_read)

    def _ignore(self, run_id: str, why: str) -> None:
        self.report.runs_ignored += 1
        self.report.ignored[why] += 1
        if run_id in self.known:
            self.remove.add(run_id)

    def finish_samples(self) -> dict[str, int]:
        assert self.loader is not None
        if self.remote:
            with tempfile.TemporaryDirectory(prefix="hwbench-samples-") as tmp:
                files = self.syncer.reader.download_artifacts(self.remote, N.A_RAW_SAMPLES, Path(tmp))
                self.loader.submit(files)
                counts = self.loader.finish()
        else:
            counts = self.loader.finish()
        self.report.unreadable_samples = list(self.loader.unreadable)
        self.report.samples_written = sum(counts.values())
        return counts

    def write(self, counts: dict[str, int]) -> None:
        store = self.store
        for row in self.results:
            row["samples_count"] = counts.get(row["mlflow_run_id"], row["samples_count"])
        rewritten = {r["mlflow_run_id"] for r in self.results} | {r["mlflow_run_id"] for r in self.sweeps}
        self.remove -= rewritten
        removed = store.remove_runs(sorted(self.remove))
        # a full sync cleared the file first: what it held before and does not hold now
        self.report.rows_removed = len(set(self.known) - rewritten) if self.full else removed
        store.upsert_dimensions(list(self.models.values()), list(self.platforms.values()))
        store.upsert("performance_results", self.results, "mlflow_run_id")
        store.upsert("sweeps", self.sweeps, "mlflow_run_id")
        store.replace_availability([r["mlflow_run_id"] for r in self.sweeps], self.availability)
        if self.results or self.sweeps or self.remove:
            store.rename_experiments(self.experiments)
            if self.remove or self.full:
                store.settle()
            else:  # only what this sync wrote can have a newer newest run
                store.settle(sorted(self.models), sorted(self.platforms))
        self.report.rows_written = len(self.results) + len(self.sweeps)


def sync(
    tracking_uri: str | None = None,
    db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
    *,
    full: bool = False,
    recheck: int = DEFAULT_RECHECK,
    slack_s: float = DEFAULT_SLACK_S,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> SyncReport:
    """Mirror the tracking store's runs into the DuckDB file (created on first use).

    Incremental unless ``full`` (or the file is new); see the module docstring for what
    each sync reads. Returns a :class:`SyncReport`.
    """
    syncer = Syncer(tracking_uri, db_path, recheck=recheck, slack_s=slack_s, lock_timeout_s=lock_timeout_s)
    return syncer.run(full=full)
