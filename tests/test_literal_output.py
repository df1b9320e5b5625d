"""Data never becomes markup: values, column names and messages print literally."""

from __future__ import annotations

from pathlib import Path

from ._util import run_cli


def test_query_prints_markup_in_data_literally(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    assert run_cli(["init-db", "--db-path", db], tmp_path).returncode == 0
    sql = "SELECT '[/x]' AS a, '[bold]B[/bold]' AS \"[red]c\", '[link=http://x]y[/link]' AS d"
    proc = run_cli(["query", sql, "--db-path", db], tmp_path, COLUMNS="100")
    assert proc.returncode == 0, proc.stderr
    for text in ("[/x]", "[bold]B[/bold]", "[red]c", "[link=http://x]y[/link]"):
        assert text in proc.stdout, proc.stdout
    assert "\x1b]8;" not in proc.stdout  # no hyperlink escape
    # a DuckDB table function whose values hold brackets ('[]')
    proc = run_cli(["query", "SELECT name, value FROM duckdb_settings()", "--db-path", db], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "access_mode" in proc.stdout and "read_only" in proc.stdout
