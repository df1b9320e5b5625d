"""All rich rendering of the CLI: the tables and lines a command prints. rich loads inside
each function; the table primitive for data frames is tables.py."""

from __future__ import annotations

import os
from typing import Any

import click

from .. import names as N

PIPED_WIDTH = 160  # a pipe or file has no width: tables stay whole unless COLUMNS says otherwise


def get_console(stderr: bool = False) -> Any:
    """A rich console; piped, as wide as ``COLUMNS`` says, else PIPED_WIDTH."""
    from rich.console import Console

    console = Console(stderr=stderr)  # honours COLUMNS itself
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console


def print_not_measured(out: Any) -> None:
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


def report_outbox(replayed: int, outboxed: int) -> None:
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


def print_trials(result: Any) -> None:
    """A search's trials, by config and batch size; the best one starred."""
    from rich.table import Table

    t = Table(title=f"hwbench search {result.study_name}: {result.objective} ({result.direction})")
    generate = any(tr.decode_tokens_per_s is not None for tr in result.trials)
    rate, tail = ("tok/s", "ITL p99") if generate else ("samples/s", "p99 ms")  # decode tokens/s, ms
    numeric = ("trial", "batch", "objective", rate, tail, "peak MB")
    widest = max((len(tr.config) for tr in result.trials), default=6)
    for col in ("trial", "config", "batch", "state", "objective", rate, tail, "peak MB", "note"):
        width = {"min_width": widest} if col == "config" else {}  # the config is what tells trials apart
        t.add_column(col, justify="right" if col in numeric else "left", **width)

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
            num(tr.decode_tokens_per_s if generate else tr.throughput, ".1f"),
            num(tr.itl_p99_ms if generate else tr.latency_p99_ms, ".2f"),
            mem,
            tr.error[:60],
        )
    console = get_console()
    console.print(t)
    if any(tr.memory_capped for tr in result.trials):
        console.print("+ stopped by the memory guard: the peak it had reached when stopped (a lower bound)")


def print_sync(report: Any, db_path: str, out: Any) -> bool:
    """Where the sweep's mirror is (its failure was said on stderr already); whether it synced."""
    if report is None:
        return False
    out.print(
        f"DuckDB: {db_path} ({report.kind} sync, {report.rows_written} rows written in {report.seconds:.1f} s) "
        f'→ hwbench query "SELECT * FROM results" --db-path {db_path}',
        markup=False,
    )
    return True


CONFIG_CELL_WIDTH = 72


def fit_config_name(name: str, width: int = CONFIG_CELL_WIDTH) -> str:
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


def _metric(key: str, fmt: str) -> Any:
    return lambda r: format(r.metrics[key], fmt) if r.metrics.get(key) is not None else "–"


def _ci_pct(r: Any) -> str:
    return f"{r.measurement.ci_rel_halfwidth * 100:.1f}" if r.measurement else "nan"


def _p99(r: Any) -> str:
    return f"{r.metrics[N.M_LAT_P99]:.3f}" + (" *" if N.T_PERCENTILE_WARNING in r.tags else "")


# (header, justify, cell of a successful result); the first is the status column
_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("status", "left", None),
    ("p50 ms", "right", _metric(N.M_LAT_P50, ".3f")),
    ("±CI %", "right", _ci_pct),
    ("p99 ms", "right", _p99),
    ("samples/s", "right", _metric(N.M_THROUGHPUT, ".1f")),
    ("peak MB", "right", _metric(N.M_MEMORY_PEAK, ".0f")),
    ("n", "right", _metric(N.M_ITERATIONS, ".0f")),
)
# a sweep of generations: time to first token, time per output token, tokens/s, KV cache
_GENERATION_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("status", "left", None),
    ("TTFT ms", "right", _metric(N.M_TTFT_P50, ".1f")),  # median
    ("TPOT ms", "right", _metric(N.M_TPOT_MEAN, ".1f")),
    ("ITL p99", "right", _metric(N.M_ITL_P99, ".1f")),
    ("tok/s", "right", _metric(N.M_DECODE_TPS, ".1f")),  # decode
    ("KV MB", "right", _metric(N.M_KV_CACHE, ".1f")),
    ("peak MB", "right", _metric(N.M_MEMORY_PEAK, ".0f")),
    ("n", "right", _metric(N.M_ITERATIONS, ".0f")),
)


