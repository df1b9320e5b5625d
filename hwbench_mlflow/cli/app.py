"""The ``hwbench`` command group and its entry point: every error becomes one line.

Only click and import-free modules load at start-up, so ``hwbench --help`` stays fast;
mlflow, torch, pandas and rich load inside the commands that need them.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import BadInputError, HwbenchError
from .admin import hardware, init_db, models, sync, ui
from .flags import PARAM_FLAGS
from .options import name_option_values
from .reading import analyze, compare, export, query
from .reports import matrix, recommend, report, visualize
from .run import run
from .search import search


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hwbench-mlflow", prog_name="hwbench")
def cli() -> None:
    """Hardware benchmarking for ML models, recorded in MLflow.

    Start with `hwbench hardware`, `hwbench models`, then `hwbench run`.
    """


for _command in (
    run,
    search,
    hardware,
    models,
    matrix,
    sync,
    query,
    export,
    recommend,
    analyze,
    compare,
    visualize,
    report,
    init_db,
    ui,
):
    cli.add_command(_command)
name_option_values(cli)


def main(argv: list[str] | None = None) -> None:
    """Console entry: every error is one line on stderr; exit 0 / 1 / 2 (130 on Ctrl-C)."""
    try:
        rv = cli.main(args=argv, prog_name="hwbench", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
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
