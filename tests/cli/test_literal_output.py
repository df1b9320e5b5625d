"""Data never becomes markup: values, column names and messages print literally."""

from __future__ import annotations

from pathlib import Path

from tests._util import run_cli


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


def test_model_directory_with_markup_runs_and_closes_every_run(tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from transformers import AutoConfig, AutoModel

    model_dir = tmp_path / "x[/b]" / "[bold]m[i]"  # markup in the path and in its last part (the run name's)
    cfg = AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    AutoModel.from_config(cfg).save_pretrained(model_dir)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["run", "--model", str(model_dir), "--hardware", "cpu", "--batch-sizes", "1", "--precision", "fp32"]
    proc = run_cli([*argv, "--max-time", "0.5", "--min-time", "0.2", "--tracking-uri", uri, "--no-db"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # a local model is named by its directory's name (table and progress line alike) ...
    name = "fp32 b1 · cpu/torch · [bold]m[i] · inference"
    assert f"│ {name} " in proc.stdout, proc.stdout
    assert f"  {name}: ok" in proc.stderr, proc.stderr
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    child = next(r for r in runs if r.data.tags.get("mlflow.parentRunId"))
    assert child.info.run_name == name
    assert child.data.params["model"] == str(model_dir)  # ... and the params keep the whole path
