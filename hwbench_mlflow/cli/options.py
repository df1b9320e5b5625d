"""What the commands share: option decorators, click ParamTypes, and the parsing and checks
of option values. Every message is one line naming the flag; nothing heavy is imported."""

from __future__ import annotations

import functools
import math
import os
import shutil
from pathlib import Path
from typing import Any

import click

from .. import names as N
from ..errors import BadInputError

OUTPUT_SUFFIXES = (".csv", ".json", ".parquet")
DEFAULT_DB_PATH = "hwbench.duckdb"  # = store.DEFAULT_DB_PATH (store is not imported at start-up)
MAX_BATCH_SIZE = 1 << 20  # past any accelerator's memory for the smallest model: refused before a run is logged


# ----------------------------------------------------------------------------- values


def items(flag: str, value: str) -> list[str]:
    """``"a, b"`` → ``["a", "b"]``; no empty item."""
    out = [v.strip() for v in value.split(",")]
    if not value.strip() or any(not v for v in out):
        raise BadInputError(f"{flag} needs a comma-separated list without empty items, got '{value}'")
    return out


def optional_items(flag: str, value: str | None) -> list[str] | None:
    return items(flag, value) if value is not None else None


def parse_batch_sizes(value: str) -> list[int]:
    """``"1,8,32"`` → ``[1, 8, 32]``; every item a positive integer."""
    out = []
    for item in items("--batch-sizes", value):
        try:
            n = int(item)
        except ValueError:
            raise BadInputError(f"--batch-sizes: '{item}' is not an integer (example: --batch-sizes 1,8,32)") from None
        if not 1 <= n <= MAX_BATCH_SIZE:
            raise BadInputError(f"--batch-sizes: batch size must be between 1 and {MAX_BATCH_SIZE}, got {item}")
        out.append(n)
    return list(dict.fromkeys(out))


def parse_counts(flag: str, value: str | None, example: str) -> list[int] | None:
    """``"128,512"`` → ``[128, 512]`` (None stays None); each item an integer (its range is the
    library's check)."""
    if value is None:
        return None
    out = []
    for item in items(flag, value):
        try:
            out.append(int(item))
        except ValueError:
            raise BadInputError(f"{flag}: '{item}' is not an integer (example: {flag} {example})") from None
    return list(dict.fromkeys(out))


def parse_choices(flag: str, value: str, choices: tuple[str, ...]) -> list[str]:
    """A comma list of ``choices``; an unknown one is refused with the closest match."""
    out = []
    for item in items(flag, value):
        if item not in choices:
            import difflib

            close = difflib.get_close_matches(item, choices, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadInputError(f"{flag}: unknown value '{item}'{hint}; choose from {', '.join(choices)}")
        out.append(item)
    return list(dict.fromkeys(out))


def optional_mode(value: str | None) -> str | None:
    """``--mode`` of the reading commands: one mode, or None for both."""
    return parse_choices("--mode", value, N.MODES)[0] if value is not None else None


def to_int(flag: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{flag} needs an integer, got '{value}'") from None


def to_float(flag: str, value: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{flag} needs a number, got '{value}'") from None
    if math.isnan(x) or math.isinf(x):
        raise BadInputError(f"{flag} needs a finite number, got '{value}'")
    return x


class _Number(click.ParamType):
    """An option's number, refused in hwbench's words (``--warmup needs an integer, got 'x'``),
    not click's; ``label``: the flag the message names (default: the option's own)."""

    def __init__(self, parse: Any, label: str | None = None) -> None:
        self.parse, self.label = parse, label

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        return self.parse(self.label or (param.opts[0] if param else "value"), value)


class Int(_Number):
    name = "integer"

    def __init__(self, label: str | None = None) -> None:
        super().__init__(to_int, label)


class Float(_Number):
    name = "number"

    def __init__(self, label: str | None = None) -> None:
        super().__init__(to_float, label)


# ----------------------------------------------------------------------------- paths


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


def optional_output(path: str | None) -> Path | None:
    return check_output_path(path) if path else None


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
    """``frame`` to ``path`` (.csv, .json or .parquet): a temp name, then renamed."""
    suffix = path.suffix.lower()
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    elif suffix == ".json":
        frame.to_json(tmp, orient="records", indent=2)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def check_log_uri(tracking_uri: str | None, no_log: bool) -> None:
    """A given --tracking-uri is checked before the mirror is read, not after the output."""
    if tracking_uri and not no_log:
        from ..tracking.uri import check_tracking_uri

        check_tracking_uri(tracking_uri)


# ----------------------------------------------------------------------------- shared options


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

DB_OPTION = click.option("--db-path", default=DEFAULT_DB_PATH, show_default=True, help="The DuckDB mirror file.")

# MeasureSettings field → (flag, click type, default, help); the timeout's flag is the command's
_MEASURE = {
    "warmup": ("--warmup", Int(), "5", "Untimed iterations after the first."),
    "min_iterations": ("--min-iterations", Int(), "10", "Fewest timed iterations."),
    "min_time_s": ("--min-time", Float(), "0.5", "Fewest seconds of timed loop."),
    "max_time_s": ("--max-time", Float(), "10", "Cap on the timed loop, seconds."),
    "timeout_s": (None, Float("--timeout"), "900", "Per-config worker timeout, seconds."),
    "target_ci": ("--target-ci", Float(), "0.02", "Stop when the 95% CI of the median is within ±this fraction."),
    "malloc": (
        "--malloc",
        click.Choice(["tuned", "default"]),
        "tuned",
        "glibc malloc thresholds in the worker (tuned avoids per-iteration page faults).",
    ),
    "worker_start": (
        "--worker-start",
        click.Choice(["forkserver", "exec"]),
        "forkserver",
        "Fork workers from a warm server (fast) or start each with a fresh interpreter.",
    ),
}


def measure_options(timeout_flag: str = "--timeout") -> Any:
    """The timing-loop options of `run` and `search` (whose --timeout is the search's, so its
    per-trial one is ``timeout_flag``), handed to the command as one ``settings``: a
    MeasureSettings. A caller that passes ``settings`` itself (ctx.invoke) keeps it."""

    def decorate(f: Any) -> Any:
        @functools.wraps(f)
        def with_settings(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in _MEASURE}
            if kwargs.get("settings") is None:
                from ..config import MeasureSettings

                kwargs["settings"] = MeasureSettings(**values)
            return f(*args, **kwargs)

        for name, (flag, kind, default, text) in reversed(_MEASURE.items()):
            option = click.option(flag or timeout_flag, name, type=kind, default=default, show_default=True, help=text)
            with_settings = option(with_settings)
        return with_settings

    return decorate


_LOG_OPTIONS = (
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
    for option in reversed(_LOG_OPTIONS):
        f = option(f)
    return f


# What each option takes, in --help (the metavar says what an option takes instead of TEXT)
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
    "--prompt-tokens": "N[,N…]",
    "--new-tokens": "N[,N…]",
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


def name_option_values(group: click.Group) -> None:
    """Give every option of ``group``'s commands its OPTION_METAVARS metavar (if it has none)."""
    for command in group.commands.values():
        for param in command.params:
            if isinstance(param, click.Option) and param.metavar is None and param.opts[0] in OPTION_METAVARS:
                param.metavar = OPTION_METAVARS[param.opts[0]]
