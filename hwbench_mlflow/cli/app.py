"""The ``hwbench`` command: a thin click layer over the package's functions.

Only click and import-free modules load at start-up, so ``hwbench --help`` stays fast;
mlflow, torch and rich load inside the commands that need them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from .. import names as N
from ..errors import BadInputError, HwbenchError
from .flags import PARAM_FLAGS
from .tables import layout_option

OUTPUT_SUFFIXES = (".csv", ".json", ".parquet")
DEFAULT_DB_PATH = "hwbench.duckdb"  # = store.DEFAULT_DB_PATH (store is not imported at start-up)


# ----------------------------------------------------------------------------- parsing


def _items(flag: str, value: str) -> list[str]:
    items = [v.strip() for v in value.split(",")]
    if not value.strip() or any(not v for v in items):
        raise BadInputError(f"{flag} needs a comma-separated list without empty items, got '{value}'")
    return items


MAX_BATCH_SIZE = 1 << 20  # past any accelerator's memory for the smallest model: refused before a run is logged


def parse_batch_sizes(value: str) -> list[int]:
    """``"1,8,32"`` → ``[1, 8, 32]``; every item a positive integer."""
    out = []
    for item in _items("--batch-sizes", value):
        try:
            n = int(item)
        except ValueError:
            raise BadInputError(f"--batch-sizes: '{item}' is not an integer (example: --batch-sizes 1,8,32)") from None
        if not 1 <= n <= MAX_BATCH_SIZE:
            raise BadInputError(f"--batch-sizes: batch size must be between 1 and {MAX_BATCH_SIZE}, got {item}")
        out.append(n)
    return list(dict.fromkeys(out))


def parse_choices(flag: str, value: str, choices: tuple[str, ...]) -> list[str]:
    out = []
    for item in _items(flag, value):
        if item not in choices:
            import difflib

            close = difflib.get_close_matches(item, choices, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadInputError(f"{flag}: unknown value '{item}'{hint}; choose from {', '.join(choices)}")
        out.append(item)
    return list(dict.fromkeys(out))


def check_output_path(path: str) -> Path:
    p = Path(path)
    if p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BadInputError(f"--output: unsupported file type '{p.suffix or p.name}'; use {', '.join(OUTPUT_SUFFIXES)}")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise BadInputError(f"--output: directory does not exist: {parent}")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise BadInputError(f"--output: not writable: {p}")
    check_writable_dir("--output", parent)
    return p


def check_writable_dir(flag: str, directory: Path) -> None:
    """Try a nameless file there: root passes every os.access check, yet /proc or a
    read-only mount refuse new files."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise BadInputError(f"{flag}: cannot write in {directory}: {exc.strerror or exc}") from None


def check_db_path(path: str) -> None:
    p = Path(path)
    if not path.strip() or p.is_dir():
        raise BadInputError(f"--db-path must name a file, got '{path}'")
    if not p.resolve().parent.is_dir():
        raise BadInputError(f"--db-path: directory does not exist: {p.resolve().parent}")


def write_output(frame: Any, path: Path) -> None:
    suffix = path.suffix.lower()
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    elif suffix == ".json":
        frame.to_json(tmp, orient="records", indent=2)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


PIPED_WIDTH = 160  # a pipe or file has no width: tables stay whole unless COLUMNS says otherwise


def _console(stderr: bool = False) -> Any:
    """A rich console; piped, as wide as ``COLUMNS`` says, else PIPED_WIDTH."""
    from rich.console import Console

    console = Console(stderr=stderr)  # honours COLUMNS itself
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console


# ----------------------------------------------------------------------------- commands


MEASURE_OPTIONS = (
    click.option("--warmup", type=str, default="5", show_default=True, help="Untimed iterations after the first."),
    click.option("--min-iterations", type=str, default="10", show_default=True, help="Fewest timed iterations."),
    click.option("--min-time", type=str, default="0.5", show_default=True, help="Fewest seconds of timed loop."),
    click.option("--max-time", type=str, default="10", show_default=True, help="Cap on the timed loop, seconds."),
    click.option(
        "--target-ci",
        type=str,
        default="0.02",
        show_default=True,
        help="Stop when the 95% CI of the median is within ±this fraction.",
    ),
    click.option(
        "--malloc",
        type=click.Choice(["tuned", "default"]),
        default="tuned",
        show_default=True,
        help="glibc malloc thresholds in the worker (tuned avoids per-iteration page faults).",
    ),
    click.option(
        "--worker-start",
        type=click.Choice(["forkserver", "exec"]),
        default="forkserver",
        show_default=True,
        help="Fork workers from a warm server (fast) or start each with a fresh interpreter.",
    ),
)


