"""``hwbench run``: benchmark a plan of configs, each a nested MLflow run of one sweep run."""

from __future__ import annotations

from typing import Any

import click

from .. import names as N
from ..errors import BadInputError
from .options import (
    DEFAULT_DB_PATH,
    Int,
    browser_option,
    check_db_path,
    items,
    measure_options,
    optional_output,
    parse_batch_sizes,
    parse_choices,
    parse_counts,
    write_output,
)
from .render import get_console, print_not_measured, print_summary, print_sync, report_outbox
from .search import search


@click.command()
@click.option("--model", "models", help="Catalog key or local HF id; comma list (default: bert-tiny,minilm).")
@click.option("--category", help=f"Only models of this category ({', '.join(N.CATEGORIES)}).")
@click.option("--all", "all_models", is_flag=True, help="Every catalog model.")
@click.option("--hardware", help=f"Platforms, comma list ({', '.join(N.PLATFORMS)}); default: all available.")
@click.option("--backend", help="Runtimes, comma list (default: the platform's own).")
@browser_option
@click.option("--batch-sizes", default="1", show_default=True, help="Comma list of batch sizes.")
@click.option(
    "--precision",
    help=f"Comma list of {', '.join(N.PRECISIONS)}, or 'native' (all the hardware runs natively); "
    "default: fp32 (openvino_genai: int4, the GGUF's 4-bit weights).",
)
@click.option(
    "--scenario",
    default="latency",
    show_default=True,
    help="latency (one request at a time) | throughput (as many in flight as the runtime wants) | generate "
    "(LLM generation: TTFT, TPOT, tokens/s); comma list.",
)
@click.option("--prompt-tokens", help="generate: prompt lengths in tokens, comma list (default 128).")
@click.option("--new-tokens", help="generate: tokens generated per sequence, comma list (default 64).")
@click.option("--log-model", is_flag=True, help="Also log converted model files (OpenVINO IR, ONNX) as artifacts.")
@click.option("--training-mode", is_flag=True, help="Benchmark a full training step instead of inference.")
@click.option("--mode", "mode_opt", help="inference | training | inference,training (MLproject's form).")
@click.option("--seq-length", type=Int(), default="128", show_default=True, help="Text sequence length.")
@click.option("--limit", type=Int(), help="Run at most this many configs.")
@click.option(
    "--max-workers",
    type=Int(),
    default="1",
    show_default=True,
    help="Configs run at once, each pinned to its own CPU cores (shared host: numbers change).",
)
@click.option("--output", help="Also write the results table (.csv, .json or .parquet).")
@click.option("--experiment", default=N.DEFAULT_EXPERIMENT, show_default=True, help="MLflow experiment name.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
@measure_options("--timeout")
@click.option("--db-path", default=DEFAULT_DB_PATH, show_default=True, help="DuckDB mirror synced after the sweep.")
@click.option("--no-db", is_flag=True, help="Do not sync the DuckDB mirror after the sweep.")
@click.option(
    "--memory-constrained",
    type=str,
    metavar="MB",
    help="Instead of a grid: search the batch size that fits in MB (= hwbench search --memory-limit MB).",
)
@click.pass_context
def run(
    ctx: click.Context,
    models: str | None,
    category: str | None,
    all_models: bool,
    hardware: str | None,
    backend: str | None,
    batch_sizes: str,
    precision: str | None,
    scenario: str,
    prompt_tokens: str | None,
    new_tokens: str | None,
    log_model: bool,
    training_mode: bool,
    mode_opt: str | None,
    seq_length: int,
    limit: int | None,
    max_workers: int,
    output: str | None,
    experiment: str,
    tracking_uri: str | None,
    settings: Any,
    db_path: str,
    no_db: bool,
    memory_constrained: str | None,
) -> int:
    """Benchmark a plan; every config is a nested MLflow run of one sweep run, then the
    DuckDB mirror is synced (unless --no-db).

    Exit code 0 when every config succeeded, 1 when any failed (or the sync did), 2 on bad input.
    """
    from ..catalog import resolve_model

    if memory_constrained is not None:
        from click.core import ParameterSource

        if ctx.get_parameter_source("batch_sizes") != ParameterSource.DEFAULT:
            raise BadInputError("--memory-constrained searches the batch size; do not combine it with --batch-sizes")
        if models is None or "," in models:
            raise BadInputError("--memory-constrained needs exactly one --model (example: --model bert)")
        return ctx.invoke(
            search,
            model=models,
            hardware=hardware or "cpu",
            backend=backend,
            precision=precision,
            memory_limit=memory_constrained,
            scenario=scenario,
            mode_opt="training" if training_mode else mode_opt or "inference",
            seq_length=seq_length,
            experiment=experiment,
            tracking_uri=tracking_uri,
            settings=settings,
            db_path=db_path,
            no_db=no_db,
        )
    model_list = items("--model", models) if models is not None else []
    for m in model_list:
        resolve_model(m)
    hw = parse_choices("--hardware", hardware, N.PLATFORMS) if hardware is not None else None
    from ..backends import BACKENDS

    be = parse_choices("--backend", backend, tuple(BACKENDS)) if backend is not None else None
    sizes = parse_batch_sizes(batch_sizes)
    if precision is None:
        precisions = None  # each runtime's default
    elif precision.strip() == "native":
        precisions = ["native"]
    else:
        precisions = parse_choices("--precision", precision, N.PRECISIONS)
    scenarios = parse_choices("--scenario", scenario, N.SCENARIOS)
    prompts = parse_counts("--prompt-tokens", prompt_tokens, "128,512")
    news = parse_counts("--new-tokens", new_tokens, "64")
    from ..plan import generation_shapes

    generation_shapes([resolve_model(m) for m in model_list], scenarios, prompts, news)  # refused before any run
    modes = parse_choices("--mode", mode_opt, N.MODES) if mode_opt is not None else ["inference"]
    if training_mode:
        modes = ["training"]
    if seq_length < 1:
        raise BadInputError(f"--seq-length must be >= 1, got {seq_length}")
    if limit is not None and limit < 1:
        raise BadInputError(f"--limit must be >= 1, got {limit}")
    workers = max_workers
    if workers < 1:
        raise BadInputError(f"--max-workers must be >= 1, got {workers}")
    out_path = optional_output(output)
    if not no_db:
        check_db_path(db_path)
    if not experiment.strip():
        raise BadInputError("--experiment must not be empty")
    if workers > 1:
        from ..worker import format_cores, split_cores

        sets = " | ".join(format_cores(c) for c in split_cores(workers))
        click.echo(
            f"hwbench: warning: --max-workers {workers} runs {workers} configs at once on disjoint cores ({sets}); "
            "they still share caches, memory bandwidth and power, so each number differs from a run alone "
            "(every run records hwbench.shared_host=true and its cores); use --max-workers 1 for reference numbers",
            err=True,
        )

    from ..runner import run_benchmark
    from ..tracking.ui_url import run_url
    from ..tracking.uri import redact_uri

    err = get_console(stderr=True)
    progress_state: dict[str, Any] = {}

    def on_start(plan: list[Any]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        err.print(f"[bold]hwbench[/] sweep of {len(plan)} config(s); each runs in a fresh worker process")
        progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            auto_refresh=False,
            transient=False,
        )
        progress.start()
        progress_state["p"] = progress
        progress_state["task"] = progress.add_task(plan[0].run_name, total=len(plan))
        progress_state["plan"] = plan
        progress.refresh()

    def on_result(result: Any) -> None:
        p = progress_state["p"]
        done = int(p.tasks[0].completed) + 1
        plan = progress_state["plan"]
        nxt = plan[done].run_name if done < len(plan) else "done"
        mark = {"success": "ok", "skipped": "skipped"}.get(result.status, "FAILED") + (
            f" ({result.error_category})" if result.error_category else ""
        )
        p.console.print(f"  {result.config.run_name}: {mark}", markup=False, highlight=False)
        p.update(progress_state["task"], advance=1, description=nxt)
        p.refresh()

    try:
        sweep = run_benchmark(
            model_list,
            category=category,
            all_models=all_models,
            hardware=hw,
            backend=be,
            batch_sizes=sizes,
            precision=precisions,
            mode=modes,
            scenario=scenarios,
            log_model=log_model,
            seq_length=seq_length,
            prompt_tokens=prompts,
            new_tokens=news,
            limit=limit,
            settings=settings,
            experiment=experiment,
            tracking_uri=tracking_uri,
            max_workers=workers,
            db_path=None if no_db else db_path,
            on_start=on_start,
            on_result=on_result,
        )
    finally:
        if "p" in progress_state:
            progress_state["p"].stop()
    frame = sweep.to_frame()
    if out_path:
        write_output(frame, out_path)
    print_summary(sweep)
    out = get_console()
    ui = (
        f"mlflow ui --backend-store-uri {redact_uri(sweep.tracking_uri)}"
        if sweep.tracking_uri.startswith(("sqlite:", "file:", "/"))
        else redact_uri(sweep.tracking_uri)
    )
    out.print(
        f"\nRuns: experiment {sweep.experiment or experiment!r}, sweep run {sweep.parent_run_id} "
        f"(sweep id {sweep.sweep_id})",
        markup=False,
    )
    out.print(
        f"Look: {ui}   (or: hwbench ui) → "
        + run_url("http://127.0.0.1:5000", sweep.experiment_id, sweep.parent_run_id),
        markup=False,
    )
    if out_path:
        out.print(f"Table written to {out_path}")
    if hw is None:
        print_not_measured(out)
    report_outbox(sweep.replayed, sweep.outboxed)
    synced = True if no_db or sweep.outboxed else print_sync(sweep.sync_report, db_path, out)
    out.print(
        "Next: hwbench run --model bert --batch-sizes 1,8 --precision fp32,bf16,int8   |   "
        "hwbench run --model bert-tiny --training-mode   |   hwbench matrix   |   hwbench hardware"
    )
    if sweep.skipped:
        err.print(f"{len(sweep.skipped)} config(s) skipped: incompatible here (see `hwbench matrix`)")
    if sweep.failed:
        err.print(f"{len(sweep.failed)} of {len(sweep.results)} config(s) failed; see the table above")
        return 1
    return 0 if synced and not sweep.outboxed else 1
