"""The mirror's schema: the numbered migrations under ``analysis/schema/`` (the one place the
tables are declared), the views, and the Arrow types rows are written with (read back from
the DuckDB catalog, never declared a second time)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError

if TYPE_CHECKING:
    import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "analysis"
SCHEMA_DIR = SQL_DIR / "schema"
VIEWS_FILE = SQL_DIR / "views.sql"

# Tables a sync rebuilds from MLflow; the rest is init-db's plan and bookkeeping.
MIRROR_TABLES = ("latency_samples", "generation_token_times", "performance_results", "sweeps")
DATA_TABLES = (
    "models",
    "hardware_platforms",
    "performance_results",
    "latency_samples",
    "generation_token_times",
    "sweeps",
    "hardware_availability_log",
    "benchmark_plan",
)


def foreign_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of a DuckDB file without the hwbench schema (none: a new file)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def not_a_mirror(path: Path, tables: list[str]) -> BadInputError:
    """The refusal of another program's DuckDB file (``tables``: what it holds)."""
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    return BadInputError(f"{path} is not a hwbench DuckDB mirror (a DuckDB database with other tables: {shown})")


def schema_files(directory: Path = SCHEMA_DIR) -> list[tuple[int, Path]]:
    """The numbered migrations in order: ``[(1, 001_initial.sql), ...]``."""
    out = []
    for f in sorted(directory.glob("*.sql")):
        m = re.match(r"(\d+)_", f.name)
        if m:
            out.append((int(m.group(1)), f))
    return out


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The newest migration applied to the file (0: none, a new or foreign file)."""
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