def _use_browser(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--browser PATH``: the only browser the web platforms use (for this process and its workers)."""
    if value is None:
        return None
    path = shutil.which(value) or value
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BadInputError(f"--browser: {value} is not an executable file")
    os.environ["HWBENCH_BROWSER"] = os.path.abspath(path)
    from ..browsers import detect_browsers
    from ..hardware import detect_hardware

    detect_browsers.cache_clear()  # an earlier call in this process may have seen other browsers
    detect_hardware.cache_clear()
    return path


browser_option = click.option(
    "--browser",
    metavar="PATH",
    callback=_use_browser,
    expose_value=False,
    is_eager=True,
    help="Use only this Chromium for the web platforms (default: chromium, and @sparticuz/chromium from make web).",
)


def measure_options(timeout_flag: str) -> Any:
    """The timing-loop options shared by `run` and `search` (whose --timeout is the search's)."""
    timeout = click.option(
        timeout_flag, "timeout", type=str, default="900", show_default=True, help="Per-config worker timeout, seconds."
    )

    def decorate(f: Any) -> Any:
        for option in reversed((*MEASURE_OPTIONS[:4], timeout, *MEASURE_OPTIONS[4:])):
            f = option(f)
        return f

    return decorate


def build_settings(
    warmup: str,
    min_iterations: str,
    min_time: str,
    max_time: str,
    target_ci: str,
    timeout: str,
    malloc: str,
    worker_start: str,
) -> Any:
    from ..config import MeasureSettings

    return MeasureSettings(
        warmup=_int("--warmup", warmup),
        min_iterations=_int("--min-iterations", min_iterations),
        min_time_s=_float("--min-time", min_time),
        max_time_s=_float("--max-time", max_time),
        target_ci=_float("--target-ci", target_ci),
        timeout_s=_float("--timeout", timeout),
        malloc=malloc,
        worker_start=worker_start,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hwbench-mlflow", prog_name="hwbench")
def cli() -> None:
    """Hardware benchmarking for ML models, recorded in MLflow.

    Start with `hwbench hardware`, `hwbench models`, then `hwbench run`.
    """


@cli.command()
@click.option("--model", "models", help="Catalog key or local HF id; comma list (default: bert-tiny,minilm).")
@click.option("--category", help=f"Only models of this category ({', '.join(N.CATEGORIES)}).")
@click.option("--all", "all_models", is_flag=True, help="Every catalog model.")
@click.option("--hardware", help=f"Platforms, comma list ({', '.join(N.PLATFORMS)}); default: all available.")
@click.option("--backend", help="Runtimes, comma list (default: the platform's own).")
@browser_option
@click.option("--batch-sizes", default="1", show_default=True, help="Comma list of batch sizes.")
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    help=f"Comma list of {', '.join(N.PRECISIONS)}, or 'native' (all the hardware runs natively).",
)
@click.option(
    "--scenario",
    default="latency",
    show_default=True,
    help="latency (one request at a time) | throughput (as many in flight as the runtime wants); comma list.",
)
@click.option("--log-model", is_flag=True, help="Also log converted model files (OpenVINO IR, ONNX) as artifacts.")
@click.option("--training-mode", is_flag=True, help="Benchmark a full training step instead of inference.")
@click.option("--mode", "mode_opt", help="inference | training | inference,training (MLproject's form).")
@click.option("--seq-length", type=str, default="128", show_default=True, help="Text sequence length.")
@click.option("--limit", type=str, help="Run at most this many configs.")
@click.option(
    "--max-workers",
    type=str,
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
    precision: str,
    scenario: str,
    log_model: bool,
    training_mode: bool,
    mode_opt: str | None,
    seq_length: str,
    limit: str | None,
    max_workers: str,
    output: str | None,
    experiment: str,
    tracking_uri: str | None,
    warmup: str,
    min_iterations: str,
    min_time: str,
    max_time: str,
    target_ci: str,
    timeout: str,
    malloc: str,
    worker_start: str,
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
            warmup=warmup,
            min_iterations=min_iterations,
            min_time=min_time,
            max_time=max_time,
            target_ci=target_ci,
            timeout=timeout,
            malloc=malloc,
            worker_start=worker_start,
            db_path=db_path,
            no_db=no_db,
        )
    model_list = _items("--model", models) if models is not None else []
    for m in model_list:
        resolve_model(m)
    hw = parse_choices("--hardware", hardware, N.PLATFORMS) if hardware is not None else None
    from ..backends import BACKENDS

    be = parse_choices("--backend", backend, tuple(BACKENDS)) if backend is not None else None
    sizes = parse_batch_sizes(batch_sizes)
    precisions = ["native"] if precision.strip() == "native" else parse_choices("--precision", precision, N.PRECISIONS)
    scenarios = parse_choices("--scenario", scenario, N.SCENARIOS)
    modes = parse_choices("--mode", mode_opt, N.MODES) if mode_opt is not None else ["inference"]
    if training_mode:
        modes = ["training"]
    settings = build_settings(warmup, min_iterations, min_time, max_time, target_ci, timeout, malloc, worker_start)
    seq = _int("--seq-length", seq_length)
    if seq < 1:
        raise BadInputError(f"--seq-length must be >= 1, got {seq}")
    n_limit = _int("--limit", limit) if limit is not None else None
    if n_limit is not None and n_limit < 1:
        raise BadInputError(f"--limit must be >= 1, got {n_limit}")
    workers = _int("--max-workers", max_workers)
    if workers < 1:
        raise BadInputError(f"--max-workers must be >= 1, got {workers}")
    out_path = check_output_path(output) if output else None
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
    from ..tracking.client import redact_uri
    from ..tracking.ui_url import run_url

    err = _console(stderr=True)
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
            seq_length=seq,
            limit=n_limit,
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
    _print_summary(sweep)
    out = _console()
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
        _print_not_measured(out)
    _report_outbox(sweep.replayed, sweep.outboxed)
    synced = True if no_db or sweep.outboxed else _print_sync(sweep.sync_report, db_path, out)
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


def _print_not_measured(out: Any) -> None:
    """The platforms a default sweep left out, each with the reason (nothing is filled in for them)."""
    from ..hardware import detect_hardware
    from ..plan import default_platforms

    report = detect_hardware()
    missing = [p for p in report.platforms if not p.available]
    if missing:
        out.print("Not measured here (unavailable): " + "; ".join(f"{p.platform}: {p.reason}" for p in missing))
    left = [p for p in report.platforms if p.available and p.platform not in default_platforms(report)]
    for p in left:
        out.print(
            f"Not in the default sweep: {p.platform} has only a software adapter ({', '.join(p.devices)}); "
            f"--hardware {p.platform} measures it"
        )


def _report_outbox(replayed: int, outboxed: int) -> None:
    """Say what the outbox did: runs an earlier sweep kept, now written; runs kept by this one."""
    from ..tracking.outbox import outbox_dir

    if replayed:  # click, not rich: one line however long (rich wraps at the console width)
        click.echo(f"hwbench: replayed {replayed} run(s) kept in the outbox {outbox_dir()}", err=True)
    if outboxed:
        click.echo(
            f"hwbench: warning: the tracking store stopped answering; {outboxed} run(s) are kept in the outbox "
            f"{outbox_dir()} and are written by the next run against it, or now with: hwbench sync --replay",
            err=True,
        )


@cli.command()
@click.option("--model", required=True, help="One catalog key or local HF id.")
@click.option("--hardware", default="cpu", show_default=True, help="Platforms, comma list (searched over).")
@click.option("--backend", help="Runtimes, comma list (default: the platform's own; searched over).")
@browser_option
@click.option("--precision", default="fp32", show_default=True, help="Comma list (searched over).")
@click.option(
    "--memory-limit",
    type=str,
    metavar="MB",
    help="Peak memory limit (worker RSS; device memory on GPUs). Default: the host's available memory.",
)
@click.option("--latency-limit", type=str, metavar="MS", help="Also keep p99 latency per batch under this.")
@click.option(
    "--objective",
    type=click.Choice(["throughput", "latency-p50", "latency-p95", "latency-p99", "latency-mean"]),
    default="throughput",
    show_default=True,
)
@click.option("--max-batch", type=str, default="256", show_default=True, help="Largest batch size considered.")
@click.option("--n-trials", type=str, help="At most this many trials (default: until the planner converges).")
@click.option("--timeout", "search_timeout", type=str, help="Start no trial after this many seconds.")
@click.option(
    "--sampler",
    type=click.Choice(["planned", "tpe"]),
    default="planned",
    show_default=True,
    help="planned: expand by doubling, then bisect around the best; tpe: Optuna's TPE.",
)
@click.option("--storage", help="Optuna storage URL (default: sqlite:///hwbench-optuna.db in the current directory).")
@click.option("--study-name", help="Name of the Optuna study; an existing study of the same search resumes.")
@click.option("--seed", type=str, help="Seed of the TPE sampler.")
@click.option(
    "--repeats",
    type=str,
    default="3",
    show_default=True,
    help="planned: measure the top points this many times and rank them by the median (1: once).",
)
@click.option("--mode", "mode_opt", default="inference", show_default=True, help="inference | training.")
@click.option("--scenario", default="latency", show_default=True, help="latency | throughput.")
@click.option("--seq-length", type=str, default="128", show_default=True, help="Text sequence length.")
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
    precision: str,
    memory_limit: str | None,
    latency_limit: str | None = None,
    objective: str = "throughput",
    max_batch: str = "256",
    n_trials: str | None = None,
    search_timeout: str | None = None,
    sampler: str = "planned",
    storage: str | None = None,
    study_name: str | None = None,
    seed: str | None = None,
    repeats: str = "3",
    mode_opt: str = "inference",
    scenario: str = "latency",
    seq_length: str = "128",
    experiment: str = N.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    warmup: str = "5",
    min_iterations: str = "10",
    min_time: str = "0.5",
    max_time: str = "10",
    target_ci: str = "0.02",
    timeout: str = "900",
    malloc: str = "tuned",
    worker_start: str = "forkserver",
    db_path: str = DEFAULT_DB_PATH,
    no_db: bool = False,
    as_json: bool = False,
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
    settings = build_settings(warmup, min_iterations, min_time, max_time, target_ci, timeout, malloc, worker_start)
    kwargs: dict[str, Any] = {
        "hardware": parse_choices("--hardware", hardware, N.PLATFORMS),
        "backend": parse_choices("--backend", backend, tuple(BACKENDS)) if backend is not None else None,
        "precision": parse_choices("--precision", precision, N.PRECISIONS),
        "memory_limit_mb": _float("--memory-limit", memory_limit) if memory_limit is not None else None,
        "latency_limit_ms": _float("--latency-limit", latency_limit) if latency_limit is not None else None,
        "objective": objective,
        "max_batch": _int("--max-batch", max_batch),
        "n_trials": _int("--n-trials", n_trials) if n_trials is not None else None,
        "timeout_s": _float("--timeout", search_timeout) if search_timeout is not None else None,
        "sampler": sampler,
        "storage": storage,
        "study_name": study_name,
        "seed": _int("--seed", seed) if seed is not None else None,
        "repeats": _int("--repeats", repeats),
        "mode": parse_choices("--mode", mode_opt, N.MODES)[0],
        "scenario": parse_choices("--scenario", scenario, N.SCENARIOS)[0],
        "seq_length": _int("--seq-length", seq_length),
        "settings": settings,
        "experiment": experiment,
        "tracking_uri": tracking_uri,
        "db_path": None if no_db else db_path,
    }
    if kwargs["memory_limit_mb"] is not None:  # a limit above all the memory there is cannot bind
        import psutil

        gpus = set(kwargs["hardware"]) & {"cuda", "rocm"}
        has = {"this host has": psutil.virtual_memory().total / 2**20} if set(kwargs["hardware"]) - gpus else {}
        if gpus:  # device memory: nvidia-smi's; unknown (inf) on ROCm or without it
            import subprocess

            try:
                smi = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
                out = subprocess.run(smi, capture_output=True, text=True, timeout=10).stdout
                has["its largest GPU has"] = float("inf") if "rocm" in gpus else max(float(v) for v in out.split())
            except (OSError, ValueError, subprocess.SubprocessError):
                has["its largest GPU has"] = float("inf")
        if kwargs["memory_limit_mb"] > max(has.values()):
            said = " and ".join(f"{k} {v:.0f} MB" for k, v in has.items())
            raise BadInputError(f"--memory-limit {memory_limit} MB cannot bind: {said}")
    if not no_db:
        check_db_path(db_path)
    from ..search.study import describe, outcome_of, run_search

    err = _console(stderr=True)
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
    out = _console()
    if as_json:
        import json

        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_trials(result)
    from ..tracking.client import redact_uri

    for config, why in result.not_searched.items():
        click.echo(f"hwbench: not searched: {config}: {why}", err=True)
    answer = describe(result)
    click.echo(answer if result.best is not None else "hwbench: " + answer, err=result.best is None)
    click.echo(
        f"MLflow: search run {result.parent_run_id} (experiment '{result.experiment or experiment}', "
        f"{redact_uri(result.tracking_uri)}); Optuna: optuna-dashboard {result.storage} "
        f"(study '{result.study_name}')"
    )
    _report_outbox(result.replayed, result.outboxed)
    synced = True if no_db or result.outboxed else _print_sync(result.sync_report, db_path, out)
    return 0 if outcome_of(result) == "found" and synced and not result.outboxed else 1


def _print_trials(result: Any) -> None:
    from rich.table import Table

    t = Table(title=f"hwbench search {result.study_name}: {result.objective} ({result.direction})")
    for col in ("trial", "config", "batch", "state", "objective", "samples/s", "p99 ms", "peak MB", "note"):
        t.add_column(
            col, justify="right" if col in ("trial", "batch", "objective", "samples/s", "p99 ms", "peak MB") else "left"
        )

    def num(x: Any, fmt: str) -> str:
        return format(x, fmt) if x is not None and x == x and abs(x) != float("inf") else ""

    best = result.best.number if result.best else None
    for tr in sorted(result.trials, key=lambda x: (x.config, x.batch_size)):
        mem = num(tr.memory_mb, ".0f") + ("+" if tr.memory_capped else "")
        state = f"[bold green]{tr.state} ★[/]" if tr.number == best else tr.state
        t.add_row(
            str(tr.number),
            tr.config,
            str(tr.batch_size),
            state,
            num(tr.value, ".4g"),
            num(tr.throughput, ".1f"),
            num(tr.latency_p99_ms, ".2f"),
            mem,
            tr.error[:60],
        )
    console = _console()
    console.print(t)
    if any(tr.memory_capped for tr in result.trials):
        console.print("+ stopped by the memory guard: the peak it had reached when stopped (a lower bound)")


def _print_sync(report: Any, db_path: str, out: Any) -> bool:
    """Where the sweep's mirror is (its failure was said on stderr already); whether it synced."""
    if report is None:
        return False
    out.print(
        f"DuckDB: {db_path} ({report.kind} sync, {report.rows_written} rows written in {report.seconds:.1f} s) "
        f'→ hwbench query "SELECT * FROM results" --db-path {db_path}',
        markup=False,
    )
    return True


def _int(flag: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{flag} needs an integer, got '{value}'") from None


def _float(flag: str, value: str) -> float:
    import math

    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{flag} needs a number, got '{value}'") from None
    if math.isnan(x) or math.isinf(x):
        raise BadInputError(f"{flag} needs a finite number, got '{value}'")
    return x


CONFIG_CELL_WIDTH = 72


def _fit_config_name(name: str, width: int = CONFIG_CELL_WIDTH) -> str:
    """A config name cut to ``width``: a long one (config.run_name: ``fp32 b8 · cpu/torch ·
    <model> · inference``) keeps its start (precision, batch, hardware/backend) and its end
    (mode, scenario), which tell a sweep's configs apart, and loses the middle of the model part
    to a '…'; any other name loses its middle."""
    from ..config import RUN_NAME_SEP

    if len(name) <= width:
        return name
    parts = name.split(RUN_NAME_SEP)
    room = width - (len(name) - len(parts[2])) - 1 if len(parts) >= 4 else 0  # model chars kept
    if room >= 2:
        head = room - room // 2
        parts[2] = parts[2][:head] + "…" + parts[2][len(parts[2]) - (room - head) :]
        return RUN_NAME_SEP.join(parts)
    head = (width - 1) * 2 // 3
    return name[:head] + "…" + name[len(name) - (width - 1 - head) :]


def _print_summary(sweep: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..results import measurement_conditions

    weights_seen = {r.tags.get(N.T_WEIGHTS, "") for r in sweep.results}
    one_kind = len(weights_seen) == 1 and "" not in weights_seen  # then said once, in the title
    title = f"hwbench sweep {escape(sweep.sweep_id)}"
    if one_kind:
        title += f" (weights: {escape(weights_seen.pop())})"
    t = Table(title=title, show_lines=False)
    t.add_column("config", overflow="fold")  # a long name folds; a word is never cut short
    for col, just in (
        ("status", "left"),
        ("p50 ms", "right"),
        ("±CI %", "right"),
        ("p99 ms", "right"),
        ("samples/s", "right"),
        ("peak MB", "right"),
        ("n", "right"),
        ("weights", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in sweep.results:
        name, weights = escape(_fit_config_name(r.config.run_name)), escape(r.tags.get(N.T_WEIGHTS, ""))
        if r.status == "success":
            m = r.metrics
            ci = r.measurement.ci_rel_halfwidth * 100 if r.measurement else float("nan")
            warn = " *" if N.T_PERCENTILE_WARNING in r.tags else ""
            busy = r.tags.get(N.T_HOST_CONTENDED) == "true"
            t.add_row(
                name,
                f"ok [yellow]busy {m.get(N.M_HOST_OTHER_CPU, 0.0):.0f}%[/]" if busy else "ok",
                f"{m[N.M_LAT_P50]:.3f}",
                f"{ci:.1f}",
                f"{m[N.M_LAT_P99]:.3f}{warn}",
                f"{m[N.M_THROUGHPUT]:.1f}",
                f"{m[N.M_MEMORY_PEAK]:.0f}",
                f"{int(m[N.M_ITERATIONS])}",
                weights,
            )
        else:
            message = escape(f"{r.error_category}: {r.error_message[:70]}")
            t.add_row(
                name,
                f"[yellow]skipped[/] {message}" if r.status == "skipped" else f"[red]{message}[/]",
                "",
                "",
                "",
                "",
                "",
                "",
                weights,
            )
    if one_kind:
        t.columns.pop()  # the weights column (and its cells): the title says it
    console = _console()
    console.print(t)
    if any(N.T_PERCENTILE_WARNING in r.tags for r in sweep.results):
        console.print("* p99 from fewer samples than MLPerf LoadGen's minimum (662): see hwbench.percentile_warning")
    for line in measurement_conditions(sweep.results):
        console.print(line, markup=False, highlight=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the detection as JSON.")
@click.option(
    "--db-path",
    help=f"Log this detection to the availability log of this DuckDB file (default: {DEFAULT_DB_PATH} if it exists).",
)
@click.option("--no-db", is_flag=True, help="Do not log the detection.")
@browser_option
def hardware(as_json: bool, db_path: str | None, no_db: bool) -> int:
    """What is really present on this host, each platform with the reason when absent;
    the detection is logged to the DuckDB mirror's hardware_availability_log."""
    from ..hardware import detect_hardware

    if db_path is not None:
        check_db_path(db_path)
    report = detect_hardware()
    target = db_path or (DEFAULT_DB_PATH if Path(DEFAULT_DB_PATH).is_file() else None)
    if target and not no_db:
        from ..mirror.store import log_detection

        log_detection(target, report)
        click.echo(f"detection logged to {target} (hardware_availability_log)", err=True)
    if as_json:
        import json

        click.echo(json.dumps(report.to_dict(), indent=2))
        return 0
    from rich.table import Table

    t = Table(title=f"Hardware on {report.host}")
    for col in ("platform", "status", "name", "devices", "details / reason"):
        t.add_column(col)
    for p in report.platforms:
        shown = {k: v for k, v in p.details.items() if k != "browsers"}  # browsers: their own table
        detail = p.reason if not p.available else ", ".join(f"{k}={v}" for k, v in shown.items())
        t.add_row(
            p.platform,
            "[green]available[/]" if p.available else "[red]unavailable[/]",
            p.name,
            ",".join(p.devices),
            detail,
        )
    console = _console()
    console.print(t)
    _print_browsers(console)
    return 0


def _print_browsers(console: Any) -> None:
    """The browsers found for the onnxruntime-web backend and what each really provides."""
    from rich.table import Table

    from .. import browsers

    if browsers.ort_dist() is None:
        console.print(f"Browsers: not probed, onnxruntime-web is not installed ({browsers.INSTALL_HINT})")
        return
    found = browsers.detect_browsers()
    if not found:
        console.print(f"Browsers: no Chromium found ({browsers.INSTALL_HINT})")
        return
    t = Table(title=f"Browsers (onnxruntime-web {browsers.ort_web_version()}; feature tests run in each)")
    for col in ("browser", "version", "wasm (cpu)", "webgpu", "webnn"):
        t.add_column(col)
    for b in found:
        cells = []
        for platform in ("cpu", "webgpu", "webnn"):
            devices = b.devices(platform)
            cells.append(f"[green]✔[/] {', '.join(devices)}" if devices else f"[red]✖[/] {b.why_not(platform)}")
        t.add_row(f"{b.name}\n{b.path}", b.version, *cells)
    console.print(t)


@cli.command()
def models() -> int:
    """The model catalog (architecture configs ship here: no download needed)."""
    from rich.table import Table

    from ..catalog import CATALOG, DEFAULT_MODELS

    t = Table(title="hwbench catalog")
    for col in ("key", "hugging face id", "category", "inputs", "weights here"):
        t.add_column(col)
    for s in CATALOG.values():
        local = s.local_weights_dir()
        weights = f"pretrained ({local})" if local else "random (config in catalog)"
        t.add_row(s.key + (" *" if s.key in DEFAULT_MODELS else ""), s.hf_id, s.category, s.inputs, weights)
    console = _console()
    console.print(t)
    console.print(
        "* in the default sweep. Shapes: text [B, seq-length=128], vision [B,3,224,224], "
        "audio [B,80,3000] + decoder ids, multimodal text [B,≤77] + image."
    )
    return 0


@cli.command()
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
    from ..hardware import detect_hardware
    from ..plan import select_models
    from ..reporting.matrix import compatibility_matrix, last_observed, last_observed_in_mirror

    specs = select_models(_items("--model", models) if models is not None else [], category, models is None)
    platforms = parse_choices("--hardware", hardware, N.PLATFORMS) if hardware is not None else list(N.PLATFORMS)
    if not no_history and tracking_uri:
        from ..tracking.client import check_tracking_uri

        check_tracking_uri(tracking_uri)
    if no_history:
        observed = {}
    elif tracking_uri is None and Path(db_path).exists():  # analysis reads DuckDB (DESIGN)
        check_db_path(db_path)
        observed = last_observed_in_mirror(db_path)
    else:
        observed = last_observed(tracking_uri)
    frame = compatibility_matrix(specs, platforms, detect_hardware(), observed)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
        return 0
    if fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
        return 0
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    keys = ["model", "platform", "backend", "mode"]
    runs = frame.groupby(keys, sort=False)["compatible"].transform("any")
    shown, hidden = (frame, frame.iloc[:0]) if show_all else (frame[runs], frame[~runs])
    reasons: dict[str, int] = {}
    rows: dict[tuple[Any, ...], list[str]] = {}  # (platform, backend, mode, cells) → models
    for (model, platform, backend, mode), group in shown.groupby(keys, sort=False):
        cells = []
        for row in group.itertuples():
            if row.compatible:
                cell = "[green]✔[/]"
            else:
                cell = f"[red]✖[/] [{reasons.setdefault(row.reason, len(reasons) + 1)}]"
            if row.last_status:
                cell += f" ({escape(row.last_status)})"
            cells.append(cell)
        # --all: a row per model; else models whose row reads the same share one
        rows.setdefault((model,) * show_all + (platform, backend, mode, *cells), []).append(model)
    if not show_all:  # by platform, backend and mode, in the catalog's order
        triples = frame[["platform", "backend", "mode"]].itertuples(index=False, name=None)
        order = {k: i for i, k in enumerate(dict.fromkeys(triples))}
        rows = dict(sorted(rows.items(), key=lambda kv: order[kv[0][:3]]))
    models_all = list(dict.fromkeys(frame["model"]))
    what = "Compatibility matrix" if show_all else "What runs on this host"
    t = Table(title=f"{what} (✖ \\[n]: reason n below; last observed status in brackets)")
    for col, kw in (("model", {"overflow": "fold"}), ("platform", {}), ("backend", {}), ("mode", {})):
        t.add_column(col, **kw)
    for col in N.PRECISIONS:
        t.add_column(col, no_wrap=True)
    for key, names in rows.items():
        platform, backend, mode, *cells = key[show_all:]
        missing = [m for m in models_all if m not in names]
        if len(names) > 1 and not missing:
            label = f"all {len(names)} models"
        elif len(names) > 2 and len(missing) <= 2:
            label = f"all but {', '.join(missing)}"
        else:
            label = ", ".join(names)
        t.add_row(*(escape(str(k)) for k in (label, platform, backend, mode)), *cells)
    console = _console()
    if len(shown):
        console.print(t)
    else:
        console.print("Nothing in this selection runs on this host.")
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True)
    notes.add_column(overflow="fold")
    for reason, n in reasons.items():
        notes.add_row(Text(f"[{n}]"), Text(reason))
    if reasons:
        console.print(notes)
    if len(hidden):
        console.print(f"Not run here ({len(hidden)} combinations in rows without a ✔; --all lists every row):")
        lines = Table.grid(padding=(0, 1), pad_edge=True)
        lines.add_column(no_wrap=True)
        lines.add_column(overflow="fold")
        for label, count, reason in _matrix_groups(frame, hidden):
            lines.add_row(Text("✖", style="red"), Text(f"{label}: {count} combinations — {reason}"))
        console.print(lines)
    ok = int(frame["compatible"].sum())
    console.print(f"{ok} of {len(frame)} combinations run on this host.")
    return 0


def _matrix_groups(frame: Any, hidden: Any) -> list[tuple[str, int, str]]:
    """The combinations that do not run, one (label, count, reason) per platform and reason:
    ("cuda", 144, "cuda is not available ..."), ("cpu/onnxruntime training", 36, "... inference only").
    A label names the backends, modes, precisions and models only when the group has not all of them."""
    out = []
    every = {col: list(dict.fromkeys(frame[col])) for col in ("model", "precision", "mode")}
    for (platform, reason), group in hidden.groupby(["platform", "reason"], sort=False):
        backends = list(dict.fromkeys(frame.loc[frame["platform"] == platform, "backend"]))
        have = {col: list(dict.fromkeys(group[col])) for col in ("backend", "mode", "precision", "model")}
        label = str(platform)
        if have["backend"] != backends:
            label += "/" + have["backend"][0] if len(have["backend"]) == 1 else f" ({', '.join(have['backend'])})"
        for col in ("mode", "precision"):
            if have[col] != every[col]:
                label += " " + ",".join(have[col])
        if have["model"] != every["model"]:
            label += f" for {', '.join(have['model'][:4])}" + (
                f" and {len(have['model']) - 4} more" if len(have["model"]) > 4 else ""
            )
        out.append((label, len(group), str(reason)))
    order = {p: i for i, p in enumerate(dict.fromkeys(frame["platform"]))}
    return sorted(out, key=lambda g: (order[g[0].split("/")[0].split(" ")[0]], -g[1]))


# ----------------------------------------------------------------------------- the DuckDB mirror

DB_OPTION = click.option("--db-path", default=DEFAULT_DB_PATH, show_default=True, help="The DuckDB mirror file.")


@cli.command()
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
@DB_OPTION
@click.option("--full", is_flag=True, help="Rebuild the mirror from every run instead of the changes.")
@click.option("--watch", type=str, help="Keep syncing every SECONDS until Ctrl-C (the file is free between syncs).")
@click.option(
    "--recheck",
    type=str,
    default="100",
    show_default=True,
    help="Old runs re-read per sync to catch late edits and purges (0: only --full does).",
)
@click.option("--slack", type=str, default="600", show_default=True, help="Seconds of overlap between syncs.")
@click.option("--lock-timeout", type=str, default="30", show_default=True, help="Seconds to wait for a busy file.")
@click.option(
    "--replay",
    is_flag=True,
    help="First write the runs kept in the local outbox ($HWBENCH_OUTBOX or ./hwbench-outbox) to the store.",
)
def sync(
    tracking_uri: str | None,
    db_path: str,
    full: bool,
    watch: str | None,
    recheck: str,
    slack: str,
    lock_timeout: str,
    replay: bool,
) -> int:
    """Mirror MLflow runs into DuckDB: incremental, idempotent, one transaction per sync."""
    check_db_path(db_path)
    interval = _float("--watch", watch) if watch is not None else None
    if interval is not None and interval <= 0:
        raise BadInputError(f"--watch needs a positive number of seconds, got '{watch}'")
    n_recheck = _int("--recheck", recheck)
    slack_s = _float("--slack", slack)
    if slack_s < 0:
        raise BadInputError(f"--slack must be >= 0, got {slack_s:g}")
    if replay:
        from ..tracking.client import replay_outbox
        from ..tracking.outbox import outbox_dir

        click.echo(f"replayed {replay_outbox(tracking_uri)} run(s) from the outbox {outbox_dir()}", err=True)
    from ..mirror.sync import Syncer

    syncer = Syncer(
        tracking_uri, db_path, recheck=n_recheck, slack_s=slack_s, lock_timeout_s=_float("--lock-timeout", lock_timeout)
    )
    report = _sync_with_status(syncer, full)
    click.echo(report.line())
    _mlflow_run_metrics(report)
    if interval is None:
        return 0
    import signal
    import time

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"watching every {interval:g} s; Ctrl-C to stop (an interrupted sync is rolled back)", err=True)
    try:
        while True:
            time.sleep(interval)
            click.echo(_sync_with_status(syncer, False).line())
    except KeyboardInterrupt:
        click.echo("hwbench: watch stopped; the mirror holds the last completed sync", err=True)
        return 0


def _sync_with_status(syncer: Any, full: bool) -> Any:
    """One sync; on a terminal, a live count of the runs read so far."""
    err = _console(stderr=True)
    if not err.is_terminal:
        return syncer.run(full=full)
    with err.status("sync: reading MLflow runs ...") as status:
        return syncer.run(full=full, on_progress=lambda n: status.update(f"sync: {n} MLflow runs read ..."))


def _mlflow_run_metrics(report: Any) -> None:
    """Under `mlflow run` (the MLproject's sync entry point), record the sync on its run."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from ..tracking.client import log_sync_report

    log_sync_report(run_id, report)


@cli.command()
@click.argument("sql")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--max-rows", type=str, default="100", show_default=True, help="Rows shown in table format.")
@layout_option
def query(sql: str, db_path: str, fmt: str, max_rows: str, layout: str) -> int:
    """Run a read-only SQL query on the mirror (the file is opened read-only)."""
    from ..mirror.store import sql as run_sql

    rows = _int("--max-rows", max_rows)
    if rows < 0:
        raise BadInputError(f"--max-rows must be >= 0, got {rows}")
    frame = run_sql(sql, db_path)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2, date_format="iso"))
    else:
        _print_frame(frame, rows, layout)
    return 0


def _print_frame(frame: Any, max_rows: int, layout: str = "auto") -> None:
    """A table when the columns fit the console at a readable width, else one block per row
    (``column │ value``); ``layout`` "table" / "vertical" forces one (see tables.py)."""
    from .tables import print_frame

    print_frame(_console(), frame, max_rows, layout)


@cli.command()
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "json"]), default="parquet", show_default=True)
@click.option("--output", required=True, help="File (with --table) or directory (every data table).")
@click.option("--table", help="One table or view (e.g. results, performance_results).")
def export(db_path: str, fmt: str, output: str, table: str | None) -> int:
    """Export the mirror's tables (Parquet, CSV or JSON); files appear whole or not at all."""
    from ..mirror.store import export as do_export

    for path in do_export(db_path, fmt, output, table):
        click.echo(str(path))
    return 0


LOG_OPTIONS_LIST = (
    click.option(
        "--experiment",
        default=N.OUTPUT_EXPERIMENT,
        show_default=True,
        help="MLflow experiment to log to (apart from the benchmark runs).",
    ),
    click.option("--tracking-uri", help="Where to log the output (default: the store the mirror syncs from)."),
    click.option("--no-log", is_flag=True, help="Do not log the output to MLflow."),
)


def log_options(f: Any) -> Any:
    """--experiment, --tracking-uri, --no-log: where a reading command records its output."""
    for option in reversed(LOG_OPTIONS_LIST):
        f = option(f)
    return f


def _check_log_uri(tracking_uri: str | None, no_log: bool) -> None:
    """A given --tracking-uri is checked before the mirror is read, not after the output."""
    if tracking_uri and not no_log:
        from ..tracking.client import check_tracking_uri

        check_tracking_uri(tracking_uri)


@cli.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list (default: every model with results).")
@click.option("--weights", help="Best-overall weights, e.g. throughput=0.7,latency=0.3 (default 0.5 each).")
@click.option("--latency", type=click.Choice(["p50", "p99"]), default="p50", show_default=True)
@click.option("--memory-limit", type=str, metavar="MB", help="Only configurations whose peak memory fits.")
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
    memory_limit: str | None,
    prices: str | None,
    power: str | None,
    mode_opt: str,
    fmt: str,
    experiment: str,
    tracking_uri: str | None,
    no_log: bool,
) -> int:
    """Hardware recommendations per model from the DuckDB mirror: best overall, throughput,
    latency, memory and value, each with its evidence and a confidence rating."""
    from ..reporting.recommend import load_table, parse_weights, to_frame, to_markdown
    from ..reporting.recommend import recommend as do_recommend

    _check_log_uri(tracking_uri, no_log)
    w = parse_weights(weights)
    price_table = load_table(prices, "--prices", "$/hour")
    power_table = load_table(power, "--power", "watts")
    limit = _float("--memory-limit", memory_limit) if memory_limit is not None else None
    recs = do_recommend(
        db_path,
        models=_items("--model", models) if models is not None else None,
        weights=w,
        latency=latency,
        memory_limit_mb=limit,
        prices=price_table,
        power=power_table,
        mode=parse_choices("--mode", mode_opt, N.MODES)[0],
    )
    frame = to_frame(recs)
    if fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(recs))
    else:
        _print_recommendations(recs)
    for r in recs:
        if r.warning:
            click.echo(f"hwbench: warning: {r.model} {r.criterion}: {r.warning}", err=True)
    if not no_log:
        from ..reporting.recommend import log_to_mlflow

        uri = _output_tracking_uri(db_path, tracking_uri)
        params = {
            "db_path": db_path,
            "weights": w,
            "latency": latency,
            "memory_limit_mb": limit or "none",
            "models": models or "all",
            "prices": prices or "none",
            "power": power or "none",
            "mode": mode_opt,
        }
        run_id = log_to_mlflow(recs, uri, experiment, params)
        click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}')", err=True)
    return 0


def _output_tracking_uri(db_path: str, tracking_uri: str | None) -> str:
    """Where a reading command records its output: --tracking-uri, else the store the mirror syncs from."""
    from ..mirror.store import mirrored_tracking_uri
    from ..tracking.client import check_tracking_uri, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri or mirrored_tracking_uri(db_path))
    check_tracking_uri(uri)
    return uri


def _print_recommendations(recs: list[Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="hwbench recommendations")
    for col in ("model", "criterion", "recommendation", "value", "confidence", "evidence"):
        t.add_column(col, overflow="fold")
    colour = {"high": "green", "medium": "yellow", "low": "red"}
    for r in recs:
        if r.status != "recommended":
            t.add_row(escape(r.model), r.criterion, "[dim]not available[/]", "", "", escape(r.reason))
            continue
        where = ("[bold red]SIMULATED[/] " if r.is_simulated else "") + escape(r.where())
        conf = f"[{colour[r.confidence]}]{r.confidence}[/]"
        t.add_row(escape(r.model), r.criterion, where, escape(r.value_text()), conf, escape(r.evidence()))
    _console().print(t)


@cli.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option(
    "--baseline", default="cpu/torch/fp32", show_default=True, help="Speedups against hardware/backend/precision."
)
@click.option("--mode", "mode_opt", help="inference | training (default: both).")
@click.option("--output", help="Write the whole table (.csv, .json or .parquet).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table", show_default=True
)
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

    _check_log_uri(tracking_uri, no_log)
    parse_baseline(baseline)
    out_path = check_output_path(output) if output else None
    frame = do_analyze(
        db_path,
        models=_items("--model", models) if models is not None else None,
        baseline=baseline,
        mode=parse_choices("--mode", mode_opt, N.MODES)[0] if mode_opt is not None else None,
    )
    if out_path:
        write_output(frame, out_path)
    _emit(frame, SUMMARY_COLUMNS, fmt)
    if out_path:
        click.echo(f"analysis of {len(frame)} configuration(s) written to {out_path}", err=True)
    if not no_log:
        _log_table(db_path, tracking_uri, experiment, "analysis", frame, SUMMARY_COLUMNS, {"baseline": baseline})
    return 0


def _log_table(
    db_path: str,
    tracking_uri: str | None,
    experiment: str,
    name: str,
    frame: Any,
    columns: list[str],
    params: dict[str, Any],
) -> None:
    """Record a reading command's table on a report run: ``NAME.csv`` and ``NAME.md``."""
    from ..reporting.comparative import to_markdown
    from ..tracking.client import log_output_run

    md = to_markdown(frame, columns)
    run_id = log_output_run(
        _output_tracking_uri(db_path, tracking_uri),
        experiment,
        "report",
        {"db_path": db_path, **params},
        f"**hwbench {name}**\n\n{md}",
        texts={f"{name}.csv": frame.to_csv(index=False), f"{name}.md": md},
        simulated=bool(frame["is_simulated"].astype(bool).any()) if "is_simulated" in frame else False,
    )
    click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}', {name}.csv)", err=True)


def _emit(frame: Any, columns: list[str], fmt: str) -> None:
    from ..reporting.comparative import to_markdown

    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2, date_format="iso"))
    elif fmt == "markdown":
        click.echo(to_markdown(frame, columns))
    else:
        _print_frame(frame[columns].round(4), 1000)


