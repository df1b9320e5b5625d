"""Record what a reading step produced (a table, plots, a report) as an MLflow run.

A notebook and the CLI call the same functions; the MLflow calls are tracking/'s."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import names as N

if TYPE_CHECKING:
    import pandas as pd


def output_tracking_uri(db_path: str | os.PathLike[str], tracking_uri: str | None = None) -> str:
    """Where an output is recorded: ``tracking_uri``, else the store the mirror syncs from
    (else the default store); checked to answer."""
    from ..mirror.query import mirrored_tracking_uri
    from ..tracking.uri import check_tracking_uri, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri or mirrored_tracking_uri(db_path))
    check_tracking_uri(uri)
    return uri


def publish_table(
    frame: pd.DataFrame,
    name: str,
    columns: Sequence[str] | None = None,
    *,
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    tracking_uri: str | None = None,
    experiment: str = N.OUTPUT_EXPERIMENT,
    params: dict[str, Any] | None = None,
) -> str:
    """Log ``frame`` (e.g. ``hb.analyze(...)``) on a report run as ``NAME.csv`` (every column)
    and ``NAME.md`` (``columns``, default all); the run id. ``tracking_uri``: see
    :func:`output_tracking_uri`."""
    from ..tracking.records import log_output_run
    from .comparative import to_markdown

    md = to_markdown(frame, list(columns) if columns is not None else list(frame.columns))
    return log_output_run(
        output_tracking_uri(db_path, tracking_uri),
        experiment,
        "report",
        {"db_path": str(db_path), **(params or {})},
        f"**hwbench {name}**\n\n{md}",
        texts={f"{name}.csv": frame.to_csv(index=False), f"{name}.md": md},
        simulated=bool(frame["is_simulated"].astype(bool).any()) if "is_simulated" in frame else False,
    )


def publish_files(
    paths: Sequence[str | os.PathLike[str]],
    note: str,
    *,
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    tracking_uri: str | None = None,
    experiment: str = N.OUTPUT_EXPERIMENT,
) -> str:
    """Log plot files (``hb.plots``) and reports (``hb.report``) on a report run: a report's
    HTML at the top, everything else under ``plots/``; the run id."""
    from ..tracking.records import log_output_run

    files = [Path(p) for p in paths]
    return log_output_run(
        output_tracking_uri(db_path, tracking_uri),
        experiment,
        "report",
        {"db_path": str(db_path)},
        note,
        files=[(p, None if p.suffix in (".html", ".htm") and p.name != "plots.html" else "plots") for p in files],
    )
