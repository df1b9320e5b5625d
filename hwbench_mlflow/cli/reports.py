"""The commands that turn the mirror into advice and pictures: recommend, visualize, report, matrix."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from .. import names as N
from ..errors import BadInputError
from .options import (
    DB_OPTION,
    DEFAULT_DB_PATH,
    Float,
    browser_option,
    check_db_path,
    check_log_uri,
    check_writable_dir,
    log_options,
    optional_items,
    parse_choices,
    to_float,
)
from .render import print_matrix, print_recommendations


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``--weights throughput=0.7,latency=0.3`` → ``{"throughput": 0.7, "latency": 0.3}``."""
    if text is None:
        return None
    weights: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in ("throughput", "latency"):
            raise BadInputError(f"--weights: '{item.strip()}' is not throughput=W or latency=W")
        try:
            w = float(value)
        except ValueError:
            raise BadInputError(f"--weights: '{value.strip()}' is not a number") from None
        if not (math.isfinite(w) and w >= 0):
            raise BadInputError(f"--weights: {key} must be a number >= 0, got {value.strip()}")
        weights[key] = w
    if sum(weights.values()) <= 0:
        raise BadInputError("--weights: at least one weight must be > 0")
    return weights


@click.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list (default: every model with results).")
@click.option("--weights", help="Best-overall weights, e.g. throughput=0.7,latency=0.3 (default 0.5 each).")
@click.option("--latency", type=click.Choice(["p50", "p99"]), default="p50", show_default=True)
@click.option("--memory-limit", type=Float(), metavar="MB", help="Only configurations whose peak memory fits.")
@click.option(
    "--itl-limit", type=Float(), metavar="MS", help="Generative models: best decode tokens/s with p99 ITL under this."
)
@click.option("--prices", type=str, help="YAML: $/hour per platform (cpu: 0.10, cuda: 2.50, ...).")
@click.option("--power", type=str, help="YAML: watts per platform, used where no energy counter measured it.")
@click.option("--mode", "mode_opt", default="inference", show_default=True, help="inference | training.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table", show_default=True
)
@log_options
def recommend(
    db_path: str,
    models: str | None,
    weights: str | None,
    latency: str,
    memory_limit: float | None,
    itl_limit: float | None,
    prices: str | None,
    power: str | None,
    mode_opt: str,
    fmt: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """Hardware recommendations per model from the DuckDB mirror: best overall, throughput,
    latency, memory and value, each with its evidence and a confidence rating; for generate
    runs best TTFT, best decode tokens/s (under --itl-limit) and least memory."""
    from ..reporting.recommend import load_table, normalise_weights, to_frame, to_markdown
    from ..reporting.recommend import recommend as do_recommend

    check_log_uri(tracking_uri, no_log)
    w = normalise_weights(parse_weights(weights))
    price_table = load_table(prices, "--prices", "$/hour")
    power_table = load_table(power, "--power", "watts")
    recs = do_recommend(
        db_path,
        models=optional_items("--model", models),
        weights=w,
        latency=latency,
        memory_limit_mb=memory_limit,
        prices=price_table,
        power=power_table,
        mode=parse_choices("--mode", mode_opt, N.MODES)[0],
        itl_limit_ms=itl_limit,
    )
    frame = to_frame(recs)
    if fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(recs))
    else:
        print_recommendations(recs)
    for r in recs:
        if r.warning:
            click.echo(f"hwbench: warning: {r.model} {r.criterion}: {r.warning}", err=True)
    if not no_log:
        from ..reporting.publish import output_tracking_uri
        from ..reporting.recommend import log_to_mlflow

        params = {
            "db_path": db_path,
            "weights": w,
            "latency": latency,
            "memory_limit_mb": memory_limit or "none",
            "itl_limit_ms": itl_limit or "none",
            "models": models or "all",
            "prices": prices or "none",
            "power": power or "none",
            "mode": mode_opt,
        }
        run_id = log_to_mlflow(recs, output_tracking_uri(db_path, tracking_uri), experiment, params)
        click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}')", err=True)
    return 0