@cli.command()
@DB_OPTION
@click.option("--model", "models", help="Only these models, comma list.")
@click.option("--cross-platform", is_flag=True, help="Every platform side by side; winner per metric, significance.")
@click.option("--batch-scaling", is_flag=True, help="Throughput/latency vs batch; efficiency vs batch 1; saturation.")
@click.option("--compare-to", help="Baseline file (hwbench analyze --output) to check for regressions.")
@click.option("--baseline-sweep", help="Baseline = the results of this sweep id in the mirror.")
@click.option("--regression-alert", default="0.1", show_default=True, help="Smallest change that counts (0.1 = 10 %).")
@click.option("--mode", "mode_opt", help="inference | training (default: both).")
@click.option("--output", help="Write the whole table (.csv, .json or .parquet).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table", show_default=True
)
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
    _check_log_uri(tracking_uri, no_log)
    out_path = check_output_path(output) if output else None
    model_list = _items("--model", models) if models is not None else None
    mode = parse_choices("--mode", mode_opt, N.MODES)[0] if mode_opt is not None else None
    exit_code = 0
    if cross_platform:
        frame = C.cross_platform(db_path, models=model_list, mode=mode)
        cols = [
            "model",
            "batch_size",
            "config",
            "throughput_samples_per_s",
            "latency_p50_ms",
            "latency_p99_ms",
            "memory_mb",
            "winner_throughput",
            "winner_p50",
            "winner_memory",
            "winner_p_value",
            "winner_significant",
        ]
    elif batch_scaling:
        frame = C.batch_scaling(db_path, models=model_list, mode=mode)
        cols = [
            "model",
            "hardware",
            "backend",
            "precision",
            "batch_size",
            "throughput_samples_per_s",
            "latency_p50_ms",
            "speedup_vs_batch1",
            "scaling_efficiency",
            "saturates_at",
        ]
    else:
        threshold = _float("--regression-alert", regression_alert)
        if threshold < 0:
            raise BadInputError(f"--regression-alert must be >= 0 (0.1 = 10 %), got {regression_alert}")
        base = C.read_baseline(compare_to) if compare_to else C.baseline_from_sweep(db_path, baseline_sweep or "")
        frame = C.compare_to_baseline(db_path, base, threshold=threshold, models=model_list)
        cols = [
            "model",
            "hardware",
            "backend",
            "precision",
            "batch_size",
            "throughput_samples_per_s_base",
            "throughput_samples_per_s",
            "delta_pct",
            "p_adjusted",
            "test",
            "verdict",
        ]
        regressions = frame[frame["verdict"] == "regression"]
        exit_code = 1 if len(regressions) else 0
    if out_path:
        write_output(frame, out_path)
    _emit(frame, cols, fmt)
    if not no_log:
        kind = "cross-platform" if cross_platform else "batch-scaling" if batch_scaling else "regression"
        _log_table(db_path, tracking_uri, experiment, f"compare-{kind}", frame, cols, {"compare": kind})
    if exit_code:
        click.echo(
            f"hwbench: regression in {len(regressions)} configuration(s) (> {threshold:.0%} and significant)", err=True
        )
    return exit_code


