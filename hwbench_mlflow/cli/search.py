"""``hwbench search``: the batch size that maximises an objective under a memory limit."""

from __future__ import annotations

from typing import Any

import click

from .. import names as N
from ..errors import BadInputError
from .options import (
    DEFAULT_DB_PATH,
    Float,
    Int,
    browser_option,
    check_db_path,
    measure_options,
    parse_choices,
    to_float,
)
from .render import get_console, print_sync, print_trials, report_outbox

# batch_search.problem.OBJECTIVES' names (kept here: --help must not import the search)
OBJECTIVE_NAMES = (
    "throughput",
    "latency-p50",
    "latency-p95",
    "latency-p99",
    "latency-mean",
    "decode-tokens-per-s",
    "output-tokens-per-s",
    "ttft-p50",
)


@click.command()
@click.option("--model", required=True, help="One catalog key or local HF id.")
@click.option("--hardware", default="cpu", show_default=True, help="Platforms, comma list (searched over).")
@click.option("--backend", help="Runtimes, comma list (default: the platform's own; searched over).")
@browser_option
@click.option(
    "--precision", help="Comma list (searched over); default: fp32 (openvino_genai: int4, the GGUF's 4-bit weights)."
)
@click.option(
    "--memory-limit",
    type=str,
    metavar="MB",
    help="Peak memory limit (worker RSS; device memory on GPUs). Default: the host's available memory.",
)
@click.option("--latency-limit", type=Float(), metavar="MS", help="Also keep p99 latency per batch under this.")
@click.option(
    "--itl-limit", type=Float(), metavar="MS", help="generate: also keep the p99 inter-token latency under this."
)
@click.option(
    "--objective",
    type=click.Choice(list(OBJECTIVE_NAMES)),
    help="Default: throughput; decode-tokens-per-s for --scenario generate (the batch: sequences at once).",
)
@click.option("--max-batch", type=Int(), default="256", show_default=True, help="Largest batch size considered.")
@click.option("--n-trials", type=Int(), help="At most this many trials (default: until the planner converges).")
@click.option("--timeout", "search_timeout", type=Float(), help="Start no trial after this many seconds.")
@click.option(
    "--sampler",
    type=click.Choice(["planned", "tpe"]),
    default="planned",
    show_default=True,
    help="planned: expand by doubling, then bisect around the best; tpe: Optuna's TPE.",
)
@click.option("--storage", help="Optuna storage URL (default: sqlite:///hwbench-optuna.db in the current directory).")
@click.option("--study-name", help="Name of the Optuna study; an existing study of the same search resumes.")
@click.option("--seed", type=Int(), help="Seed of the TPE sampler.")
@click.option(
    "--repeats",
    type=Int(),
    default="3",
    show_default=True,
    help="planned: measure the top points this many times and rank them by the median (1: once).",
)
@click.option("--mode", "mode_opt", default="inference", show_default=True, help="inference | training.")
@click.option("--scenario", default="latency", show_default=True, help="latency | throughput | generate.")
@click.option("--prompt-tokens", type=Int(), help="generate: the prompt's length in tokens (default 128).")
@click.option("--new-tokens", type=Int(), help="generate: tokens generated per sequence (default 64).")
@click.option("--seq-length", type=Int(), default="128", show_default=True, help="Text sequence length.")
@click.option("--experiment", default=N.DEFAULT_EXPERIMENT, show_default=True, help="MLflow experiment name.")
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
@measure_options("--trial-timeout")
@click.option("--db-path", default=DEFAULT_DB_PATH, show_default=True, help="DuckDB mirror synced after the search.")
@click.option("--no-db", is_flag=True, help="Do not sync the DuckDB mirror after the search.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def search(
    model: str,
    hardware: str,
    backend: str | None,
    precision: str | None,
    memory_limit: str | None,
    latency_limit: float | None,
    itl_limit: float | None,
    objective: str | None,
    max_batch: int,
    n_trials: int | None,
    search_timeout: float | None,
    sampler: str,
    storage: str | None,
    study_name: str | None,
    seed: int | None,
    repeats: int,
    mode_opt: str,
    scenario: str,
    prompt_tokens: int | None,
    new_tokens: int | None,
    seq_length: int,
    experiment: str,
    tracking_uri: str | None,
    settings: Any,
    db_path: str,
    no_db: bool,
    as_json: bool,
) -> int:
    """Find the batch size that maximises --objective under --memory-limit: an Optuna
    study whose every trial is a worker run and a nested MLflow run.

    Exit code 0 with an answer, 1 when nothing fits (or the sync failed), 2 on bad input.
    """
    from ..backends import BACKENDS
    from ..catalog import resolve_model

    if "," in model:
        raise BadInputError("--model: a search is about one model; run one search per model")
    resolve_model(model)
    kwargs: dict[str, Any] = {
        "hardware": parse_choices("--hardware", hardware, N.PLATFORMS),
        "backend": parse_choices("--backend", backend, tuple(BACKENDS)) if backend is not None else None,
        "precision": parse_choices("--precision", precision, N.PRECISIONS) if precision is not None else None,
        "memory_limit_mb": to_float("--memory-limit", memory_limit) if memory_limit is not None else None,
        "latency_limit_ms": latency_limit,
        "itl_limit_ms": itl_limit,
        "objective": objective,
        "max_batch": max_batch,
        "n_trials": n_trials,
        "timeout_s": search_timeout,
        "sampler": sampler,
        "storage": storage,
        "study_name": study_name,
        "seed": seed,
        "repeats": repeats,
        "mode": parse_choices("--mode", mode_opt, N.MODES)[0],
        "scenario": parse_choices("--scenario", scenario, N.SCENARIOS)[0],
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "seq_length": seq_length,
        "settings": settings,
        "experiment": experiment,
        "tracking_uri": tracking_uri,
        "db_path": None if no_db else db_path,
    }
    if kwargs["memory_limit_mb"] is not None:
        _check_limit_can_bind(kwargs["memory_limit_mb"], memory_limit or "", kwargs["hardware"])
    if not no_db:
        check_db_path(db_path)
    from ..batch_search.problem import default_objective
    from ..batch_search.study import describe, outcome_of, run_search

    objective = kwargs["objective"] = objective or default_objective(kwargs["scenario"])

    err = get_console(stderr=True)
    banner: list[int] = []

    def on_trial(t: Any) -> None:
        if not banner:
            banner.append(1)
            err.print(
                f"[bold]hwbench search[/]: {model}, {objective}, memory limit {memory_limit or 'host'} MB; "
                "each trial is a fresh worker"
            )
        value = f"{t.value:.4g}" if t.value is not None and t.value == t.value else "-"
        mem = f"{t.memory_mb:.0f} MB" if t.memory_mb is not None else "-"
        tail = f"  {t.error[:90]}" if t.error else ""
        err.print(
            f"  trial {t.number}: {t.config} b{t.batch_size}: {t.state}, {objective} {value}, {mem}{tail}", markup=False
        )

    result = run_search(model, on_trial=on_trial, **kwargs)
    out = get_console()
    if as_json:
        import json

        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print_trials(result)
    from ..tracking.uri import redact_uri

    for config, why in result.not_searched.items():
        click.echo(f"hwbench: not searched: {config}: {why}", err=True)
    answer = describe(result)
    click.echo(answer if result.best is not None else "hwbench: " + answer, err=result.best is None)
    click.echo(
        f"MLflow: search run {result.parent_run_id} (experiment '{result.experiment or experiment}', "
        f"{redact_uri(result.tracking_uri)}); Optuna: optuna-dashboard {result.storage} "
        f"(study '{result.study_name}')"
    )
    report_outbox(result.replayed, result.outboxed)
    synced = True if no_db or result.outboxed else print_sync(result.sync_report, db_path, out)
    return 0 if outcome_of(result) == "found" and synced and not result.outboxed else 1


def _check_limit_can_bind(limit_mb: float, text: str, hardware: list[str]) -> None:
    """A limit above all the memory there is cannot bind: refused (``text``: as given)."""
    import psutil

    gpus = set(hardware) & {"cuda", "rocm"}
    has = {"this host has": psutil.virtual_memory().total / 2**20} if set(hardware) - gpus else {}
    if gpus:  # device memory: nvidia-smi's; unknown (inf) on ROCm or without it
        import subprocess

        try:
            smi = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
            out = subprocess.run(smi, capture_output=True, text=True, timeout=10).stdout
            has["its largest GPU has"] = float("inf") if "rocm" in gpus else max(float(v) for v in out.split())
        except (OSError, ValueError, subprocess.SubprocessError):
            has["its largest GPU has"] = float("inf")
    if limit_mb > max(has.values()):
        said = " and ".join(f"{k} {v:.0f} MB" for k, v in has.items())
        raise BadInputError(f"--memory-limit {text} MB cannot bind: {said}")
