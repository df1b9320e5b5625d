"""Is the DuckDB mirror behind its MLflow store? Readers of the mirror say so before answering."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CHECK_LIMIT = 1000  # ended config runs looked at past the mirror's watermark


def runs_not_mirrored(db_path: str | os.PathLike[str]) -> int:
    """Config runs that ended in the mirror's store after its last sync and are not in it.

    0 when the mirror is current, was never synced, or its store cannot be reached (a
    reader of the mirror still answers from what it holds)."""
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        state = con.execute("SELECT tracking_uri, watermark_ms FROM sync_state WHERE id = 1").fetchone()
        if not state or not state[0] or state[1] is None:
            return 0
        uri, watermark_ms = state
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
            return 0  # opening it would create an empty store
        try:
            ended = _ended_config_runs(uri, int(watermark_ms))
        except Exception:  # the store is gone or refuses: nothing to compare with
            return 0
        if not ended:
            return 0
        mirrored = con.execute(
            "SELECT mlflow_run_id FROM performance_results WHERE list_contains(?, mlflow_run_id)", [ended]
        ).fetchall()
        return len(ended) - len(mirrored)
    finally:
        con.close()


def _ended_config_runs(uri: str, since_ms: int) -> list[str]:
    from ..tracking.reader import config_runs_ended_since

    return config_runs_ended_since(uri, since_ms, CHECK_LIMIT)


def warn_if_behind(db_path: str | os.PathLike[str]) -> int:
    """One line on stderr when the mirror misses runs its store has; how many it misses."""
    missing = runs_not_mirrored(db_path)
    if missing:
        more = "+" if missing >= CHECK_LIMIT else ""
        print(
            f"hwbench: warning: {db_path} is behind its MLflow store: {missing}{more} config run(s) ended after "
            f"its last sync are not in it; these answers leave them out (run: hwbench sync --db-path {db_path})",
            file=sys.stderr,
        )
    return missing
