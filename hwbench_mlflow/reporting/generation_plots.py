"""The generate scenario's pictures, from the DuckDB mirror: TTFT vs prompt length, decode
tokens/s vs batch, and the inter-token latency distribution of each config.

Drawn like every hwbench plot (a matplotlib PNG and a plotly figure from the same data):
simulated series dashed and labelled ``SIMULATED``, a config measured on a busy host labelled
``busy host``. Nothing is drawn when the mirror holds no generate run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import names as N
from .figures import SIM, Plot, _subtitle

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "mlflow_run_id, model, hardware, backend, precision, batch_size, prompt_tokens, new_tokens,"
    " ttft_p50_ms, ttft_p90_ms, ttft_p99_ms, tpot_mean_ms, itl_p50_ms, itl_p99_ms, decode_tokens_per_s,"
    f" kv_cache_mb, {N.MEMORY_MB_SQL} AS memory_mb, first_token_agreement, agreeing_prefix_tokens,"
    " coalesce(is_simulated, false) AS is_simulated, coalesce(host_contended, false) AS host_contended"
)


def generation_frame(db_path: str | os.PathLike[str], models: list[str] | None = None) -> pd.DataFrame:
    """The newest successful generate result of each configuration (empty: none)."""
    from ..mirror.query import connect

    con = connect(db_path)
    try:
        frame = con.execute(
            f"SELECT {COLUMNS} FROM latest_results WHERE scenario = ? ORDER BY model, hardware, backend, precision,"
            " batch_size, prompt_tokens, new_tokens",
            [N.GENERATE],
        ).df()
    finally:
        con.close()
    return frame[frame["model"].isin(models)] if models else frame


def inter_token_latencies(db_path: str | os.PathLike[str], run_ids: list[str]) -> dict[str, Any]:
    """Every gap between neighbouring tokens of every timed generation (ms), per run."""
    import numpy as np

    from ..mirror.query import connect

    if not run_ids:
        return {}
    con = connect(db_path)
    try:
        rows = con.execute(
            "SELECT mlflow_run_id, t_ms - lag(t_ms) OVER (PARTITION BY mlflow_run_id, generation ORDER BY token)"
            " AS itl FROM generation_token_times WHERE mlflow_run_id IN (SELECT unnest(?))",
            [run_ids],
        ).df()
    finally:
        con.close()
    rows = rows.dropna()
    return {k: np.asarray(g["itl"], dtype=float) for k, g in rows.groupby("mlflow_run_id")}


def _label(row: Any, *parts: str) -> str:
    base = f"{row.model} {row.hardware}/{row.backend}/{row.precision} " + " ".join(parts)
    return base.rstrip() + (SIM if row.is_simulated else "") + (" (busy host)" if row.host_contended else "")


def _line_plot(
    frame: pd.DataFrame, keys: list[str], x: str, y: str, label: Any, title: str, xlabel: str, ylabel: str, name: str
) -> Plot:
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    fig, ax = plt.subplots(figsize=(11, 5.5), layout="constrained")
    inter = go.Figure()
    for k, (_, g) in enumerate(frame.groupby(keys, sort=True)):
        g = g.sort_values(x)
        first = g.iloc[0]
        text = label(first)
        dashed = bool(first.is_simulated)
        style = {"linestyle": "--", "alpha": 0.6} if dashed else {"linestyle": "-"}
        ax.plot(g[x], g[y], marker="os^Dv"[k % 5], label=text, **style)
        inter.add_trace(
            go.Scatter(x=g[x], y=g[y], mode="lines+markers", name=text, line={"dash": "dash" if dashed else "solid"})
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(sorted(int(v) for v in frame[x].unique()))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _subtitle(ax, title, [])
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    inter.update_layout(title=title, xaxis={"title": xlabel}, yaxis={"title": ylabel, "rangemode": "tozero"})
    return Plot(name, title, fig, inter)


def ttft_vs_prompt(frame: pd.DataFrame) -> Plot:
    """Median time to first token over the prompt's length; one line per config and batch."""
    return _line_plot(
        frame,
        ["model", "hardware", "backend", "precision", "batch_size", "is_simulated"],
        "prompt_tokens",
        "ttft_p50_ms",
        lambda r: _label(r, f"b{int(r.batch_size)}"),
        "Time to first token vs prompt length (median)",
        "prompt tokens",
        "TTFT p50 (ms)",
        "ttft_vs_prompt",
    )


def decode_vs_batch(frame: pd.DataFrame) -> Plot:
    """Decode tokens/s of the whole batch over the batch size; one line per config and shape."""
    return _line_plot(
        frame,
        ["model", "hardware", "backend", "precision", "prompt_tokens", "new_tokens", "is_simulated"],
        "batch_size",
        "decode_tokens_per_s",
        lambda r: _label(r, f"p{int(r.prompt_tokens)} n{int(r.new_tokens)}"),
        "Decode tokens/s vs batch size (all sequences)",
        "batch size (sequences at once)",
        "decode tokens/s",
        "decode_tokens_per_s_vs_batch",
    )


def itl_distribution(frame: pd.DataFrame, itl: dict[str, Any]) -> Plot:
    """Each config's inter-token latencies: box = quartiles, whiskers = p1..p99, the p50 marked."""
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    rows = [r for r in frame.itertuples(index=False) if len(itl.get(r.mlflow_run_id, ())) > 0]
    labels = [_label(r, f"b{int(r.batch_size)} p{int(r.prompt_tokens)} n{int(r.new_tokens)}") for r in rows]
    data = [itl[r.mlflow_run_id] for r in rows]
    fig, ax = plt.subplots(figsize=(11, max(3.0, 0.45 * len(rows) + 1.5)), layout="constrained")
    inter = go.Figure()
    if rows:
        box = ax.boxplot(data, vert=False, whis=(1, 99), showfliers=True, flierprops={"markersize": 2, "alpha": 0.4})
        ax.set_yticks(range(1, len(rows) + 1), labels, fontsize=7)
        for patch_line, r in zip(box["boxes"], rows, strict=True):
            if r.is_simulated:
                patch_line.set_linestyle("--")
        for values, text in zip(data, labels, strict=True):
            inter.add_trace(go.Box(x=values, name=text, boxpoints="outliers"))
    else:
        ax.text(0.5, 0.5, "no per-token times in the mirror", ha="center", transform=ax.transAxes)
    n = sum(len(d) for d in data)
    title = "Inter-token latency per config"
    _subtitle(ax, title, [f"box: quartiles, whiskers: p1..p99, {n} token gaps"])
    ax.set_xlabel("inter-token latency (ms)")
    ax.grid(True, axis="x", alpha=0.3)
    inter.update_layout(title=title, xaxis={"title": "inter-token latency (ms)"})
    return Plot("itl_distribution", title, fig, inter)


def generation_plots(db_path: str | os.PathLike[str], models: list[str] | None = None) -> list[Plot]:
    """The three generation plots, or none when the mirror holds no generate run."""
    frame = generation_frame(db_path, models)
    if frame.empty:
        return []
    frame["is_simulated"] = frame["is_simulated"].astype(bool)
    frame["host_contended"] = frame["host_contended"].astype(bool)
    itl = inter_token_latencies(db_path, list(frame["mlflow_run_id"]))
    return [ttft_vs_prompt(frame), decode_vs_batch(frame), itl_distribution(frame, itl)]
