"""Opening a DuckDB file: refused in one line when it is not a DuckDB database (from its first
bytes, before DuckDB touches it), waited for while another process holds it, never with an
extension loaded behind the user's back."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError, HwbenchError

if TYPE_CHECKING:
    import duckdb

DEFAULT_DB_PATH = "hwbench.duckdb"
DEFAULT_LOCK_TIMEOUT_S = 30.0


class StoreBusyError(HwbenchError):
    """Another process holds the DuckDB file."""

    exit_code = 1


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


def open_duckdb(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
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
                    raise BadInputError(f"{path} is not a hwbench DuckDB mirror ({first_line(msg)})") from None
                raise BadInputError(f"cannot open {path}: {first_line(msg)}") from None
            if time.monotonic() >= deadline:
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", msg)
                who = f" (PID {holder.group(2)}, {Path(holder.group(1)).name})" if holder else ""
                raise StoreBusyError(
                    f"{path} is in use by another process{who}; waited {lock_timeout_s:g} s. "
                    "Retry when it finishes (a `hwbench sync --watch` releases the file between syncs)."
                ) from None
            time.sleep(0.2)


def first_line(msg: str) -> str:
    return " ".join(msg.split())[:300]
