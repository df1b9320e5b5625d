"""The DuckDB mirror of the MLflow runs: schema, migrations, the writer, read-only access.

Contract of :class:`MirrorStore` (the only code that writes the DuckDB file):

* one writer at a time: it holds DuckDB's file lock while open; another process that
  wants the file waits up to ``lock_timeout_s`` and then gets :class:`StoreBusyError`
  (one line naming the holder), never a corrupted file;
* every change goes through :meth:`MirrorStore.transaction`: all of it or none of it,
  so a sync killed halfway leaves the previous consistent state;
* rows are keyed by MLflow run id; writing the same run twice changes nothing.

The DDL and views are the ``.sql`` files under ``analysis/`` (``schema/NNN_*.sql`` are
numbered migrations applied once each; ``views.sql`` is re-applied when it changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError, HwbenchError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

DEFAULT_DB_PATH = "hwbench.duckdb"
SQL_DIR = Path(__file__).resolve().parent.parent / "analysis"
SCHEMA_DIR = SQL_DIR / "schema"
DEFAULT_LOCK_TIMEOUT_S = 30.0
SAMPLE_BATCH_FILES = 500

# Tables a sync rebuilds from MLflow; the rest is init-db's plan and bookkeeping.
MIRROR_TABLES = ("latency_samples", "performance_results", "sweeps")
DATA_TABLES = (
    "models",
    "hardware_platforms",
    "performance_results",
    "latency_samples",
    "sweeps",
    "hardware_availability_log",
    "benchmark_plan",
)
READ_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")


class StoreBusyError(HwbenchError):
    """Another process holds the DuckDB file."""

    exit_code = 1


# ----------------------------------------------------------------------------- opening


# Every DuckDB connection of the package: no extension is ever downloaded or loaded behind
# the user's back (DuckDB would fetch sqlite_scanner to open an SQLite file, for one).
NO_EXTENSIONS = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
SQLITE_MAGIC = b"SQLite format 3\x00"


def memory_connection() -> duckdb.DuckDBPyConnection:
    """A scratch in-memory DuckDB connection (no extensions)."""
    import duckdb

    return duckdb.connect(":memory:", config=dict(NO_EXTENSIONS))


def _not_duckdb(path: str | os.PathLike[str], head: bytes) -> BadInputError | None:
    """The error for a file that starts with ``head`` when that is not a DuckDB header."""
    if head[8:12] == DUCKDB_MAGIC:
        return None
    why = "an empty file" if not head else "an SQLite database" if head == SQLITE_MAGIC else "no DuckDB header"
    return BadInputError(f"{path} is not a hwbench DuckDB mirror ({why})")


def _head(path: str | os.PathLike[str]) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError:
        return None  # absent (a new mirror) or unreadable: DuckDB's own error says which


def check_mirror_file(path: str | os.PathLike[str]) -> None:
    """Refuse an existing file that is not a DuckDB database (an SQLite file, text, random
    bytes) from its first bytes, before DuckDB opens it: nothing else is read or written.
    A file shorter than a header is left to DuckDB (it may be one being created right now)."""
    head = _head(path)
    if head is not None and len(head) >= 12 and (error := _not_duckdb(path, head)) is not None:
        raise error


def _foreign_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of a DuckDB file without the hwbench schema (none: a new file)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def _not_a_mirror(path: Path, tables: list[str]) -> BadInputError:
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    return BadInputError(f"{path} is not a hwbench DuckDB mirror (a DuckDB database with other tables: {shown})")


def _connect(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting for another process's lock; every failure is one clear line."""
    import duckdb

    check_mirror_file(path)
    deadline = time.monotonic() + max(lock_timeout_s, 0.0)
    config = {"enable_external_access": "false"} if read_only else {"threads": "1"}
    config.update(NO_EXTENSIONS)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            msg = str(exc)
            if not isinstance(exc, duckdb.IOException) or "lock" not in msg.lower():
                head = _head(path)
                if head is not None and (error := _not_duckdb(path, head)) is not None:
                    raise error from None
                if "not a valid DuckDB database" in msg or "database file" in msg.lower():
                    raise BadInputError(f"{path} is not a hwbench DuckDB mirror ({_first_line(msg)})") from None
                raise BadInputError(f"cannot open {path}: {_first_line(msg)}") from None
            if time.monotonic() >= deadline:
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", msg)
                who = f" (PID {holder.group(2)}, {Path(holder.group(1)).name})" if holder else ""
                raise StoreBusyError(
                    f"{path} is in use by another process{who}; waited {lock_timeout_s:g} s. "
                    "Retry when it finishes (a `hwbench sync --watch` releases the file between syncs)."
                ) from None
            time.sleep(0.2)


def _first_line(msg: str) -> str:
    return " ".join(msg.split())[:300]


