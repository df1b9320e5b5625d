"""The pictures ``hwbench visualize`` and ``hwbench report`` draw, from the DuckDB mirror.

Each plot is drawn twice from the same data: a matplotlib PNG and a plotly figure (the
interactive HTML). Simulated data can never pass for measured data: its series are dashed
and labelled ``SIMULATED``, its bars and heatmap cells hatched / marked, in both renderings;
a title mentions simulation only when the plot holds simulated data.

Uncertainty is drawn wherever a number is: the 95 % CI of the median latency (from the raw
samples where the mirror holds them, else the CI the run logged) as error bars on the
latency boxes, and, turned into samples/s (throughput × p50 / CI bound), on the throughput
lines and bars. A value axis turns logarithmic when the series it holds differ by more than
``LOG_RATIO``×, so a slow model is not flattened onto 0 by a fast one.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError
from .figures import SIM, Plot, _subtitle
from .generation_plots import generation_plots

if TYPE_CHECKING:
    import pandas as pd

LOG_RATIO = 10.0  # series maxima further apart than this: log value axis
CI_NOTE = "error bars: 95 % CI of the median latency"
CI_COLOR = "crimson"
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 against 10 colours: no pair repeats before 70 series


def _label(row: Any) -> str:
    base = f"{row.model} {row.hardware}/{row.backend}/{row.precision}"
    return base + (SIM if row.is_simulated else "")


def _any_simulated(frame: pd.DataFrame) -> bool:
    return "is_simulated" in frame and bool(frame["is_simulated"].fillna(False).astype(bool).any())


def _needs_log(maxima: Any) -> bool:
    """True when the positive series maxima differ by more than LOG_RATIO×."""
    values = [float(v) for v in maxima if v is not None and math.isfinite(float(v)) and float(v) > 0]
    return len(values) > 1 and max(values) / min(values) > LOG_RATIO


def _log_axis(axis: Any) -> None:
    """Plain numbers on a log axis (0.5, 10, 300, not 3×10²); minor ticks labelled (some of
    2…8 × 10^k) when the axis spans 2.5 decades or less, where the majors alone say too little."""
    from matplotlib.ticker import FuncFormatter, StrMethodFormatter

    def minor(x: float, _pos: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        span = math.log10(hi / lo) if lo > 0 and hi > lo else math.inf
        if x <= 0 or span > 2.5:
            return ""
        mantissa = round(x / 10 ** math.floor(math.log10(x) + 1e-9), 6)
        keep = (2, 3, 4, 5, 6, 8) if span <= 1.0 else (2, 3, 5) if span <= 1.6 else (2, 5)
        return f"{x:g}" if mantissa in keep else ""

    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _throughput_ci(frame: pd.DataFrame) -> tuple[Any, Any]:
    """Throughput bounds from the p50 latency CI: samples/s scales as 1 / latency, so the
    bounds are throughput × p50 / CI high and throughput × p50 / CI low (NaN where unknown)."""
    import numpy as np

    cols = ("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms")
    if not all(c in frame for c in cols):
        nan = np.full(len(frame), np.nan)
        return nan, nan.copy()
    thr = frame["throughput_samples_per_s"].to_numpy(dtype=float)
    p50, lo, hi = (frame[c].to_numpy(dtype=float) for c in cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = thr * p50 / hi, thr * p50 / lo
    bad = ~(np.isfinite(low) & np.isfinite(high) & (p50 > 0) & (lo > 0))
    low[bad], high[bad] = np.nan, np.nan
    return low, high


def _series(frame: pd.DataFrame) -> list[tuple[str, bool, pd.DataFrame]]:
    keys = ["model", "hardware", "device", "backend", "precision", "scenario", "is_simulated"]
    out = []
    for _, g in frame.groupby(keys, sort=True):
        g = g.sort_values("batch_size")
        out.append((_label(g.iloc[0]), bool(g.iloc[0]["is_simulated"]), g))
    return out


def _lines(
    frame: pd.DataFrame,
    column: str,
    title: str,
    ylabel: str,
    name: str,
    limit: float | None = None,
    ci: tuple[str, str] | None = None,
) -> Plot:
    """One line per configuration over batch size; ``ci`` names the frame's lower / upper
    bound columns, drawn as error bars where known."""
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go
    from matplotlib.ticker import NullFormatter, StrMethodFormatter

    series = _series(frame)
    log_y = _needs_log([g[column].max() for _, _, g in series])
    simulated_any = any(s for _, s, _ in series)
    fig, ax = plt.subplots(figsize=(11, 5.5), layout="constrained")
    inter = go.Figure()
    has_ci = False
    for k, (label, simulated, g) in enumerate(series):
        style = {"linestyle": "--", "alpha": 0.6} if simulated else {"linestyle": "-"}
        x, y = g["batch_size"].to_numpy(dtype=float), g[column].to_numpy(dtype=float)
        marker = MARKERS[k % len(MARKERS)]
        hollow = {"markerfacecolor": "none"} if k % 2 else {}  # two series that coincide both show
        (line,) = ax.plot(x, y, marker=marker, label=label, **hollow, **style)
        error = None
        if ci is not None:
            lo, hi = g[ci[0]].to_numpy(dtype=float), g[ci[1]].to_numpy(dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                has_ci = True
                yerr = np.vstack([y[ok] - lo[ok], hi[ok] - y[ok]]).clip(min=0)
                ax.errorbar(x[ok], y[ok], yerr=yerr, fmt="none", ecolor=line.get_color(), capsize=4, elinewidth=1.2)
                error = {"type": "data", "array": list(hi - y), "arrayminus": list(y - lo), "visible": True}
        inter.add_trace(
            go.Scatter(
                x=g["batch_size"],
                y=g[column],
                mode="lines+markers",
                name=label,
                line={"dash": "dash" if simulated else "solid"},
                error_y=error,
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
    ax.xaxis.set_minor_formatter(NullFormatter())
    if log_y:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        ylabel += " (log scale)"
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    notes = [CI_NOTE + (", as samples/s" if column == "throughput_samples_per_s" else "")] if has_ci else []
    notes += [f"log y: the series differ > {LOG_RATIO:g}×"] if log_y else []
    full = title + (" (dashed = SIMULATED)" if simulated_any else "")
    _subtitle(ax, full, notes)
    ax.grid(True, alpha=0.3, which="both" if log_y else "major")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + len(series) // 28, frameon=False)
    inter.update_layout(
        title=full + ("<br><sup>" + " · ".join(notes) + "</sup>" if notes else ""),
        xaxis={"type": "log", "title": "batch size", "tickvals": batches},
        yaxis={"title": ylabel, "type": "log" if log_y else "linear"},
    )
    return Plot(name, full, fig, inter)


def throughput_vs_batch(frame: pd.DataFrame) -> Plot:
    low, high = _throughput_ci(frame)
    frame = frame.assign(_thr_lo=low, _thr_hi=high)
    return _lines(
        frame,
        "throughput_samples_per_s",
        "Throughput vs batch size",
        "samples/s",
        "throughput_vs_batch",
        ci=("_thr_lo", "_thr_hi"),
    )


def memory_vs_batch(frame: pd.DataFrame, limit_mb: float | None = None) -> Plot:
    title = "Peak memory vs batch size"
    return _lines(frame, "memory_mb", title, "MB (device memory on GPUs)", "memory_vs_batch", limit_mb)


def _horizontal() -> dict[str, Any]:
    """Horizontal boxes: ``orientation=`` since matplotlib 3.10 (``vert=`` is deprecated)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _not_drawn(rows: list[Any], most: int = 12) -> str:
    """The configurations without raw samples, by why: simulated (they have none) or measured
    but without samples in the mirror; at most ``most`` named per kind, then a count."""
    parts = []
    for simulated, why in ((False, "measured, no samples in the mirror"), (True, "simulated, no samples")):
        names = [
            f"{r.model} {r.hardware}/{r.backend}/{r.precision} b{r.batch_size}"
            for r in rows
            if bool(r.is_simulated) == simulated
        ]
        if names:
            more = f"; + {len(names) - most} more" if len(names) > most else ""
            parts.append(textwrap.fill(f"{why} ({len(names)}): " + "; ".join(names[:most]) + more, 170))
    return f"not drawn ({len(rows)}):\n" + "\n".join(parts)