@cli.command()
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
    paths, uri = _draw(db_path, models, memory_limit, output_dir, tracking_uri, no_log)
    for path in paths:
        click.echo(str(path))
    if uri is not None:
        run_id = _log_outputs(
            uri, experiment, db_path, paths, "**hwbench visualize**: " + ", ".join(p.name for p in paths)
        )
        click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}', artifacts plots/)", err=True)
    return 0


@cli.command()
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
    from ..reporting.report import build, write

    out = Path(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"--output: the report is HTML; name a .html file, got '{output}'")
    if not out.resolve().parent.is_dir():
        raise BadInputError(f"--output: directory does not exist: {out.resolve().parent}")
    check_writable_dir("--output", out.resolve().parent)
    price_table = load_table(prices, "--prices", "$/hour")
    with tempfile.TemporaryDirectory(prefix="hwbench-report-") as tmp:
        paths, uri = _draw(db_path, models, memory_limit, tmp, tracking_uri, no_log)
        pngs = [p for p in paths if p.suffix == ".png"]
        model_list = _items("--model", models) if models is not None else None
        write(build(db_path, pngs, model_list, price_table), out)
        click.echo(str(out))
        if uri is not None:
            run_id = _log_outputs(uri, experiment, db_path, [*paths, out], f"**hwbench report**: {out.name}")
            click.echo(f"logged to MLflow: run {run_id} (experiment '{experiment}', artifacts plots/)", err=True)
    return 0