def schema_files(directory: Path = SCHEMA_DIR) -> list[tuple[int, Path]]:
    """The numbered migrations in order: ``[(1, 001_initial.sql), ...]``."""
    out = []
    for f in sorted(directory.glob("*.sql")):
        m = re.match(r"(\d+)_", f.name)
        if m:
            out.append((int(m.group(1)), f))
    return out


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    ((exists,),) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'schema_version'"
    ).fetchall()
    if not exists:
        return 0
    ((version,),) = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(version or 0)


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = SCHEMA_DIR) -> int:
    """Apply the migrations this file has not seen, each in its own transaction; the new version."""
    current = schema_version(con)
    files = schema_files(directory)
    known = files[-1][0] if files else 0
    if current > known:
        raise BadInputError(
            f"this DuckDB file has schema version {current}, newer than this hwbench knows ({known}); upgrade hwbench"
        )
    for number, path in files:
        if number <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            con.execute(path.read_text())
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, path.stem])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        current = number
    return current


def connect(db_path: str | os.PathLike[str] = DEFAULT_DB_PATH, lock_timeout_s: float = 10.0) -> Any:
    """A read-only DuckDB connection to the mirror, for notebooks: ``connect().sql("...").df()``."""
    path = Path(db_path)
    if path.is_dir():
        raise BadInputError(f"--db-path must name a file, got '{db_path}' (a directory)")
    if not path.is_file():
        raise BadInputError(f"no DuckDB mirror at {path}; run `hwbench sync` (or `hwbench run`) first")
    con = _connect(path, read_only=True, lock_timeout_s=lock_timeout_s)
    version = schema_version(con)
    if version == 0:
        tables = _foreign_tables(con)
        con.close()
        if tables:
            raise _not_a_mirror(path, tables)
        raise BadInputError(f"{path} has no hwbench schema; run `hwbench init-db` or `hwbench sync` on it")
    return con


def check_mirror_opens(db_path: str | os.PathLike[str], lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
    """Open the file read-only and close it again: a damaged or foreign file is refused in one
    line (:class:`BadInputError`; busy: :class:`StoreBusyError`) before any slow work."""
    _connect(Path(db_path), read_only=True, lock_timeout_s=lock_timeout_s).close()


def mirrored_tracking_uri(db_path: str | os.PathLike[str]) -> str | None:
    """The tracking store this mirror syncs from (None before the first sync)."""
    con = connect(db_path)
    try:
        ((uri,),) = con.execute("SELECT tracking_uri FROM sync_state WHERE id = 1").fetchall()
    finally:
        con.close()
    return uri


def check_read_only_sql(sql: str) -> None:
    """Refuse anything but reads, with the statement type in the message (the file is opened
    read-only as well; this gives the clearer message)."""
    import duckdb

    try:
        with memory_connection() as con:
            statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise BadInputError(f"query does not parse: {_first_line(str(exc))}") from None
    if not statements:
        raise BadInputError("query is empty")
    for st in statements:
        kind = st.type.name
        if kind not in READ_STATEMENTS:
            raise BadInputError(f"query refused: {kind} statements are not allowed; hwbench query only reads")


def sql(query: str, db_path: str | os.PathLike[str] = DEFAULT_DB_PATH) -> pd.DataFrame:
    """Run a read-only query on the mirror; a DataFrame."""
    check_read_only_sql(query)
    con = connect(db_path)
    try:
        return con.execute(query).df()
    except Exception as exc:
        raise BadInputError(f"query failed: {_first_line(str(exc))}") from None
    finally:
        con.close()


def export(
    db_path: str | os.PathLike[str], fmt: str, output: str | os.PathLike[str], table: str | None = None
) -> list[Path]:
    """Write one table or view (``table``) to the file ``output``, or every data table into
    the directory ``output`` as ``<table>.<fmt>``. Files appear whole or not at all."""
    if fmt not in ("parquet", "csv", "json"):
        raise BadInputError(f"unknown export format '{fmt}'; choose from parquet, csv, json")
    con = connect(db_path)
    try:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        tables = [table] if table else list(DATA_TABLES)
        for t in tables:
            if t not in names:
                raise BadInputError(f"no table or view '{t}'; choose from {', '.join(sorted(names))}")
        out = Path(output)
        if table is None:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadInputError(f"--output: cannot create the directory {out}: {exc.strerror or exc}") from None
            targets = [(t, out / f"{t}.{fmt}") for t in tables]
        else:
            if not out.parent.resolve().is_dir():
                raise BadInputError(f"--output: directory does not exist: {out.parent}")
            targets = [(table, out)]
        options = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER true", "json": "FORMAT json, ARRAY true"}
        written = []
        import duckdb

        for t, target in targets:
            tmp = target.with_name(target.name + ".tmp")
            # the mirror is open read-only without file access; COPY runs on a scratch connection
            try:
                with memory_connection() as writer:
                    writer.register("frame", con.sql(f'SELECT * FROM "{t}"').to_arrow_table())
                    writer.execute(f"COPY (SELECT * FROM frame) TO '{_quote(str(tmp))}' ({options[fmt]})")
                os.replace(tmp, target)
            except (OSError, duckdb.IOException) as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise BadInputError(f"--output: cannot write {target}: {_first_line(str(exc))}") from None
            written.append(target)
        return written
    finally:
        con.close()


def _quote(s: str) -> str:
    return s.replace("'", "''")


# ----------------------------------------------------------------------------- the writer


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
            raise BadInputError(f"--db-path: directory does not exist: {path.parent}")
        self.path = path
        self.con = _connect(path, read_only=False, lock_timeout_s=lock_timeout_s)
        self.lock = threading.Lock()  # the connection is used by the sample loader's thread too
        self._arrow_columns: dict[str, dict[str, Any]] = {}
        try:
            if schema_version(self.con) == 0 and (tables := _foreign_tables(self.con)):
                raise _not_a_mirror(path, tables)  # another program's DuckDB file: left as it is
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
        text = (SQL_DIR / "views.sql").read_text()
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
                raise ValueError(f"no Arrow type for {', '.join(unknown)}: add the DuckDB type to store.ARROW_TYPES")
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


# DuckDB column types (as the catalog names them) → the Arrow type of the values the writer
# hands DuckDB; a TIMESTAMP column takes epoch milliseconds (MLflow's times).
ARROW_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "double",
    "BOOLEAN": "bool",
    "TIMESTAMP": "timestamp[ms]",
}


