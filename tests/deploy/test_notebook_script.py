"""The Python API as a user saves it: a script with no ``__main__`` guard, or piped on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests._util import FAST, clean_env, run_cli

SCRIPT = """\
import hwbench_mlflow as hb
settings = hb.MeasureSettings(warmup=2, min_time_s=0.2, max_time_s=0.6)
sweep = hb.run_benchmark("bert-tiny", hardware="cpu", backend="torch", settings=settings,
                         tracking_uri="sqlite:///{dir}/mlflow.db", db_path="{dir}/hw.duckdb")
print("STATUS", sorted({{r.status for r in sweep.results}}), len(sweep.results))
print("SYNCED", sweep.sync_report.rows_written, repr(sweep.sync_error))
print("RECOMMENDED", sorted({{r.criterion for r in hb.recommend("{dir}/hw.duckdb")}}))
"""


def _python(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=clean_env(), input=stdin, capture_output=True, text=True, timeout=300
    )


def test_readme_style_script_runs_as_a_file_and_from_stdin_and_syncs(tmp_path: Path) -> None:
    script = SCRIPT.format(dir=tmp_path)
    (tmp_path / "nb.py").write_text(script)
    as_file = _python(["nb.py"], tmp_path)
    from_stdin = _python(["-"], tmp_path, stdin=script)
    for proc in (as_file, from_stdin):
        assert proc.returncode == 0, proc.stderr
        assert "STATUS ['success'] 1" in proc.stdout, (proc.stdout, proc.stderr)
        assert "bootstrapping phase" not in proc.stderr and "<stdin>" not in proc.stderr
        assert "SYNCED 2 ''" in proc.stdout  # the config row and the sweep row
        assert "RECOMMENDED ['best_latency'," in proc.stdout
    with duckdb.connect(str(tmp_path / "hw.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM performance_results WHERE status = 'success'").fetchone() == (2,)

    # a sweep the mirror has not seen: readers of the mirror say it is behind
    db, uri = str(tmp_path / "hw.duckdb"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "2", "--precision", "fp32", *FAST]
    assert run_cli([*argv, "--tracking-uri", uri, "--no-db"], tmp_path, timeout=300).returncode == 0
    behind = run_cli(["recommend", "--db-path", db, "--no-log"], tmp_path)
    assert behind.returncode == 0, behind.stderr
    line = f"hwbench: warning: {db} is behind its MLflow store: 1 config run(s) ended after its last sync"
    assert line in behind.stderr, behind.stderr
    assert run_cli(["sync", "--db-path", db, "--tracking-uri", uri], tmp_path).returncode == 0
    current = run_cli(["recommend", "--db-path", db, "--no-log"], tmp_path)
    assert current.returncode == 0 and "behind" not in current.stderr, current.stderr
