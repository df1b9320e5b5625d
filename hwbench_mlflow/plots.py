"""The pictures ``hwbench visualize`` and ``hwbench report`` draw, from the DuckDB mirror.

Each plot is drawn twice from the same data: a matplotlib PNG and a plotly figure (the
interactive HTML). Simulated data can never pass for measured data: its series are dashed
and labelled ``SIMULATED``, its bars and heatmap cells hatched / marked, in both renderings.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SIM = " (SIMULATED)"


@dataclass
class Plot:
    name: str  # file stem
    title: str
    figure: Any  # matplotlib Figure
    interactive: Any  # plotly Figure


def _label(row: Any) -> str:
    base = f"{row.model} {row.hardware}/{row.backend}/{row.precision}"
    return base + (SIM if row.is_simulated else "")


def _series(frame: pd.DataFrame) -> list[tuple[str, bool, pd.DataFrame]]:
    keys = ["model", "hardware", "device", "backend", "precision", "scenario", "is_simulated"]
    out = []
    for _, g in frame.groupby(keys, sort=True):
        g = g.sort_values("batch_size")
        out.append((_label(g.iloc[0]), bool(g.iloc[0]["is_simulated"]), g))
    return out


def _lines(frame: pd.DataFrame, column: str, title: str, ylabel: str, name: str, limit: float | None = None) -> Plot:
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from matplotlib.ticker import StrMethodFormatter

    fig, ax = plt.subplots(figsize=(9, 5))
    inter = go.Figure()
    for label, simulated, g in _series(frame):
        style = {"linestyle": "--", "alpha": 0.6} if simulated else {"linestyle": "-"}
        ax.plot(g["batch_size"], g[column], marker="o", label=label, **style)
        inter.add_trace(
            go.Scatter(
                x=g["batch_size"],
                y=g[column],
                mode="lines+markers",
                name=label,
                line={"dash": "dash" if simulated else "solid"},
            )
        )
    if limit is not None:
        ax.axhline(limit, color="red", linestyle=":", label=f"limit {limit:g} MB")
        inter.add_hline(y=limit, line_dash="dot", line_color="red", annotation_text=f"limit {limit:g} MB")
    ax.set_xscale("log", base=2)
    batches = sorted(int(b) for b in frame["batch_size"].unique())
    if len(batches) > 10:  # many sizes (a search): powers of two between them
        batches = [2**k for k in range(batches[-1].bit_length()) if batches[0] <= 2**k <= batches[-1]]
    ax.set_xticks(batches)  # as 1, 2, 4 …, not 2^0, 2^1
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    inter.update_layout(title=title, xaxis={"type": "log", "title": "batch size"}, yaxis={"title": ylabel})
    return Plot(name, title, fig, inter)


def throughput_vs_batch(frame: pd.DataFrame) -> Plot:
    title = "Throughput vs batch size (dashed = SIMULATED)"
    return _lines(frame, "throughput_samples_per_s", title, "samples/s", "throughput_vs_batch")


def memory_vs_batch(frame: pd.DataFrame, limit_mb: float | None = None) -> Plot:
    title = "Peak memory vs batch size (dashed = SIMULATED)"
    return _lines(frame, "memory_mb", title, "MB (device memory on GPUs)", "memory_vs_batch", limit_mb)


def latency_distributions(frame: pd.DataFrame, samples: dict[str, Any], max_configs: int = 12) -> Plot:
    """Box plots of the raw per-iteration latencies (only measured runs have samples)."""
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    rows = [r for r in frame.itertuples() if r.mlflow_run_id in samples][:max_configs]
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(len(rows), 3) + 1.5))
    inter = go.Figure()
    labels = [f"{_label(r)} b{r.batch_size}" for r in rows]
    if rows:
        ax.boxplot([samples[r.mlflow_run_id] for r in rows], vert=False, showfliers=True)
        ax.set_yticks(range(1, len(rows) + 1), labels, fontsize=7)
    for r, label in zip(rows, labels, strict=True):
        inter.add_trace(go.Box(x=samples[r.mlflow_run_id], name=label, boxpoints="outliers"))
    ax.set_xscale("log")
    ax.set_xlabel("latency per batch, ms (log scale)")
    title = "Latency distributions (raw samples)"
    ax.set_title(title)
    fig.tight_layout()
    inter.update_layout(title=title, xaxis={"type": "log", "title": "latency per batch, ms"})
    return Plot("latency_distributions", title, fig, inter)


def platform_model_heatmap(frame: pd.DataFrame) -> Plot:
    """Best throughput of each model on each platform; simulated cells hatched and marked SIM."""
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go

    frame = frame.assign(platform=frame["hardware"] + "/" + frame["backend"])
    best = frame.loc[frame.groupby(["model", "platform"])["throughput_samples_per_s"].idxmax()]
    models = sorted(best["model"].unique())
    platforms = sorted(best["platform"].unique())
    values = np.full((len(models), len(platforms)), np.nan)
    simulated = np.zeros_like(values, dtype=bool)
    for r in best.itertuples():
        i, j = models.index(r.model), platforms.index(r.platform)
        values[i, j] = r.throughput_samples_per_s
        simulated[i, j] = bool(r.is_simulated)
    fig, ax = plt.subplots(figsize=(1.6 * len(platforms) + 3, 0.6 * len(models) + 2))
    im = ax.imshow(values, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label="best samples/s")
    ax.set_xticks(range(len(platforms)), platforms, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), models)
    text = []
    for i in range(len(models)):
        row = []
        for j in range(len(platforms)):
            v = values[i, j]
            cell = "not measured" if math.isnan(v) else f"{v:.0f}" + (" SIM" if simulated[i, j] else "")
            row.append(cell)
            ax.text(j, i, cell, ha="center", va="center", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8})
            if simulated[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="red"))
        text.append(row)
    title = "Best throughput per model and platform (SIM = simulated, hatched)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    inter = go.Figure(go.Heatmap(z=values, x=platforms, y=models, text=text, texttemplate="%{text}"))
    inter.update_layout(title=title)
    return Plot("platform_model_heatmap", title, fig, inter)


def precision_comparison(frame: pd.DataFrame) -> Plot:
    """Best throughput per precision, per model and platform; simulated bars hatched."""
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    frame = frame.assign(group=frame["model"] + " " + frame["hardware"] + "/" + frame["backend"])
    best = frame.loc[frame.groupby(["group", "precision", "is_simulated"])["throughput_samples_per_s"].idxmax()]
    groups = sorted(best["group"].unique())
    precisions = sorted(best["precision"].unique())
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(groups) + 2), 5))
    width = 0.8 / max(len(precisions), 1)
    inter = go.Figure()
    for k, precision in enumerate(precisions):
        for simulated in (False, True):
            part = best[(best["precision"] == precision) & (best["is_simulated"] == simulated)]
            if part.empty:
                continue
            xs = [groups.index(g) + k * width for g in part["group"]]
            label = precision + (SIM if simulated else "")
            ax.bar(
                xs,
                part["throughput_samples_per_s"],
                width,
                label=label,
                hatch="///" if simulated else None,
                alpha=0.5 if simulated else 1.0,
            )
            inter.add_trace(
                go.Bar(
                    x=part["group"],
                    y=part["throughput_samples_per_s"],
                    name=label,
                    marker_pattern_shape="/" if simulated else "",
                )
            )
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("best samples/s")
    title = "Precision comparison (best batch of each)"
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    inter.update_layout(title=title, barmode="group", yaxis={"title": "best samples/s"})
    return Plot("precision_comparison", title, fig, inter)


def all_plots(
    db_path: str | os.PathLike[str], models: list[str] | None = None, memory_limit_mb: float | None = None
) -> list[Plot]:
    from .comparative import _latest, samples_by_run

    frame = _latest(db_path, models, None)
    frame["is_simulated"] = frame["is_simulated"].fillna(False).astype(bool)
    samples = samples_by_run(db_path, list(frame["mlflow_run_id"]))
    return [
        throughput_vs_batch(frame),
        latency_distributions(frame, samples),
        memory_vs_batch(frame, memory_limit_mb),
        platform_model_heatmap(frame),
        precision_comparison(frame),
    ]


def write(plots: list[Plot], out_dir: Path) -> list[Path]:
    """``<name>.png`` per plot and one interactive ``plots.html`` (plotly.js embedded once:
    it opens offline); written to temp names, then renamed."""
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in plots:
        path = out_dir / f"{p.name}.png"
        tmp = out_dir / f".{p.name}.png.tmp"
        p.figure.savefig(tmp, dpi=110, format="png")
        plt.close(p.figure)
        os.replace(tmp, path)
        paths.append(path)
    parts = [p.interactive.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, p in enumerate(plots)]
    html = out_dir / "plots.html"
    tmp = out_dir / ".plots.html.tmp"
    tmp.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>hwbench plots</title></head><body>"
        + "".join(parts)
        + "</body></html>"
    )
    os.replace(tmp, html)
    return [*paths, html]