def print_summary(sweep: Any) -> None:
    """A sweep's table: one row per config; then the conditions it was measured under."""
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
    columns = _GENERATION_COLUMNS if all(r.config.scenario == N.GENERATE for r in sweep.results) else _COLUMNS
    for col, just, _ in columns:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    t.add_column("weights", justify="left")
    generation = columns is _GENERATION_COLUMNS
    for r in sweep.results:
        label = r.config.run_name.removesuffix(" · inference") if generation else r.config.run_name  # always inference
        name, weights = escape(fit_config_name(label)), escape(r.tags.get(N.T_WEIGHTS, ""))
        if r.status == "success":
            busy = r.tags.get(N.T_HOST_CONTENDED) == "true"
            status = f"ok [yellow]busy {r.metrics.get(N.M_HOST_OTHER_CPU, 0.0):.0f}%[/]" if busy else "ok"
            t.add_row(name, status, *(cell(r) for _, _, cell in columns[1:]), weights)
        else:
            message = escape(f"{r.error_category}: {r.error_message[:70]}")
            status = f"[yellow]skipped[/] {message}" if r.status == "skipped" else f"[red]{message}[/]"
            t.add_row(name, status, *([""] * (len(columns) - 1)), weights)
    if one_kind:
        t.columns.pop()  # the weights column (and its cells): the title says it
    console = get_console()
    console.print(t)
    if generation:
        console.print(
            "TTFT: median time to the first token; TPOT: mean time per output token after it; ITL p99: "
            "99th percentile inter-token latency (ms); tok/s: decode tokens per second (all sequences)"
        )
    elif any(N.T_PERCENTILE_WARNING in r.tags for r in sweep.results):
        console.print("* p99 from fewer samples than MLPerf LoadGen's minimum (662): see hwbench.percentile_warning")
    for line in measurement_conditions(sweep.results):
        console.print(line, markup=False, highlight=False)


def print_hardware(report: Any) -> None:
    """The platforms detected, each with its details or the reason it is absent; then the browsers."""
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
    console = get_console()
    console.print(t)
    print_browsers(console)


def print_browsers(console: Any) -> None:
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


def print_models() -> None:
    """The catalog table."""
    from rich.table import Table

    from ..catalog import CATALOG, DEFAULT_MODELS

    t = Table(title="hwbench catalog")
    for col in ("key", "hugging face id", "category", "inputs", "weights here"):
        t.add_column(col)
    for s in CATALOG.values():
        local = s.local_weights_dir() or s.gguf_path()
        weights = f"pretrained ({local})" if local else "random (config in catalog)"
        t.add_row(s.key + (" *" if s.key in DEFAULT_MODELS else ""), s.hf_id, s.category, s.inputs, weights)
    console = get_console()
    console.print(t)
    console.print(
        "* in the default sweep. Shapes: text [B, seq-length=128], vision [B,3,224,224], "
        "audio [B,80,3000] + decoder ids, multimodal text [B,≤77] + image."
    )


def print_matrix(frame: Any, show_all: bool) -> None:
    """What runs here (or, ``show_all``, every row), reasons numbered below, the rest summed up."""
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
    console = get_console()
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
        for label, count, reason in matrix_groups(frame, hidden):
            lines.add_row(Text("✖", style="red"), Text(f"{label}: {count} combinations — {reason}"))
        console.print(lines)
    ok = int(frame["compatible"].sum())
    console.print(f"{ok} of {len(frame)} combinations run on this host.")


def matrix_groups(frame: Any, hidden: Any) -> list[tuple[str, int, str]]:
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


def print_table(frame: Any, max_rows: int, layout: str = "auto") -> None:
    """A table when the columns fit the console at a readable width, else one block per row
    (``column │ value``); ``layout`` "table" / "vertical" forces one (see tables.py)."""
    from .tables import print_frame

    print_frame(get_console(), frame, max_rows, layout)


def print_recommendations(recs: list[Any]) -> None:
    """One row per model and criterion: where, the value, the confidence and the evidence."""
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
    get_console().print(t)


def emit(frame: Any, columns: list[str], fmt: str) -> None:
    """A reading command's frame on stdout: csv / json (every column), markdown / table (``columns``)."""
    from ..reporting.comparative import to_markdown

    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2, date_format="iso"))
    elif fmt == "markdown":
        click.echo(to_markdown(frame, columns))
    else:
        print_table(frame[columns].round(4), 1000)