def _draw(
    db_path: str, models: str | None, memory_limit: str | None, output_dir: str, tracking_uri: str | None, no_log: bool
) -> tuple[list[Path], str | None]:
    """Validate, draw every plot into ``output_dir``; the tracking URI to log to (None: don't)."""
    limit = _float("--memory-limit", memory_limit) if memory_limit is not None else None
    if limit is not None and limit <= 0:
        raise BadInputError(f"--memory-limit must be a number > 0, got {memory_limit}")
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"--output-dir is a file: {output_dir}")
    uri = None if no_log else _output_tracking_uri(db_path, tracking_uri)
    import matplotlib

    matplotlib.use("Agg")
    from ..reporting.plots import all_plots, write

    plots = all_plots(db_path, _items("--model", models) if models is not None else None, limit)
    return write(plots, out_dir), uri


def _log_outputs(uri: str, experiment: str, db_path: str, paths: list[Path], note: str) -> str:
    from ..tracking.client import log_output_run

    return log_output_run(
        uri,
        experiment,
        "report",
        {"db_path": db_path},
        note,
        files=[(p, None if p.suffix in (".html", ".htm") and p.name != "plots.html" else "plots") for p in paths],
    )


@cli.command("init-db")
@DB_OPTION
@click.option("--model", "models", help="Catalog keys, comma list (default: the whole catalog).")
@click.option("--category", help=f"Only models of this category ({', '.join(N.CATEGORIES)}).")
@click.option("--hardware", help="Platforms, comma list (default: every available one).")
@click.option("--batch-sizes", default="1", show_default=True, help="Comma list of batch sizes to plan.")
@click.option("--precision", help="Comma list (default: every compatible precision).")
@click.option("--mode", "mode_opt", default="inference", show_default=True, help="inference | training, comma list.")
@click.option("--scenario", default="latency", show_default=True, help="latency | throughput, comma list.")
def init_db(
    db_path: str,
    models: str | None,
    category: str | None,
    hardware: str | None,
    batch_sizes: str,
    precision: str | None,
    mode_opt: str,
    scenario: str,
) -> int:
    """Create the DuckDB schema and a pending row for every compatible combination
    (from the compatibility matrix); syncs turn them into success / failed."""
    check_db_path(db_path)
    from ..reporting.matrix import init_db as do_init

    report = do_init(
        db_path,
        models=_items("--model", models) if models is not None else None,
        category=category,
        hardware=parse_choices("--hardware", hardware, N.PLATFORMS) if hardware is not None else None,
        batch_sizes=parse_batch_sizes(batch_sizes),
        precisions=parse_choices("--precision", precision, N.PRECISIONS) if precision is not None else None,
        modes=parse_choices("--mode", mode_opt, N.MODES),
        scenarios=parse_choices("--scenario", scenario, N.SCENARIOS),
    )
    click.echo(
        f"{db_path}: schema v{report['schema_version']}, {report['planned']} compatible combination(s) planned "
        f"({report['new']} new), {report['pending']} pending. "
        f'What is left: hwbench query "SELECT * FROM pending_benchmarks" --db-path {db_path}'
    )
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Bind the port the UI would take (and let it go): a busy port is bad input, before a URL is printed."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BadInputError(f"--host {host}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise BadInputError(f"--port {port}: {host}:{port} is already in use ({exc.strerror})") from None


