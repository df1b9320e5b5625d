"""The commands that read the mirror: query, export, analyze and compare."""

from __future__ import annotations

from typing import Any

import click

from ..errors import BadInputError
from .options import (
    DB_OPTION,
    Int,
    check_log_uri,
    log_options,
    optional_items,
    optional_mode,
    optional_output,
    to_float,
    write_output,
)
from .render import emit, print_table
from .tables import layout_option


@click.command()
@click.argument("sql")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--max-rows", type=Int(), default="100", show_default=True, help="Rows shown in table format.")
@layout_option
def query(sql: str, db_path: str, fmt: str, max_rows: int, layout: str) -> int:
    """Run a read-only SQL query on the mirror (the file is opened read-only)."""
    from ..mirror.query import sql as run_sql

    if max_rows < 0:
        raise BadInputError(f"--max-rows must be >= 0, got {max_rows}")
    frame = run_sql(sql, db_path)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2, date_format="iso"))
    else:
        print_table(frame, max_rows, layout)
    return 0


@click.command()
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "json"]), default="parquet", show_default=True)
@click.option("--output", required=True, help="File (with --table) or directory (every data table).")
@click.option("--table", help="One table or view (e.g. results, performance_results).")
def export(db_path: str, fmt: str, output: str, table: str | None) -> int:
    """Export the mirror's tables (Parquet, CSV or JSON); files appear whole or not at all."""
    from ..mirror.query import export as do_export

    for path in do_export(db_path, fmt, output, table):
        click.echo(str(path))
    return 0


def _table_options(f: Any) -> Any:
    """--mode, --output, --format: what analyze and compare read, write and print."""
    f = click.option(
        "--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table", show_default=True
    )(f)
    f = click.option("--output", help="Write the whole table (.csv, .json or .parquet).")(f)
    return click.option("--mode", "mode_opt", help="inference | training (default: both).")(f)


@click.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option(
    "--baseline", default="cpu/torch/fp32", show_default=True, help="Speedups against hardware/backend/precision."
)
@_table_options
@log_options
def analyze(
    db_path: str,
    models: str | None,
    baseline: str,
    mode_opt: str | None,
    output: str | None,
    fmt: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """Comparative analysis from the mirror: every configuration with throughput, latency
    percentiles and their CIs (from the raw samples), memory, and speedup against --baseline."""
    from ..reporting.comparative import SUMMARY_COLUMNS, parse_baseline
    from ..reporting.comparative import analyze as do_analyze

    check_log_uri(tracking_uri, no_log)
    parse_baseline(baseline)
    out_path = optional_output(output)
    frame = do_analyze(
        db_path, models=optional_items("--model", models), baseline=baseline, mode=optional_mode(mode_opt)
    )
    if out_path:
        write_output(frame, out_path)
    emit(frame, SUMMARY_COLUMNS, fmt)
    if out_path:
        click.echo(f"analysis of {len(frame)} configuration(s) written to {out_path}", err=True)
    if not no_log:
        _publish(frame, "analysis", SUMMARY_COLUMNS, db_path, tracking_uri, experiment, {"baseline": baseline})
    return 0


def _publish(
    frame: Any,
    name: str,
    columns: list[str],
    db_path: str,
    tracking_uri: str | None,
    experiment: str,
    params: dict[str, Any],
) -> None:
    """Record a reading command's table on a report run (``NAME.csv``, ``NAME.md``) and say where."""
    from ..reporting.publish import publish_table

    run_id = publish_table(
        frame, name, columns, db_path=db_path, tracking_uri=tracking_uri, experiment=experiment, params=params
    )
    click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}', {name}.csv)", err=True)


@click.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option("--cross-platform", is_flag=True, help="Every platform side by side; winner per metric, significance.")
@click.option("--batch-scaling", is_flag=True, help="Throughput/latency vs batch; efficiency vs batch 1; saturation.")
@click.option("--compare-to", help="Baseline file (hwbench analyze --output) to check for regressions.")
@click.option("--baseline-sweep", help="Baseline = the results of this sweep id in the mirror.")
@click.option("--regression-alert", default="0.1", show_default=True, help="Smallest change that counts (0.1 = 10 %).")
@_table_options
@log_options
def compare(
    db_path: str,
    models: str | None,
    cross_platform: bool,
    batch_scaling: bool,
    compare_to: str | None,
    baseline_sweep: str | None,
    regression_alert: str,
    mode_opt: str | None,
    output: str | None,
    fmt: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """Cross-platform comparison, batch-scaling analysis, or a regression check against a
    baseline (exit 1 when any configuration regressed: size AND significance)."""
    from ..reporting import comparative as C

    chosen = [
        n
        for n, on in (
            ("--cross-platform", cross_platform),
            ("--batch-scaling", batch_scaling),
            ("--compare-to/--baseline-sweep", bool(compare_to or baseline_sweep)),
        )
        if on
    ]
    if len(chosen) != 1:
        raise BadInputError(
            "choose one of --cross-platform, --batch-scaling, --compare-to FILE / --baseline-sweep ID"
            + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    if compare_to and baseline_sweep:
        raise BadInputError("--compare-to and --baseline-sweep are two baselines; give one")
    check_log_uri(tracking_uri, no_log)
    out_path = optional_output(output)
    model_list = optional_items("--model", models)
    mode = optional_mode(mode_opt)
    exit_code = 0
    if cross_platform:
        frame, cols = C.cross_platform(db_path, models=model_list, mode=mode), C.CROSS_PLATFORM_COLUMNS
    elif batch_scaling:
        frame, cols = C.batch_scaling(db_path, models=model_list, mode=mode), C.BATCH_SCALING_COLUMNS
    else:
        threshold = to_float("--regression-alert", regression_alert)
        if threshold < 0:
            raise BadInputError(f"--regression-alert must be >= 0 (0.1 = 10 %), got {regression_alert}")
        base = C.read_baseline(compare_to) if compare_to else C.baseline_from_sweep(db_path, baseline_sweep or "")
        frame = C.compare_to_baseline(db_path, base, threshold=threshold, models=model_list)
        cols = C.REGRESSION_COLUMNS
        regressions = frame[frame["verdict"] == "regression"]
        exit_code = 1 if len(regressions) else 0
    if out_path:
        write_output(frame, out_path)
    emit(frame, cols, fmt)
    if not no_log:
        kind = "cross-platform" if cross_platform else "batch-scaling" if batch_scaling else "regression"
        _publish(frame, f"compare-{kind}", cols, db_path, tracking_uri, experiment, {"compare": kind})
    if exit_code:
        click.echo(
            f"hwbench: regression in {len(regressions)} configuration(s) (> {threshold:.0%} and significant)", err=True
        )
    return exit_code
