"""The commands around the benchmarks: hardware, models, sync, init-db and ui."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .. import names as N
from ..errors import BadInputError
from .options import (
    DB_OPTION,
    DEFAULT_DB_PATH,
    Float,
    Int,
    browser_option,
    check_db_path,
    optional_items,
    parse_batch_sizes,
    parse_choices,
    to_float,
)
from .render import get_console, print_hardware, print_models


@click.command()
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
    print_hardware(report)
    return 0


@click.command()
def models() -> int:
    """The model catalog (architecture configs ship here: no download needed)."""
    print_models()
    return 0


@click.command()
@click.option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
@DB_OPTION
@click.option("--full", is_flag=True, help="Rebuild the mirror from every run instead of the changes.")
@click.option("--watch", type=str, help="Keep syncing every SECONDS until Ctrl-C (the file is free between syncs).")
@click.option(
    "--recheck",
    type=Int(),
    default="100",
    show_default=True,
    help="Old runs re-read per sync to catch late edits and purges (0: only --full does).",
)
@click.option("--slack", type=Float(), default="600", show_default=True, help="Seconds of overlap between syncs.")
@click.option("--lock-timeout", type=Float(), default="30", show_default=True, help="Seconds to wait for a busy file.")
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
    recheck: int,
    slack: float,
    lock_timeout: float,
    replay: bool,
) -> int:
    """Mirror MLflow runs into DuckDB: incremental, idempotent, one transaction per sync."""
    check_db_path(db_path)
    interval = to_float("--watch", watch) if watch is not None else None
    if interval is not None and interval <= 0:
        raise BadInputError(f"--watch needs a positive number of seconds, got '{watch}'")
    if slack < 0:
        raise BadInputError(f"--slack must be >= 0, got {slack:g}")
    if replay:
        from ..tracking.outbox import outbox_dir
        from ..tracking.records import replay_outbox

        click.echo(f"replayed {replay_outbox(tracking_uri)} run(s) from the outbox {outbox_dir()}", err=True)
    from ..mirror.sync import Syncer

    syncer = Syncer(tracking_uri, db_path, recheck=recheck, slack_s=slack, lock_timeout_s=lock_timeout)
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
    err = get_console(stderr=True)
    if not err.is_terminal:
        return syncer.run(full=full)
    with err.status("sync: reading MLflow runs ...") as status:
        return syncer.run(full=full, on_progress=lambda n: status.update(f"sync: {n} MLflow runs read ..."))


def _mlflow_run_metrics(report: Any) -> None:
    """Under `mlflow run` (the MLproject's sync entry point), record the sync on its run."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from ..tracking.records import log_sync_report

    log_sync_report(run_id, report)


@click.command("init-db")
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
        models=optional_items("--model", models),
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


@click.command()
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
    from ..tracking.ui_url import ui_url
    from ..tracking.uri import check_tracking_uri, redact_uri, resolve_tracking_uri

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
