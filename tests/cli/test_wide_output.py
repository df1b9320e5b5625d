"""A result too wide for the terminal stays readable: one block per row (``column │ value``)
when the columns cannot fit, a table otherwise, and a number is never split in a table."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from hwbench_mlflow.cli.tables import plan_widths, print_frame, wrap_cell
from tests._util import run_cli

NUMBERS = ("1043.7927", "7.0922", "10.5691", "301.0", "0.0413")


def render(frame: pd.DataFrame, width: int, layout: str = "auto", max_rows: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    print_frame(console, frame, max_rows, layout)
    return console.file.getvalue()


def results_like() -> pd.DataFrame:
    """One row of `SELECT * FROM results`: 46 columns, text and numbers."""
    row = {
        "mlflow_run_id": "42b56bad31254ffaad856862984ee978",
        "model": "bert-tiny",
        "model_name": "prajjwal1/bert-tiny",
        "hardware": "cpu",
        "backend": "torch",
        "precision": "fp32",
        "batch_size": 1,
        "input_shape": "input_ids=[1,128];attention_mask=[1,128]",
        "status": "success",
        "error_message": None,
        "throughput_samples_per_s": 1043.7927,
        "percentile_warning": "p90 from 3 samples (needs >= 64); p95 from 3 samples (needs >= 130); p99 from 3",
    }
    row.update({f"latency_p{q}_ms": 7.0922 + q for q in range(34)})
    return pd.DataFrame([row, {**row, "model": "gpt2", "model_name": "openai-community/gpt2"}])


def cross_platform_like() -> pd.DataFrame:
    """`hwbench compare --cross-platform`: 12 columns, long config names, numbers."""
    rows = []
    for config, thr in (("cpu/torch/fp32@cpu", 1043.7927), ("openvino/openvino/fp32@CPU", 149.7811)):
        rows.append(
            {
                "model": "bert-tiny",
                "batch_size": 1,
                "config": config,
                "throughput_samples_per_s": thr,
                "latency_p50_ms": 7.0922,
                "latency_p99_ms": 10.5691,
                "memory_mb": 301.0,
                "winner_throughput": "openvino/openvino/fp32@CPU",
                "winner_p50": "openvino/openvino/fp32@CPU",
                "winner_memory": "cpu/torch/fp32@cpu",
                "winner_p_value": 0.0413,
                "winner_significant": True,
            }
        )
    return pd.DataFrame(rows)


def test_wide_result_at_100_columns_is_one_block_per_row() -> None:
    out = render(results_like(), 100)
    lines = out.splitlines()
    assert any("model_name" in line and "prajjwal1/bert-tiny" in line for line in lines), out
    assert any("model_name" in line and "openai-community/gpt2" in line for line in lines), out
    assert any("throughput_samples_per_s" in line and "1043.7927" in line for line in lines), out
    assert sum("[ row " in line for line in lines) == 2
    assert max(len(line) for line in lines) <= 100
    # a long value folds under the value column, not under the names
    warning = next(i for i, line in enumerate(lines) if line.startswith("percentile_warning"))
    assert lines[warning + 1].lstrip().startswith("│ "), out
    assert lines[-1] == "2 row(s)"


def test_narrow_result_stays_a_table() -> None:
    frame = results_like()[["model", "hardware", "backend", "throughput_samples_per_s", "status"]]
    out = render(frame, 100)
    assert "[ row " not in out
    values = ("bert-tiny", "cpu", "torch", "1043.7927", "success")
    assert any(all(v in line for v in values) for line in out.splitlines()), out
    assert any("model" in line and "hardware" in line and "status" in line for line in out.splitlines())


@pytest.mark.parametrize("width", range(40, 221, 4))
def test_a_number_is_never_split(width: int) -> None:
    frame = cross_platform_like()
    out = render(frame, width)
    for number in NUMBERS:
        assert number in out, f"{number} split at width {width}:\n{out}"
    assert "True" in out
    assert max(len(line) for line in out.splitlines()) <= width


def test_cross_platform_is_a_table_at_160_and_records_at_100() -> None:
    frame = cross_platform_like()
    wide, narrow = render(frame, 160), render(frame, 100)
    assert "┃" in wide and "[ row " not in wide
    row = [line for line in wide.splitlines() if "1043.7927" in line]
    assert len(row) == 1 and "bert-tiny" in row[0] and "7.0922" in row[0] and "10.5691" in row[0], wide
    assert "[ row 2 ]" in narrow
    assert any(re.match(r"^throughput_samples_per_s +│ 1043\.7927$", line) for line in narrow.splitlines()), narrow


def test_layout_can_be_forced() -> None:
    narrow = results_like()[["model", "status"]]
    out = render(narrow, 100, "vertical")
    assert any(re.match(r"^model +│ bert-tiny$", line) for line in out.splitlines()), out
    wide = render(results_like(), 100, "table")  # printed whole, wider than the console
    assert "[ row " not in wide and "prajjwal1/bert-tiny" in wide and "1043.7927" in wide
    assert max(len(line) for line in wide.splitlines()) > 100
    with pytest.raises(ValueError):
        render(narrow, 100, "sideways")


def test_max_rows_and_no_rows() -> None:
    out = render(results_like(), 100, max_rows=1)
    assert "[ row 1 ]" in out and "[ row 2 ]" not in out
    assert out.splitlines()[-1] == "2 row(s), first 1 shown (--max-rows)"
    empty = render(results_like().iloc[:0], 100)
    assert "model_name" in empty and empty.splitlines()[-1] == "0 row(s)"


@pytest.mark.parametrize("layout", ["table", "vertical"])
def test_values_and_names_stay_literal(layout: str) -> None:
    frame = pd.DataFrame([{"[red]c": "[bold]B[/bold]", "d": "[link=http://x]y[/link]", "e": ":smile:"}])
    out = render(frame, 100, layout)
    for text in ("[red]c", "[bold]B[/bold]", "[link=http://x]y[/link]", ":smile:"):
        assert text in out, out


def test_cells_wrap_after_separators() -> None:
    assert wrap_cell("cpu/torch/fp32@cpu", 14) == "cpu/torch/\nfp32@cpu"
    assert wrap_cell("throughput_samples_per_s", 14) == "throughput_\nsamples_per_s"
    assert wrap_cell("p90 from 3 samples (needs >= 64)", 20) == "p90 from 3 samples\n(needs >= 64)"
    folded = wrap_cell("openvino/openvino/fp32@CPU", 14)  # as few lines as folding would take
    assert folded.count("\n") == 1 and folded.replace("\n", "") == "openvino/openvino/fp32@CPU"
    assert plan_widths(["a"] * 30, [["x" * 12]] * 30, [False] * 30, 100) is None
    assert plan_widths(["n"], [["1043.7927"]], [True], 100) == [9]


def test_query_of_a_wide_result_prints_records(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    assert run_cli(["init-db", "--db-path", db], tmp_path).returncode == 0
    cols = ", ".join(f"{7.0922 + i} AS latency_p{i}_ms" for i in range(44))
    sql = f"SELECT 'prajjwal1/bert-tiny' AS model_name, 1043.7927 AS throughput_samples_per_s, {cols}"
    proc = run_cli(["query", sql, "--db-path", db], tmp_path, COLUMNS="80")  # piped: 160 wide
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any("model_name" in line and "prajjwal1/bert-tiny" in line for line in lines), proc.stdout
    assert any("throughput_samples_per_s" in line and "1043.7927" in line for line in lines), proc.stdout
    assert "[ row 1 ]" in proc.stdout and lines[-1] == "1 row(s)"
    narrow = run_cli(["query", "SELECT 'bert-tiny' AS model, 1043.7927 AS t", "--db-path", db], tmp_path)
    assert narrow.returncode == 0, narrow.stderr
    assert "[ row " not in narrow.stdout
    assert any("bert-tiny" in line and "1043.7927" in line for line in narrow.stdout.splitlines())


def test_layout_option_gives_the_layout() -> None:
    import click
    from click.testing import CliRunner

    from hwbench_mlflow.cli.tables import layout_option

    @click.command()
    @layout_option
    def show(layout: str) -> None:
        click.echo(layout)

    runner = CliRunner()
    assert [runner.invoke(show, a).output.strip() for a in ([], ["--vertical"], ["--table"])] == [
        "auto",
        "vertical",
        "table",
    ]


def test_piped_output_honours_columns(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    assert run_cli(["init-db", "--db-path", db], tmp_path).returncode == 0
    sql = "SELECT " + ", ".join(f"'value-{i:02d}' AS column_{i:02d}" for i in range(12))  # ~145 wide as a table
    at_100 = run_cli(["query", sql, "--db-path", db], tmp_path, COLUMNS="100")
    assert at_100.returncode == 0, at_100.stderr
    assert max(len(line) for line in at_100.stdout.splitlines()) <= 100, at_100.stdout
    assert "[ row 1 ]" in at_100.stdout  # too wide for 100: records
    at_160 = run_cli(["query", sql, "--db-path", db], tmp_path)  # the tests' default: COLUMNS=160
    assert "[ row 1 ]" not in at_160.stdout and "value-11" in at_160.stdout.splitlines()[3], at_160.stdout
    assert 100 < max(len(line) for line in at_160.stdout.splitlines()) <= 160
