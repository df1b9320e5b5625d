"""Printing a data frame on the console: a table when its columns fit at a readable width,
else one block per row (``column │ value`` lines, like psql's ``\\x``).

In a table a number is never split: numeric columns are as wide as their widest value and
do not wrap; text columns fold, and column names wrap after an ``_``. Every value and name
is printed as plain text (never read as markup).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

LAYOUTS = ("auto", "table", "vertical")
TEXT_MIN = 10  # a text column narrower than this (and than its values) is no longer readable
NAME_MIN = 14  # longest piece of a column name kept whole when names wrap
COLUMN_OVERHEAD = 3  # padding on both sides and one border per column (+1 for the last border)


def layout_option(f: Any) -> Any:
    """``--vertical/--table`` for a command that prints a frame: passes ``layout`` =
    "vertical", "table" or (neither given) "auto" on to :func:`print_frame`."""
    import click

    return click.option(
        "--vertical/--table",
        "layout",
        default=None,
        help="One block per row (column │ value), or always a table "
        "[default: a table when the columns fit the terminal, else one block per row].",
        callback=lambda ctx, param, v: "auto" if v is None else ("vertical" if v else "table"),
    )(f)


def cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def is_atomic(values: Sequence[Any], dtype: Any = None) -> bool:
    """True for a column of numbers (or booleans): its values must never be split."""
    import pandas as pd

    if dtype is not None and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
        return True
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return bool(present) and all(isinstance(v, numbers.Number | bool) for v in present)


_BREAK = r"\s/_@,;:=-"


def pieces(text: str) -> list[str]:
    """``openvino/openvino/fp32@CPU`` → ``openvino/``, ``openvino/``, ``fp32@``, ``CPU``:
    where a cell may wrap (after a space, ``/``, ``_``, ``-``, ``@``, ``,``, ``;``, ``:``, ``=``)."""
    import re

    return [p for p in re.findall(rf"[^{_BREAK}]*(?:[{_BREAK}]+|$)", text) if p]


def wrap_cell(text: str, width: int, names: bool = False) -> str:
    """``text`` in lines of at most ``width`` cells, broken after a separator where possible
    and folded only inside a piece longer than the column. A value without spaces (a path, a
    config) folds instead when that takes fewer lines; a column name (``names``) never does."""
    from rich.cells import cell_len, chop_cells

    if _text_width(text) <= width:
        return text
    out: list[str] = []
    for source in text.splitlines() or [""]:
        line = ""
        for piece in pieces(source):
            if line.strip() and cell_len((line + piece).rstrip()) > width:
                out.append(line.rstrip())
                line = piece.lstrip()
            else:
                line += piece
            if cell_len(line.rstrip()) > width:  # a piece longer than the column: fold it
                *full, line = chop_cells(line.rstrip(), width)
                out.extend(full)
        out.append(line.rstrip())
    if names:  # the same number of lines, as even as they come: throughput_ / samples_ / per_s
        longest = max((cell_len(p.rstrip()) for p in pieces(text)), default=0)
        narrower = wrap_cell(text, width - 1, names) if width > longest else ""
        return narrower if narrower and narrower.count("\n") == len(out) - 1 else "\n".join(out)
    if any(c.isspace() for c in text):  # prose: words stay whole
        return "\n".join(out)
    folded = [part for source in text.splitlines() or [""] for part in chop_cells(source, width) or [""]]
    return "\n".join(out if len(out) <= len(folded) else folded)  # a path: nice breaks, not more lines


def _text_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.splitlines()), default=0)


def plan_widths(
    names: Sequence[str], columns: Sequence[Sequence[str]], atomic: Sequence[bool], width: int
) -> list[int] | None:
    """Content width of each column for a table at most ``width`` cells wide, or None when
    the columns cannot fit at a readable width (numbers whole, text at least TEXT_MIN)."""
    avail = width - COLUMN_OVERHEAD * len(names) - 1
    natural, minimum = [], []
    for name, cells, whole in zip(names, columns, atomic, strict=True):
        content = max((_text_width(c) for c in cells), default=0)
        head = _text_width(name)
        head_min = min(head, max((_text_width(p.rstrip()) for p in pieces(name)), default=0), NAME_MIN)
        natural.append(max(content, head, 1))
        minimum.append(max(content if whole else min(content, TEXT_MIN), head_min, 1))
    if sum(natural) <= avail:
        return natural
    if sum(minimum) > avail:
        return None
    widths = list(minimum)
    extra = avail - sum(widths)

    def grow(targets: list[int]) -> None:  # water-filling: the smallest wants first
        nonlocal extra
        wants = sorted((t - widths[i], i) for i, t in enumerate(targets) if t > widths[i])
        for j, (want, i) in enumerate(wants):
            give = min(want, extra // (len(wants) - j))
            widths[i] += give
            extra -= give

    # first the values (folded text costs a line per row), then the names (one header)
    grow([max(minimum[i], natural[i] if not atomic[i] else 0) for i in range(len(names))])
    grow(natural)
    return widths


def print_frame(console: Any, frame: Any, max_rows: int, layout: str = "auto") -> None:
    """The first ``max_rows`` rows of ``frame`` on ``console``, then the row count."""
    from rich.text import Text

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    shown_frame = frame.head(max_rows)
    names = [str(c) for c in frame.columns]
    columns = [[cell_text(v) for v in shown_frame.iloc[:, i]] for i in range(len(names))]
    atomic = [is_atomic(list(shown_frame.iloc[:, i]), frame.dtypes.iloc[i]) for i in range(len(names))]
    widths = plan_widths(names, columns, atomic, console.width) if names else []
    if layout == "vertical" or (layout == "auto" and widths is None):
        _print_records(console, names, columns, len(shown_frame))
    else:
        _print_table(console, frame, names, columns, atomic, widths)
    shown = len(shown_frame)
    footer = f"{len(frame)} row(s)" + (f", first {shown} shown (--max-rows)" if shown < len(frame) else "")
    console.print(Text(footer))


def _print_table(
    console: Any,
    frame: Any,
    names: list[str],
    columns: list[list[str]],
    atomic: list[bool],
    widths: list[int] | None,
) -> None:
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    forced = widths is None  # --table on a result too wide for the console: print it whole
    if widths is None:
        widths = plan_widths(names, columns, atomic, 1 << 30) or []
    t = Table()
    for i, name in enumerate(names):
        numeric = atomic[i] and not pd.api.types.is_bool_dtype(frame.dtypes.iloc[i])
        t.add_column(
            Text(wrap_cell(name, widths[i], names=True)),
            width=widths[i],
            justify="right" if numeric else "left",
            no_wrap=atomic[i],
            overflow="ellipsis" if atomic[i] else "fold",  # widths fit: never cut
        )
    for row in zip(*columns, strict=True):
        t.add_row(*(Text(v if whole else wrap_cell(v, w)) for v, w, whole in zip(row, widths, atomic, strict=True)))
    if not forced:
        console.print(t)
        return
    before = console.width  # print(width=) cannot exceed the console's width
    console.width = max(before, sum(widths) + COLUMN_OVERHEAD * len(widths) + 1)
    try:
        console.print(t, crop=False)
    finally:
        console.width = before


def _print_records(console: Any, names: list[str], columns: list[list[str]], n_rows: int) -> None:
    """psql's ``\\x``: a rule per row, then ``column │ value`` lines; long values fold under
    the value column."""
    from rich.cells import cell_len
    from rich.text import Text

    unicode = console.encoding.lower().startswith("utf")
    bar, rule = ("│", "─") if unicode else ("|", "-")
    if n_rows == 0:
        console.print(Text("columns: " + ", ".join(names)))
        return
    name_width = min(max(_text_width(n) for n in names), max(TEXT_MIN, console.width // 3))
    value_width = max(1, console.width - name_width - 3)
    widest = max((_text_width(v) for col in columns for v in col), default=0)
    span = name_width + 3 + min(widest, value_width)
    for r in range(n_rows):
        head = f"{rule}[ row {r + 1} ]"
        console.print(Text(head + rule * max(2, span - cell_len(head)), style="dim"))
        for name, col in zip(names, columns, strict=True):
            name_lines = Text(name).wrap(console, name_width, overflow="fold")
            value_lines = Text(col[r]).wrap(console, value_width, overflow="fold") if col[r] else []
            for k in range(max(len(name_lines), len(value_lines), 1)):
                line = Text()
                label = name_lines[k].plain if k < len(name_lines) else ""
                line.append(label + " " * (name_width - cell_len(label)), style="bold")
                line.append(f" {bar}", style="dim")
                if k < len(value_lines):
                    line.append(" ")
                    line.append(value_lines[k].plain.rstrip())
                console.print(line, no_wrap=True, overflow="ignore", crop=False)