def latency_distributions(frame: pd.DataFrame, samples: dict[str, Any]) -> Plot:
    """Box plots of the raw per-iteration latencies of every configuration that has them
    (only measured runs do), one panel per model, with the 95 % CI of each median; the
    configurations without raw samples are named under the figure."""
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go

    from ..measure import quantile_ci

    rows = [r for r in frame.itertuples() if len(samples.get(r.mlflow_run_id, ())) > 0]
    missing = [r for r in frame.itertuples() if len(samples.get(r.mlflow_run_id, ())) == 0]
    models = sorted({r.model for r in rows})
    by_model = [[r for r in rows if r.model == m] for m in models]
    height = 0.3 * len(rows) + 0.85 * max(len(models), 1) + 1.4 + 0.15 * (len(missing) > 0)
    fig = plt.figure(figsize=(10, max(height, 3.5)), layout="constrained")
    axes = fig.subplots(max(len(models), 1), 1, squeeze=False, height_ratios=[len(g) + 1.2 for g in by_model] or None)
    axes = list(axes[:, 0])
    inter = go.Figure()
    title = "Latency distributions (raw samples)"
    medians, lows, highs, names = [], [], [], []
    for ax, model, group in zip(axes, models, by_model, strict=False):
        data = [np.sort(np.asarray(samples[r.mlflow_run_id], dtype=float)) for r in group]
        labels = [
            f"{r.hardware}/{r.backend}/{r.precision} b{r.batch_size} (n={len(s)})"
            for r, s in zip(group, data, strict=True)
        ]
        ys = np.arange(1, len(group) + 1)
        ax.boxplot(
            data,
            **_horizontal(),
            showfliers=True,
            widths=0.6,
            flierprops={"markersize": 2.5, "alpha": 0.5},
            medianprops={"color": "black"},
        )
        med = np.array([float(np.median(s)) for s in data])
        ci = np.array([quantile_ci(s, 0.5) for s in data], dtype=float).reshape(-1, 2)
        ok = np.isfinite(ci).all(axis=1)
        if ok.any():
            xerr = np.vstack([med[ok] - ci[ok, 0], ci[ok, 1] - med[ok]]).clip(min=0)
            ax.errorbar(med[ok], ys[ok], xerr=xerr, fmt="|", color=CI_COLOR, elinewidth=2.5, capsize=5, zorder=4)
        ax.set_yticks(ys, labels, fontsize=7.5)
        ax.invert_yaxis()  # the frame's order, top to bottom
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.grid(True, axis="x", alpha=0.3, which="both")
        ax.set_title(model, fontsize=9, loc="left", fontweight="bold")
        for s, label in zip(data, labels, strict=True):
            inter.add_trace(go.Box(x=s, name=f"{model} {label}", boxpoints="outliers", orientation="h"))
        medians += list(med)
        lows += list(ci[:, 0])
        highs += list(ci[:, 1])
        names += [f"{model} {label}" for label in labels]
    if not rows:
        axes[0].text(0.5, 0.5, "no raw samples in the mirror", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_yticks([])
    axes[-1].set_xlabel("latency per batch, ms (log scale)")
    notes = [f"{len(rows)} configuration(s) with raw samples", "red: 95 % CI of the median"]
    fig.suptitle(title + "\n" + " · ".join(notes), fontsize=10, x=0.01, ha="left")
    footer = ""
    if missing:
        footer = _not_drawn(missing)
        fig.supxlabel(footer, fontsize=7, x=0.01, ha="left", color="#444")
    if medians:
        med, lo, hi = (np.asarray(v, dtype=float) for v in (medians, lows, highs))
        inter.add_trace(
            go.Scatter(
                x=med,
                y=names,
                mode="markers",
                name="median, 95 % CI",
                marker={"color": CI_COLOR, "symbol": "line-ns-open", "size": 12},
                error_x={"type": "data", "array": list(hi - med), "arrayminus": list(med - lo), "color": CI_COLOR},
            )
        )
    inter.update_layout(
        title=title + "<br><sup>" + " · ".join(notes) + "</sup>",
        xaxis={"type": "log", "title": "latency per batch, ms"},
        yaxis={"autorange": "reversed"},
        height=max(450, 24 * len(rows) + 220) + 14 * footer.count("\n"),
        showlegend=False,
    )
    if footer:  # under the plot, as in the PNG
        inter.add_annotation(
            text=footer.replace("\n", "<br>"),
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-50,
            xanchor="left",
            yanchor="top",
            align="left",
            showarrow=False,
            font={"size": 10},
        )
        inter.update_layout(margin={"b": 80 + 14 * footer.count("\n")})
    return Plot("latency_distributions", title, fig, inter)


def _ci_pct(row: Any) -> float:
    """Half-width of the p50 CI relative to the p50, in % (NaN when unknown)."""
    try:
        lo, hi, p50 = float(row.latency_p50_ci_low_ms), float(row.latency_p50_ci_high_ms), float(row.latency_p50_ms)
    except (AttributeError, TypeError, ValueError):
        return math.nan
    return 100.0 * (hi - lo) / 2.0 / p50 if p50 > 0 else math.nan


def platform_model_heatmap(frame: pd.DataFrame) -> Plot:
    """Best throughput of each model on each platform, with the batch that reached it and its
    CI (± % of the median latency); simulated cells hatched and marked SIM; a log colour
    scale when the cells differ by more than LOG_RATIO×."""
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go
    from matplotlib.colors import LogNorm

    frame = frame.assign(platform=frame["hardware"] + "/" + frame["backend"])
    best = frame.loc[frame.groupby(["model", "platform"])["throughput_samples_per_s"].idxmax()]
    models = sorted(best["model"].unique())
    platforms = sorted(best["platform"].unique())
    values = np.full((len(models), len(platforms)), np.nan)
    simulated = np.zeros_like(values, dtype=bool)
    text = [["not measured"] * len(platforms) for _ in models]
    for r in best.itertuples():
        i, j = models.index(r.model), platforms.index(r.platform)
        values[i, j] = r.throughput_samples_per_s
        simulated[i, j] = bool(r.is_simulated)
        pct = _ci_pct(r)
        detail = f"b{int(r.batch_size)}" + (f" ±{pct:.1f}%" if math.isfinite(pct) else "")
        text[i][j] = f"{r.throughput_samples_per_s:.0f}" + (" SIM" if r.is_simulated else "") + "\n" + detail
    log_c = _needs_log(values[np.isfinite(values)])
    fig, ax = plt.subplots(figsize=(1.9 * len(platforms) + 3.5, 0.75 * len(models) + 2.8), layout="constrained")
    norm = LogNorm(np.nanmin(values), np.nanmax(values)) if log_c else None
    im = ax.imshow(values, cmap="viridis", aspect="auto", norm=norm)
    bar = fig.colorbar(im, ax=ax, label="best samples/s" + (" (log)" if log_c else ""))
    if log_c:
        _log_axis(bar.ax.yaxis)
    ax.set_xticks(range(len(platforms)), platforms, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), models)
    for i in range(len(models)):
        for j in range(len(platforms)):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7.5, bbox={"facecolor": "white", "alpha": 0.8})
            if simulated[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="red"))
    title = "Best throughput per model and platform" + (" (SIM = simulated, hatched)" if simulated.any() else "")
    _subtitle(ax, title, ["cell: best samples/s, the batch that reached it, ± half-width of the p50 CI"])
    ax.title.set_fontsize(9)
    z = np.log10(values) if log_c else values
    inter = go.Figure(
        go.Heatmap(
            z=z,
            x=platforms,
            y=models,
            text=[[t.replace("\n", "<br>") for t in row] for row in text],
            texttemplate="%{text}",
            colorscale="Viridis",
            colorbar={"title": "log10 samples/s" if log_c else "samples/s"},
        )
    )
    inter.update_layout(title=title, yaxis={"autorange": "reversed"})  # rows top to bottom, as in the PNG
    return Plot("platform_model_heatmap", title, fig, inter)


