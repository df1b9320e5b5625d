"""Reading the mirror: read-only connections (``connect``, for notebooks too), read-only SQL
(``sql``, ``hwbench query``), and exports of its tables (``export``, ``hwbench export``)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError
from .files import DEFAULT_DB_PATH, DEFAULT_LOCK_TIMEOUT_S, first_line, memory_connection, open_duckdb
from .schema import DATA_TABLES, foreign_tables, not_a_mirror, schema_version

if TYPE_CHECKING:
    import pandas as pd

READ_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")


def connect(db_path: str | os.PathLike[str] = DEFAULT_DB_PATH, lock_timeout_s: float = 10.0) -> Any:
    """A read-only DuckDB connection to the mirror, for notebooks: ``connect().sql("...").df()``."""
    path = Path(db_path)
    if path.is_dir():
        raise BadInputError(f"db_path must name a file, got '{db_path}' (a directory)", param="db_path")
    if not path.is_file():
        raise BadInputError(f"no DuckDB mirror at {path}; run `hwbench sync` (or `hwbench run`) first")
    con = open_duckdb(path, read_only=True, lock_timeout_s=lock_timeout_s)
    version = schema_version(con)
    if version == 0:
        tables = foreign_tables(con)
        con.close()
        if tables:
            raise not_a_mirror(path, tables)
        raise BadInputError(f"{path} has no hwbench schema; run `hwbench init-db` or `hwbench sync` on it")
    return con


def check_mirror_opens(db_path: str | os.PathLike[str], lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
    """Open the file read-only and close it again: a damaged or foreign file is refused in one
    line (:class:`BadInputError`; busy: :class:`StoreBusyError`) before any slow work."""
    open_duckdb(Path(db_path), read_only=True, lock_timeout_s=lock_timeout_s).close()


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
        raise BadInputError(f"query does not parse: {first_line(str(exc))}") from None
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
        raise BadInputError(f"query failed: {first_line(str(exc))}") from None
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
                raise BadInputError(
                    f"output: cannot create the directory {out}: {exc.strerror or exc}", param="output"
                ) from None
            targets = [(t, out / f"{t}.{fmt}") for t in tables]
        else:
            if not out.parent.resolve().is_dir():
                raise BadInputError(f"output: directory does not exist: {out.parent}", param="output")
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
                raise BadInputError(f"output: cannot write {target}: {first_line(str(exc))}", param="output") from None
            written.append(target)
        return written
    finally:
        con.close()


def _quote(s: str) -> str:
    """``s`` inside a single-quoted SQL string."""
    return s.replace("'", "''")