@click.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option("--memory-limit", type=str, metavar="MB", help="Draw this limit on the memory plot.")
@click.option("--output-dir", default="hwbench-plots", show_default=True, help="Where the PNGs and plots.html go.")
@log_options
def visualize(
    db_path: str,
    models: str | None,
    memory_limit: str | None,
    output_dir: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """Plots from the mirror (throughput and memory vs batch, latency distributions, platform ×
    model heatmap, precision comparison) as PNG + one interactive plots.html, logged to MLflow."""
    from ..reporting.plots import draw_plots

    limit = _plot_limit(memory_limit, output_dir)
    uri = _log_uri(db_path, tracking_uri, no_log)
    paths = draw_plots(db_path, output_dir, models=optional_items("--model", models), memory_limit_mb=limit)
    for path in paths:
        click.echo(str(path))
    if uri is not None:
        _publish(paths, "**hwbench visualize**: " + ", ".join(p.name for p in paths), db_path, uri, experiment)
    return 0


@click.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option("--memory-limit", type=str, metavar="MB", help="Draw this limit on the memory plot.")
@click.option("--prices", type=str, help="YAML: $/hour per platform, for the value recommendation.")
@click.option("--output", default="hwbench-report.html", show_default=True, help="The HTML file.")
@log_options
def report(
    db_path: str,
    models: str | None,
    memory_limit: str | None,
    prices: str | None,
    output: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """One self-contained HTML report: plots, recommendations, hardware availability, what was
    not measured and why, every configuration; logged to MLflow with the plots."""
    import tempfile

    from ..reporting.recommend import load_table
    from ..reporting.report import write_report

    out = Path(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"--output: the report is HTML; name a .html file, got '{output}'")
    if not out.resolve().parent.is_dir():
        raise BadInputError(f"--output: directory does not exist: {out.resolve().parent}")
    check_writable_dir("--output", out.resolve().parent)
    price_table = load_table(prices, "--prices", "$/hour")
    with tempfile.TemporaryDirectory(prefix="hwbench-report-") as tmp:
        limit = _plot_limit(memory_limit, tmp)
        uri = _log_uri(db_path, tracking_uri, no_log)
        model_list = optional_items("--model", models)
        paths = write_report(db_path, out, models=model_list, memory_limit_mb=limit, prices=price_table, plots_dir=tmp)
        click.echo(str(out))
        if uri is not None:
            _publish(paths, f"**hwbench report**: {out.name}", db_path, uri, experiment)
    return 0


def _plot_limit(memory_limit: str | None, output_dir: str) -> float | None:
    """--memory-limit of the plots (a number > 0), and --output-dir not a file."""
    limit = to_float("--memory-limit", memory_limit) if memory_limit is not None else None
    if limit is not None and limit <= 0:
        raise BadInputError(f"--memory-limit must be a number > 0, got {memory_limit}")
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"--output-dir is a file: {output_dir}")
    return limit


def _log_uri(db_path: str, tracking_uri: str | None, no_log: bool) -> str | None:
    """Where the output is logged (None: --no-log), checked before anything is drawn."""
    from ..reporting.publish import output_tracking_uri

    return None if no_log else output_tracking_uri(db_path, tracking_uri)


def _publish(paths: list[Path], note: str, db_path: str, uri: str, experiment: str) -> None:
    from ..reporting.publish import publish_files

    run_id = publish_files(paths, note, db_path=db_path, tracking_uri=uri, experiment=experiment)
    click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}', artifacts plots/)", err=True)


@click.command()
@click.option("--model", "models", help="Catalog keys, comma list (default: the whole catalog).")
@click.option("--category", help=f"Only models of this category ({', '.join(N.CATEGORIES)}).")
@click.option("--hardware", help="Platforms, comma list (default: all).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option(
    "--db-path",
    default=DEFAULT_DB_PATH,
    show_default=True,
    help="Read the last observed status from this DuckDB mirror when it exists (else from MLflow).",
)
@click.option("--tracking-uri", help="Read the last observed status from this MLflow store instead of the mirror.")
@click.option("--no-history", is_flag=True, help="Do not read the last observed status.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Table: a row for every model × platform × backend × mode (default: the rows with a ✔, "
    "and one line per group that does not run here). CSV and JSON always hold every combination.",
)
@browser_option
def matrix(
    models: str | None,
    category: str | None,
    hardware: str | None,
    fmt: str,
    db_path: str,
    tracking_uri: str | None,
    no_history: bool,
    show_all: bool,
) -> int:
    """Model × platform × backend × precision × mode: ✔ or ✖ with the reason.

    The same checks `hwbench run` applies before starting a worker; a ✖ is never run.
    The table shows what runs here and sums up the rest by platform and reason (--all: every row).
    """
    from ..reporting.matrix import matrix as compatibility

    model_list = optional_items("--model", models)
    platforms = parse_choices("--hardware", hardware, N.PLATFORMS) if hardware is not None else None
    if not no_history and tracking_uri is None and Path(db_path).exists():
        check_db_path(db_path)
    frame: Any = compatibility(
        model_list,
        category=category,
        hardware=platforms,
        db_path=db_path,
        tracking_uri=tracking_uri,
        history=not no_history,
    )
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    else:
        print_matrix(frame, show_all)
    return 0