def precision_comparison(frame: pd.DataFrame) -> Plot:
    """Best throughput per precision, per model and platform, each bar labelled with the batch
    that reached it and its CI as error bars; simulated bars hatched; log y when the bars
    differ by more than LOG_RATIO×."""
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go

    low, high = _throughput_ci(frame)
    frame = frame.assign(
        group=frame["model"] + " " + frame["hardware"] + "/" + frame["backend"], _thr_lo=low, _thr_hi=high
    )
    best = frame.loc[frame.groupby(["group", "precision", "is_simulated"])["throughput_samples_per_s"].idxmax()]
    groups = sorted(best["group"].unique())
    slots = sorted({(r.precision, bool(r.is_simulated)) for r in best.itertuples()})  # one colour each
    present = {g: [(r.precision, bool(r.is_simulated)) for r in best[best["group"] == g].itertuples()] for g in groups}
    present = {g: sorted(v) for g, v in present.items()}  # the bars of a group, centred on its tick
    log_y = _needs_log(best["throughput_samples_per_s"])
    most = max(len(v) for v in present.values())
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(groups) * most + 3.5), 5.5), layout="constrained")
    width = 0.8 / most
    inter = go.Figure()
    has_ci = False
    for precision, simulated in slots:
        part = best[(best["precision"] == precision) & (best["is_simulated"].astype(bool) == simulated)]
        xs = np.array(
            [
                groups.index(g) + (present[g].index((precision, simulated)) - (len(present[g]) - 1) / 2) * width
                for g in part["group"]
            ]
        )
        y = part["throughput_samples_per_s"].to_numpy(dtype=float)
        lo, hi = part["_thr_lo"].to_numpy(dtype=float), part["_thr_hi"].to_numpy(dtype=float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        has_ci |= bool(ok.any())
        label = precision + (SIM if simulated else "")
        bars = ax.bar(
            xs,
            y,
            width,
            label=label,
            hatch="///" if simulated else None,
            alpha=0.5 if simulated else 1.0,
        )
        if ok.any():
            yerr = np.vstack([y[ok] - lo[ok], hi[ok] - y[ok]]).clip(min=0)
            ax.errorbar(xs[ok], y[ok], yerr=yerr, fmt="none", ecolor="black", capsize=3, elinewidth=1)
        batch_text = [f"b{int(b)}" for b in part["batch_size"]]
        ax.bar_label(bars, batch_text, padding=3, fontsize=7.5)
        inter.add_trace(
            go.Bar(
                x=part["group"],
                y=part["throughput_samples_per_s"],
                name=label,
                marker_pattern_shape="/" if simulated else "",
                text=batch_text,
                textposition="outside",
                error_y={"type": "data", "array": list(hi - y), "arrayminus": list(y - lo), "visible": True},
            )
        )
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.tick_params(axis="x", labelsize=8)
    ylabel = "best samples/s"
    if log_y:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        ylabel += " (log scale)"
    ax.margins(y=0.12)
    ax.set_ylabel(ylabel)
    title = "Precision comparison: best batch of each (bar label = its batch size)"
    notes = [CI_NOTE + ", as samples/s"] if has_ci else []
    notes += [f"log y: the bars differ > {LOG_RATIO:g}×"] if log_y else []
    _subtitle(ax, title, notes)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    inter.update_layout(
        title=title + ("<br><sup>" + " · ".join(notes) + "</sup>" if notes else ""),
        barmode="group",
        yaxis={"title": ylabel, "type": "log" if log_y else "linear"},
    )
    return Plot("precision_comparison", title, fig, inter)


def _fill_ci(frame: pd.DataFrame, samples: dict[str, Any]) -> pd.DataFrame:
    """The p50 CI from the raw samples where the mirror holds them (as ``analyze`` does),
    else the CI the run logged."""
    import numpy as np

    from ..measure import quantile_ci

    lo = frame["latency_p50_ci_low_ms"].to_numpy(dtype=float).copy()
    hi = frame["latency_p50_ci_high_ms"].to_numpy(dtype=float).copy()
    for i, run_id in enumerate(frame["mlflow_run_id"]):
        s = samples.get(run_id)
        if s is not None and len(s) >= 6:
            lo[i], hi[i] = quantile_ci(np.sort(np.asarray(s, dtype=float)), 0.5)
    return frame.assign(latency_p50_ci_low_ms=lo, latency_p50_ci_high_ms=hi)


def all_plots(
    db_path: str | os.PathLike[str], models: list[str] | None = None, memory_limit_mb: float | None = None
) -> list[Plot]:
    from .comparative import _latest, samples_by_run

    frame = _latest(db_path, models, None)
    frame["is_simulated"] = frame["is_simulated"].fillna(False).astype(bool)
    generated = generation_plots(db_path, models)  # a generation is drawn by its own plots only
    frame = frame[frame["scenario"] != "generate"]
    if frame.empty:
        return generated
    samples = samples_by_run(db_path, list(frame["mlflow_run_id"]))
    frame = _fill_ci(frame, samples)
    return [
        throughput_vs_batch(frame),
        latency_distributions(frame, samples),
        memory_vs_batch(frame, memory_limit_mb),
        platform_model_heatmap(frame),
        precision_comparison(frame),
        *generated,
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


def draw_plots(
    db_path: str | os.PathLike[str] = "hwbench.duckdb",
    output_dir: str | os.PathLike[str] = "hwbench-plots",
    *,
    models: Sequence[str] | None = None,
    memory_limit_mb: float | None = None,
) -> list[Path]:
    """Draw every plot of the mirror's latest results into ``output_dir`` (created): one PNG per
    plot and one interactive ``plots.html``; the paths written. ``memory_limit_mb`` is drawn
    on the memory plot."""
    if memory_limit_mb is not None and not (math.isfinite(memory_limit_mb) and memory_limit_mb > 0):
        raise BadInputError(f"memory_limit_mb must be a number > 0, got {memory_limit_mb:g}", param="memory_limit_mb")
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"output_dir is a file: {output_dir}", param="output_dir")
    import matplotlib

    matplotlib.use("Agg")
    return write(all_plots(db_path, list(models) if models is not None else None, memory_limit_mb), out_dir)
