"""``hwbench report``: one self-contained HTML page from the DuckDB mirror — the plots (PNG
inlined), the analysis table, the recommendations, the hardware availability table, and
which platforms were not measured and why. Opens offline; nothing is fetched."""

from __future__ import annotations

import base64
import html
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BadInputError

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em}
p,ul,.sim{max-width:75em}
.wide{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:12px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;white-space:nowrap;vertical-align:top}
th{text-align:left;background:#f4f4f4}
td{text-align:right;font-variant-numeric:tabular-nums}
td.t{text-align:left}
td.long{white-space:normal;min-width:22em;max-width:40em}
.sim{background:#fde2e2;border:2px dashed #c00;padding:.5em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""
# printed as whole numbers (rounded): counts, batch sizes, megabytes (``*_mb``)
INTEGER_COLUMNS = ("batch_size", "iterations", "samples", "samples_count", "n")


def _number(x: float) -> str:
    """Up to four significant digits, no trailing zeros, thousands whole: 0.01234, 4.95, 315,
    598.5, 12346 (never 315.0)."""
    return f"{x:.0f}" if math.isfinite(x) and abs(x) >= 1000 else f"{x:.4g}"


def table(frame: Any) -> str:
    """An HTML table a reader can scan: counts, batch sizes and MB as integers (8, 315, not
    8.0, 315.0), other numbers to four significant digits, right-aligned; text left-aligned, one
    line per cell, except sentences (reasons, warnings), which wrap in a readable width
    instead of shrinking to a letter; blank for missing; everything escaped; scrolls
    sideways inside its box when wider than the page."""
    import numpy as np
    import pandas as pd

    cols = list(frame.columns)
    integer = {c: str(c) in INTEGER_COLUMNS or str(c).endswith("_mb") for c in cols}
    prose = {c: any(isinstance(v, str) and " " in v and len(v) > 30 for v in frame[c]) for c in cols}

    def cell(col: str, v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return "<td></td>"
        if isinstance(v, (bool, np.bool_)):
            return f"<td class='t'>{v}</td>"
        if isinstance(v, (int, np.integer)):
            return f"<td>{int(v)}</td>"
        if isinstance(v, (float, np.floating)):
            x = float(v)
            return f"<td>{round(x):d}</td>" if integer[col] and math.isfinite(x) else f"<td>{_number(x)}</td>"
        if isinstance(v, pd.Timestamp):
            v = v.strftime("%Y-%m-%d %H:%M:%S")
        cls = "t long" if prose[col] else "t"
        return f"<td class='{cls}'>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(cell(c, v) for c, v in zip(cols, row, strict=True)) + "</tr>\n"
        for row in frame.itertuples(index=False, name=None)
    )
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table></div>"


def availability(db_path: str | os.PathLike[str]) -> Any:
    """The newest detection of each platform on each host."""
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        return con.execute(
            "SELECT host, hardware_type, is_available, reason, detected_at FROM hardware_availability_log"
            " QUALIFY row_number() OVER (PARTITION BY host, hardware_type ORDER BY detected_at DESC) = 1"
            " ORDER BY host, hardware_type"
        ).df()
    finally:
        con.close()


def not_measured(avail: Any, analysis: Any) -> list[str]:
    """One line per platform without a measured result: unavailable (with the detector's
    reason) or available but not benchmarked yet."""
    measured = set(analysis.loc[~analysis["is_simulated"].astype(bool), "hardware"]) if len(analysis) else set()
    lines = []
    for r in avail.itertuples():
        if r.hardware_type in measured:
            continue
        why = f"unavailable: {r.reason}" if not r.is_available else "available, but no result in the mirror yet"
        lines.append(f"{r.hardware_type} on {r.host}: {why}")
    return lines


def build(
    db_path: str | os.PathLike[str],
    plots: list[Any],
    models: list[str] | None = None,
    prices: dict[str, float] | None = None,
) -> str:
    from .comparative import SUMMARY_COLUMNS, analyze
    from .recommend import NoResultsError, recommend, to_frame

    analysis = analyze(db_path, models=models)
    avail = availability(db_path)
    try:
        recs = to_frame(recommend(db_path, models=models, prices=prices))
    except NoResultsError as exc:
        recs = None
        rec_html = f"<p>{html.escape(str(exc))}</p>"
    if recs is not None:
        cols = [
            "model",
            "criterion",
            "status",
            "hardware",
            "backend",
            "precision",
            "batch_size",
            "value",
            "unit",
            "confidence",
            "basis",
            "is_simulated",
            "mlflow_run_id",
            "samples",
            "warning",
            "reason",
        ]
        rec_html = table(recs[cols])
    simulated = int(analysis["is_simulated"].astype(bool).sum())
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>hwbench report</title><style>{STYLE}</style>"
        "</head><body>",
        "<h1>hwbench report</h1>",
        f"<p>From {html.escape(str(db_path))}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {len(analysis)} "
        f"configuration(s), {simulated} of them simulated.</p>",
    ]
    if simulated:
        parts.append(
            f"<p class='sim'><b>{simulated} SIMULATED result(s)</b> are in this data: they are dashed / hatched "
            "and labelled SIMULATED in every plot and flagged in every table; nothing simulated is a measurement.</p>"
        )
    busy = int(analysis["host_contended"].astype(bool).sum()) if "host_contended" in analysis else 0
    if busy:
        parts.append(
            f"<p class='sim'><b>{busy} configuration(s) were measured on a busy host</b> (other processes or "
            "steal past the threshold during the timed window: column host_contended); they are not reference "
            "numbers and their recommendations are low confidence.</p>"
        )
    missing = not_measured(avail, analysis)
    parts.append("<h2>Not measured</h2>")
    parts.append(
        "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in missing) + "</ul>"
        if missing
        else "<p>Every platform detected has measured results.</p>"
    )
    parts.append("<h2>Plots</h2>")
    for p in plots:
        data = base64.b64encode(Path(p).read_bytes()).decode()
        parts.append(
            f"<h3>{html.escape(Path(p).stem)}</h3><img alt='{html.escape(Path(p).stem)}' "
            f"src='data:image/png;base64,{data}'>"
        )
    parts += generation_section(db_path, models)
    parts.append("<h2>Recommendations</h2>" + rec_html)
    parts.append("<h2>Hardware availability</h2>" + table(avail))
    keep = [*SUMMARY_COLUMNS[:4], "device", "scenario", *SUMMARY_COLUMNS[4:], "mlflow_run_id"]
    keep += [c for c in ("host_contended",) if c in analysis and c not in keep]
    parts.append("<h2>All configurations</h2>" + table(analysis[keep]))
    parts.append("</body></html>")
    return "\n".join(parts)


GENERATION_SHOWN = (
    "model", "hardware", "backend", "precision", "batch_size", "prompt_tokens", "new_tokens", "ttft_p50_ms",
    "ttft_p99_ms", "tpot_mean_ms", "itl_p99_ms", "decode_tokens_per_s", "kv_cache_mb", "memory_mb",
    "first_token_agreement", "agreeing_prefix_tokens", "is_simulated", "host_contended", "mlflow_run_id",
)  # fmt: skip


def generation_section(db_path: str | os.PathLike[str], models: list[str] | None) -> list[str]:
    """The report's "Generation" section (none without generate runs): every generate config's token
    metrics and how far its tokens follow torch fp32's; its plots are under "Plots", its
    recommendations (best TTFT, decode tokens/s, least memory) under "Recommendations"."""
    from .generation_plots import generation_frame

    frame = generation_frame(db_path, models)
    if frame.empty:
        return []
    return [
        "<h2>Generation</h2>",
        "<p>Greedy, exactly new_tokens per sequence. TTFT: call to first token; TPOT: mean time per output "
        "token after it; ITL: every gap between tokens; decode tokens/s: the whole batch's; KV MB: from the "
        "model's config; first_token_agreement / agreeing_prefix_tokens: against torch fp32's greedy tokens "
        "for the same prompt (1.0 / new_tokens: the same generation).</p>",
        table(frame[list(GENERATION_SHOWN)]),
    ]


def write(text: str, path: Path) -> Path:
    if not path.parent.resolve().is_dir():
        raise BadInputError(f"output: directory does not exist: {path.parent}", param="output")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_report(
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    output: str | os.PathLike[str] = "hwbench-report.html",
    *,
    models: Sequence[str] | None = None,
    memory_limit_mb: float | None = None,
    prices: dict[str, float] | None = None,
    plots_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Draw the plots (``hb.plots``), build the HTML report and write it to ``output``.

    ``prices``: $/hour per platform for the value recommendation. The plots go to ``plots_dir``
    (a temporary folder, removed afterwards, when None). Returns the files written: the plots
    (when ``plots_dir`` is given) and, last, the report."""
    import tempfile

    from .plots import draw_plots

    out = Path(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"output: the report is HTML; name a .html file, got '{output}'", param="output")
    model_list = list(models) if models is not None else None
    with tempfile.TemporaryDirectory(prefix="hwbench-report-") as tmp:
        paths = draw_plots(
            db_path, plots_dir if plots_dir is not None else tmp, models=model_list, memory_limit_mb=memory_limit_mb
        )
        write(build(db_path, [p for p in paths if p.suffix == ".png"], model_list, prices), out)
    return [*paths, out] if plots_dir is not None else [out]
