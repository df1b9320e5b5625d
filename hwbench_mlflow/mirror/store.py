"""The writer of the DuckDB mirror of the MLflow runs.

Contract of :class:`MirrorStore` (the only code that writes the DuckDB file):

* one writer at a time: it holds DuckDB's file lock while open; another process that
  wants the file waits up to ``lock_timeout_s`` and then gets :class:`StoreBusyError`
  (one line naming the holder), never a corrupted file;
* every change goes through :meth:`MirrorStore.transaction`: all of it or none of it,
  so a sync killed halfway leaves the previous consistent state;
* rows are keyed by MLflow run id; writing the same run twice changes nothing.

The DDL and views are the ``.sql`` files under ``analysis/`` (:mod:`.schema`: ``schema/NNN_*.sql``
are numbered migrations applied once each; ``views.sql`` is re-applied when it changes).
Opening a file is :mod:`.files`; reading, querying and exporting it, :mod:`.query`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInputError
from .files import (
    DEFAULT_LOCK_TIMEOUT_S,
    open_duckdb,
)
from .schema import (
    ARROW_TYPES,
    MIRROR_TABLES,
    VIEWS_FILE,
    arrow_table,
    arrow_type,
    foreign_tables,
    migrate,
    not_a_mirror,
    schema_version,
)


@dataclass(frozen=True)
class IndexEntry:
    """What the mirror holds of one run: enough to decide whether to re-read it."""

    kind: str  # result | sweep
    content_hash: str
    created_ms: int
    samples_count: int
    experiment_id: str


@dataclass(frozen=True)
class SyncState:
    tracking_uri: str | None
    watermark_ms: int | None
    recheck_cursor_ms: int
    deleted: frozenset[str]


class MirrorStore:
    """The one writer of the DuckDB file (see the module docstring for the contract)."""

    def __init__(self, db_path: str | os.PathLike[str], lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        path = Path(db_path)
        if not path.parent.resolve().is_dir():
            raise BadInputError(f"db_path: directory does not exist: {path.parent}", param="db_path")
        self.path = path
        self.con = open_duckdb(path, read_only=False, lock_timeout_s=lock_timeout_s)
        self.lock = threading.Lock()  # the connection is used by the sample loader's thread too
        self._arrow_columns: dict[str, dict[str, Any]] = {}
        try:
            if schema_version(self.con) == 0 and (tables := foreign_tables(self.con)):
                raise not_a_mirror(path, tables)  # another program's DuckDB file: left as it is
            migrate(self.con)
            self._apply_views()
        except BaseException:
            self.con.close()
            raise

    def __enter__(self) -> MirrorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _apply_views(self) -> None:
        text = VIEWS_FILE.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        ((current,),) = self.con.execute("SELECT views_hash FROM sync_state WHERE id = 1").fetchall()
        if current == digest:
            return
        with self.transaction():
            self.con.execute(text)
            self.con.execute("UPDATE sync_state SET views_hash = ? WHERE id = 1", [digest])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an exception (Ctrl-C included) rolls everything back."""
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            with self.lock:
                self.con.execute("ROLLBACK")
            raise
        with self.lock:
            self.con.execute("COMMIT")

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement to completion; its rows."""
        with self.lock:
            return (self.con.execute(sql, params) if params is not None else self.con.execute(sql)).fetchall()

    def with_tables(self, statements: Sequence[str], **tables: Any) -> list[Any]:
        """Run ``statements`` with Arrow ``tables`` visible under their keyword names."""
        with self.lock:
            for name, table in tables.items():
                self.con.register(name, table)
            try:
                return [self.con.execute(sql).fetchall() for sql in statements]
            finally:
                for name in tables:
                    self.con.unregister(name)

    # -- reading what the mirror holds ----------------------------------------------------
    def state(self) -> SyncState:
        ((uri, wm, cursor),) = self.execute(
            "SELECT tracking_uri, watermark_ms, recheck_cursor_ms FROM sync_state WHERE id = 1"
        )
        deleted = frozenset(r[0] for r in self.execute("SELECT mlflow_run_id FROM sync_deleted_runs"))
        return SyncState(uri, wm, int(cursor or 0), deleted)

    def index(self) -> dict[str, IndexEntry]:
        rows = self.execute(
            "SELECT mlflow_run_id, 'result', content_hash, epoch_ms(created_at), samples_count, experiment_id "
            "FROM performance_results UNION ALL "
            "SELECT mlflow_run_id, 'sweep', content_hash, epoch_ms(created_at), 0, experiment_id FROM sweeps"
        )
        return {r[0]: IndexEntry(r[1], r[2], int(r[3]), int(r[4]), r[5]) for r in rows}

    def recheck_window(self, cursor_ms: int, size: int) -> tuple[int, int | None]:
        """``[cursor, end)`` holding about ``size`` mirrored runs by start time (at least one
        distinct start time, so the cursor always moves); ``end`` None = to the end."""
        starts = (
            "(SELECT epoch_ms(created_at) AS ms FROM performance_results"
            " UNION ALL SELECT epoch_ms(created_at) FROM sweeps)"
        )
        row = self.execute(f"SELECT ms FROM {starts} WHERE ms >= ? ORDER BY ms LIMIT 1 OFFSET ?", [cursor_ms, size])
        if row and row[0][0] <= cursor_ms:
            row = self.execute(f"SELECT min(ms) FROM {starts} WHERE ms > ?", [cursor_ms])
        return cursor_ms, (int(row[0][0]) if row and row[0][0] is not None else None)

    def schema_version(self) -> int:
        """The version of the schema migrations applied to this file."""
        with self.lock:
            return schema_version(self.con)

    def pending_plan_count(self) -> int:
        """Plan rows (init-db) that no synced result has filled yet."""
        ((pending,),) = self.execute("SELECT count(*) FROM benchmark_plan WHERE status = 'pending'")
        return int(pending)

    # -- writing ----------------------------------------------------------------------------
    def clear_mirror(self) -> None:
        """Everything that came from MLflow (inside the caller's transaction)."""
        for t in MIRROR_TABLES:
            self.execute(f"DELETE FROM {t}")
        self.execute("DELETE FROM hardware_availability_log WHERE mlflow_run_id IS NOT NULL")

    def remove_runs(self, run_ids: Sequence[str]) -> int:
        """Delete these runs' rows everywhere; how many result/sweep rows went."""
        if not run_ids:
            return 0
        gone = arrow_table([{"id": r} for r in run_ids], {"id": "string"})
        counts = self.with_tables(
            [
                *(
                    f"DELETE FROM {t} WHERE mlflow_run_id IN (SELECT id FROM gone)"
                    for t in ("performance_results", "sweeps")
                ),
                "DELETE FROM latency_samples WHERE mlflow_run_id IN (SELECT id FROM gone)",
                "DELETE FROM generation_token_times WHERE mlflow_run_id IN (SELECT id FROM gone)",
                "DELETE FROM hardware_availability_log WHERE mlflow_run_id IN (SELECT id FROM gone)",
            ],
            gone=gone,
        )
        return int(counts[0][0][0] + counts[1][0][0])

    def arrow_columns(self, table: str) -> dict[str, Any]:
        """``table``'s columns and the Arrow types its rows are written with, read from the DuckDB
        catalog (the schema is declared once: the migrations), once per open store."""
        columns = self._arrow_columns.get(table)
        if columns is None:
            found = self.execute(f'DESCRIBE "{table}"')  # (name, type, ...) per column, in order
            unknown = [f"{table}.{r[0]} ({r[1]})" for r in found if r[1] not in ARROW_TYPES]
            if unknown:
                raise ValueError(f"no Arrow type for {', '.join(unknown)}: add the DuckDB type to schema.ARROW_TYPES")
            columns = self._arrow_columns[table] = {r[0]: arrow_type(ARROW_TYPES[r[1]]) for r in found}
        return columns

    def upsert(self, table: str, rows: list[dict[str, Any]], key: str) -> None:
        """Replace rows by ``key``: one delete and one insert (every column of the table)."""
        if rows:
            self.with_tables(
                [
                    f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM data)",
                    f"INSERT INTO {table} BY NAME SELECT * FROM data",
                ],
                data=arrow_table(rows, self.arrow_columns(table)),
            )

    def upsert_dimensions(self, models: list[dict[str, Any]], hardware: list[dict[str, Any]]) -> None:
        """Add models / platforms not yet present (their attributes are settled by :meth:`settle`)."""
        for table, rows, key in (("models", models, "model_id"), ("hardware_platforms", hardware, "hardware_id")):
            if rows:
                self.with_tables(
                    [f"INSERT INTO {table} BY NAME SELECT DISTINCT ON ({key}) * FROM data ON CONFLICT DO NOTHING"],
                    data=arrow_table(rows, dict.fromkeys(rows[0], "string")),
                )

    def settle(self, model_ids: list[str] | None = None, hardware_ids: list[str] | None = None) -> None:
        """Derived state, recomputed from the results so that any order of syncs agrees:
        dimension attributes from each one's newest run (only these ids when given), and
        the plan's status."""
        for table, key, attrs, only in (
            ("models", "model_id", ("model_name", "category"), model_ids),
            ("hardware_platforms", "hardware_id", ("hardware_name",), hardware_ids),
        ):
            newest = ", ".join(f"arg_max(params->>'{a}', (created_at, mlflow_run_id)) AS {a}" for a in attrs)
            changed = " OR ".join(f"{table}.{a} IS DISTINCT FROM s.{a}" for a in attrs)
            where = "" if only is None else f" WHERE list_contains($ids, {key})"
            self.execute(
                f"UPDATE {table} SET {', '.join(f'{a} = s.{a}' for a in attrs)} FROM ("
                f" SELECT {key}, {newest} FROM performance_results{where} GROUP BY {key}) s"
                f" WHERE {table}.{key} = s.{key} AND ({changed})",
                {"ids": only} if only is not None else None,
            )
        if not self.execute("SELECT 1 FROM benchmark_plan LIMIT 1"):
            return
        self.execute(
            "UPDATE benchmark_plan SET status = coalesce(s.status, 'pending'), mlflow_run_id = s.mlflow_run_id,"
            " updated_at = s.created_at FROM (SELECT p.plan_key, r.status, r.mlflow_run_id, r.created_at"
            " FROM benchmark_plan p LEFT JOIN performance_results r USING"
            " (model_id, hardware_id, backend, precision, batch_size, mode, scenario)"
            " QUALIFY row_number() OVER (PARTITION BY p.plan_key ORDER BY r.created_at DESC NULLS LAST,"
            " r.mlflow_run_id) = 1) s WHERE benchmark_plan.plan_key = s.plan_key"
            " AND (benchmark_plan.mlflow_run_id IS DISTINCT FROM s.mlflow_run_id"
            " OR benchmark_plan.status IS DISTINCT FROM coalesce(s.status, 'pending'))"
        )

    def rename_experiments(self, names: dict[str, str]) -> None:
        exps = arrow_table([{"id": k, "name": v} for k, v in names.items()], {"id": "string", "name": "string"})
        self.with_tables(
            [
                f"UPDATE {t} SET experiment_name = exps.name FROM exps "
                f"WHERE {t}.experiment_id = exps.id AND {t}.experiment_name <> exps.name"
                for t in ("performance_results", "sweeps")
            ],
            exps=exps,
        )

    def gc_dimensions(self) -> None:
        """Drop models / platforms nothing refers to. Not in the transaction that deleted the
        references: DuckDB refuses to delete a key referenced earlier in the same transaction."""
        self.execute(
            "DELETE FROM models WHERE model_id NOT IN (SELECT model_id FROM performance_results)"
            " AND model_id NOT IN (SELECT model_id FROM benchmark_plan)"
        )
        self.execute(
            "DELETE FROM hardware_platforms WHERE hardware_id NOT IN (SELECT hardware_id FROM performance_results)"
            " AND hardware_id NOT IN (SELECT hardware_id FROM benchmark_plan)"
        )

    def set_state(self, tracking_uri: str, watermark_ms: int, cursor_ms: int, deleted: set[str], full: bool) -> None:
        self.execute(
            "UPDATE sync_state SET tracking_uri = ?, watermark_ms = ?, recheck_cursor_ms = ?,"
            " last_sync_at = now()::TIMESTAMP"
            + (", last_full_sync_at = now()::TIMESTAMP" if full else "")
            + " WHERE id = 1",
            [tracking_uri, watermark_ms, cursor_ms],
        )
        self.with_tables(
            [
                "DELETE FROM sync_deleted_runs WHERE mlflow_run_id NOT IN (SELECT id FROM now)",
                "INSERT INTO sync_deleted_runs SELECT id FROM now ON CONFLICT DO NOTHING",
            ],
            now=arrow_table([{"id": r} for r in sorted(deleted)], {"id": "string"}),
        )

    def log_sync(self, kind: str, started_at: float, seconds: float, counts: dict[str, int]) -> None:
        self.execute(
            "INSERT INTO sync_log SELECT coalesce(max(sync_no), 0) + 1, ?, to_timestamp(?)::TIMESTAMP, ?, ?, ?, ?, ?, ?"
            " FROM sync_log",
            [
                kind,
                started_at,
                seconds,
                counts["runs_read"],
                counts["rows_written"],
                counts["rows_removed"],
                counts["samples_written"],
                counts["runs_ignored"],
            ],
        )

    def add_plan(self, rows: list[dict[str, Any]]) -> int:
        """init-db: plan rows (new ones pending); how many were new."""
        if not rows:
            return 0
        cols = dict.fromkeys(
            ("plan_key", "model_id", "hardware_id", "backend", "precision", "mode", "scenario"), "string"
        )
        cols["batch_size"] = "int32"
        ((before,),) = self.execute("SELECT count(*) FROM benchmark_plan")
        self.with_tables(
            [
                "INSERT INTO benchmark_plan BY NAME SELECT *, 'pending' AS status, now()::TIMESTAMP AS planned_at"
                " FROM data ON CONFLICT DO NOTHING"
            ],
            data=arrow_table(rows, cols),
        )
        ((after,),) = self.execute("SELECT count(*) FROM benchmark_plan")
        return int(after - before)

    def replace_availability(self, run_ids: list[str], rows: list[dict[str, Any]]) -> None:
        """The detections logged by these sweep runs, replaced by ``rows``."""
        if run_ids:
            self.execute("DELETE FROM hardware_availability_log WHERE list_contains(?, mlflow_run_id)", [run_ids])
        self.log_availability(rows)

    def log_availability(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.with_tables(
                ["INSERT OR REPLACE INTO hardware_availability_log BY NAME SELECT * FROM data"],
                data=arrow_table(rows, self.arrow_columns("hardware_availability_log")),
            )


def detection_rows(report: Any, now_ms: int | None = None) -> list[dict[str, Any]]:
    """A hardware detection (``hardware.HardwareReport``) as availability-log rows."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return [
        {
            "detection_id": f"local:{report.host}:{now_ms}",
            "hardware_type": p.platform,
            "host": report.host,
            "is_available": p.available,
            "reason": p.reason or None,
            "detected_at": now_ms,
            "sweep_id": None,
            "mlflow_run_id": None,
        }
        for p in report.platforms
    ]


def log_detection(db_path: str | os.PathLike[str], report: Any) -> None:
    """Append one detection to the file's ``hardware_availability_log`` (schema created if new)."""
    with MirrorStore(db_path) as store, store.transaction():
        store.log_availability(detection_rows(report))