def arrow_type(t: Any) -> Any:
    """An Arrow type: ``t`` itself, or the type its name says (``"string"``, ``"timestamp[ms]"``, ...)."""
    import pyarrow as pa

    return pa.timestamp("ms") if t == "timestamp[ms]" else (pa.type_for_alias(t) if isinstance(t, str) else t)


def arrow_table(rows: list[dict[str, Any]], columns: dict[str, Any]) -> Any:
    """Rows (dicts) → an Arrow table with these columns and types (type objects or names)."""
    import pyarrow as pa

    return pa.table({c: pa.array([r.get(c) for r in rows], arrow_type(t)) for c, t in columns.items()})


# ----------------------------------------------------------------------------- raw samples


class SampleLoader:
    """Loads ``raw_latencies_ms.json`` files into ``latency_samples`` inside the store's open
    transaction, from a background thread, while the caller goes on reading MLflow.

    Parsing is Python's json in a helper process once there are many files (so it never
    holds the caller's GIL), inline for a handful; the insert from Arrow runs in DuckDB
    without the GIL."""

    POOL_FROM_FILES = 200

    def __init__(self, store: MirrorStore) -> None:
        self.store = store
        self.jobs: queue.Queue[list[tuple[str, str]] | None] = queue.Queue()
        self.counts: dict[str, int] = {}
        self.unreadable: list[str] = []
        self.error: BaseException | None = None
        self.cancelled = False
        self.pool: Any = None
        self.thread = threading.Thread(target=self._work, name="hwbench-samples", daemon=True)
        self.thread.start()

    def submit(self, files: list[tuple[str, str]]) -> None:
        """``[(run_id, local path), ...]``; files that do not exist are left out."""
        for i in range(0, len(files), SAMPLE_BATCH_FILES):
            self.jobs.put(files[i : i + SAMPLE_BATCH_FILES])

    def cancel(self) -> None:
        """Drop what is queued and wait for the thread (it may be mid-insert)."""
        self.cancelled = True
        self.jobs.put(None)
        self.thread.join()

    def finish(self) -> dict[str, int]:
        """Wait for every file; run id → samples loaded."""
        self.jobs.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.counts

    def _work(self) -> None:
        from .samples import SampleReaderProcess, read_samples

        try:
            while (batch := self.jobs.get()) is not None:
                if self.error is not None or self.cancelled:
                    continue
                try:
                    if self.pool is None and len(batch) >= self.POOL_FROM_FILES:
                        self.pool = SampleReaderProcess()
                    if self.pool is None:
                        self._insert(read_samples(batch))
                    else:  # one batch at a time: a pipe holds less than a batch's result
                        self.pool.submit(batch)
                        self._insert(self.pool.result())
                except BaseException as exc:  # re-raised in the caller's thread by finish()
                    self.error = exc
        except BaseException as exc:
            self.error = exc
        finally:
            if self.pool is not None:
                self.pool.close()

    def _insert(self, parsed: tuple[list[str], list[int], Any, list[str]]) -> None:
        import numpy as np
        import pyarrow as pa

        ids, counts, values, bad = parsed
        self.unreadable.extend(bad)
        if not ids:
            return
        n = np.asarray(counts, dtype=np.int64)
        owner = np.repeat(np.arange(len(ids), dtype=np.int32), n)
        starts = np.repeat(np.cumsum(n) - n, n)
        table = pa.table(
            {
                "mlflow_run_id": pa.DictionaryArray.from_arrays(pa.array(owner), pa.array(ids, pa.string())),
                "iteration": pa.array((np.arange(len(values)) - starts).astype(np.int32)),
                "latency_ms": pa.array(values),
            }
        )
        self.store.with_tables(["INSERT INTO latency_samples SELECT * FROM parsed"], parsed=table)
        for rid, count in zip(ids, counts, strict=True):
            self.counts[rid] = self.counts.get(rid, 0) + count