@cli.command()
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
@click.option(
    "--experiment",
    help=f"Experiment whose runs to open (default: the newest sweep's or search's, else '{N.DEFAULT_EXPERIMENT}').",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(min=1), help="UI server processes (default: MLflow's).")
@click.option("--print-url", is_flag=True, help="Only print the URL of the runs table; start nothing.")
def ui(
    tracking_uri: str | None, experiment: str | None, host: str, port: int, workers: int | None, print_url: bool
) -> int:
    """Start the MLflow UI on the hwbench store; print the URL of the experiment's runs table."""
    from ..tracking.client import check_tracking_uri, redact_uri, resolve_tracking_uri
    from ..tracking.ui_url import ui_url

    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_uri(uri)
    url = ui_url(uri, experiment, host, port)
    if not print_url:
        _check_port_free(host, port)
    click.echo(url)  # stdout: the one line a script or a test reads
    if print_url:
        return 0
    which = repr(experiment) if experiment else "of the newest sweep"
    click.echo(f"MLflow UI for {redact_uri(uri)}, experiment {which}: the URL above (Ctrl-C to stop)", err=True)
    sys.stdout.flush()
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    # MLflow 3's GenAI job runners start several processes and are not used by hwbench
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


# What each option takes, in --help (options read as text so that bad values get hwbench's
# own one-line errors; the metavar says what they take instead of TEXT)
OPTION_METAVARS = {
    "--backend": "NAME[,NAME…]",
    "--baseline": "HW/BACKEND/PRECISION",
    "--baseline-sweep": "SWEEP_ID",
    "--batch-sizes": "N[,N…]",
    "--category": "CATEGORY",
    "--compare-to": "FILE",
    "--db-path": "FILE",
    "--experiment": "NAME",
    "--hardware": "PLATFORM[,…]",
    "--host": "ADDRESS",
    "--limit": "N",
    "--lock-timeout": "SECONDS",
    "--max-batch": "N",
    "--max-rows": "N",
    "--max-time": "SECONDS",
    "--max-workers": "N",
    "--min-iterations": "N",
    "--min-time": "SECONDS",
    "--mode": "MODE[,MODE]",
    "--model": "KEY|PATH[,…]",
    "--n-trials": "N",
    "--output": "FILE",
    "--output-dir": "DIR",
    "--power": "YAML",
    "--precision": "PRECISION[,…]",
    "--prices": "YAML",
    "--recheck": "N",
    "--regression-alert": "FRACTION",
    "--repeats": "N",
    "--scenario": "SCENARIO[,…]",
    "--seed": "N",
    "--seq-length": "TOKENS",
    "--slack": "SECONDS",
    "--storage": "URL",
    "--study-name": "NAME",
    "--table": "TABLE",
    "--target-ci": "FRACTION",
    "--timeout": "SECONDS",
    "--tracking-uri": "URI",
    "--trial-timeout": "SECONDS",
    "--warmup": "N",
    "--watch": "SECONDS",
    "--weights": "NAME=W[,…]",
}


def _name_option_values(group: click.Group) -> None:
    for command in group.commands.values():
        for param in command.params:
            if isinstance(param, click.Option) and param.metavar is None and param.opts[0] in OPTION_METAVARS:
                param.metavar = OPTION_METAVARS[param.opts[0]]


_name_option_values(cli)


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry: every error is one line on stderr; exit 0 / 1 / 2 (130 on Ctrl-C)."""
    try:
        rv = cli.main(args=argv, prog_name="hwbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("hwbench: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("hwbench: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"hwbench: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except HwbenchError as exc:
        message = exc.renamed(PARAM_FLAGS) if isinstance(exc, BadInputError) else str(exc)
        click.echo(f"hwbench: error: {message}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("HWBENCH_DEBUG"):
            raise
        msg = " ".join(str(exc).split())[:300]
        click.echo(f"hwbench: error: {type(exc).__name__}: {msg} (set HWBENCH_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
