"""The DuckDB mirror: a real sweep synced and read back, and every case the incremental
sync must converge on (new, late-edited, RUNNING-then-finished, deleted, restored and
purged runs), a killed sync, a busy file, migrations, query / export / init-db."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Param

import hwbench_mlflow as hb
from benchmarks.sync_fixture import FIXTURE_EXPERIMENT, add_sweep, build_fixture
from hwbench_mlflow import names as N
from hwbench_mlflow.mirror.loader import SampleLoader
from hwbench_mlflow.mirror.schema import DATA_TABLES, migrate, schema_files
from hwbench_mlflow.mirror.sync import Syncer
from tests._util import FAST, REPO, SYNC_KILLED_AFTER_RESULTS, child_runs, clean_env, run_cli

HOLD_FILE = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"
SEED_QUERY = (REPO / "analysis" / "queries" / "seed_simulation_status.sql").read_text()


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every data table, rows sorted: what two syncs must agree on."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in DATA_TABLES}


def sync(uri: str, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(["sync", "--tracking-uri", uri, "--db-path", str(db), *args], db.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


# ----------------------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("real")
    uri = f"sqlite:///{d}/mlflow.db"
    # cpu succeeds; cuda is named but absent: a FAILED run that says why
    proc = run_cli(
        [
            "run",
            "--model",
            "bert-tiny",
            "--hardware",
            "cpu,cuda",
            "--precision",
            "fp32,int8",
            "--tracking-uri",
            uri,
            *FAST,
        ],
        d,
    )
    return {"dir": d, "uri": uri, "db": d / "hwbench.duckdb", "proc": proc}


def test_run_syncs_and_the_seed_query_returns_the_sweep(sweep):
    assert sweep["proc"].returncode == 1, sweep["proc"].stderr  # the cuda configs failed, as they must
    assert "DuckDB: hwbench.duckdb (full sync" in sweep["proc"].stdout
    runs = child_runs(sweep["uri"])
    finished = [r for r in runs if r.info.status in ("FINISHED", "FAILED")]
    assert len(finished) == 4
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        rows = con.sql(SEED_QUERY).fetchall()
        (count,) = con.sql("SELECT count(*) FROM performance_results").fetchall()[0]
        statuses = dict(con.sql("SELECT hardware, list(DISTINCT status) FROM results GROUP BY 1").fetchall())
    assert count == len(finished)
    assert len(rows) == 4
    assert {r[0] for r in rows} == {"prajjwal1/bert-tiny"} and {r[1] for r in rows} == {"cpu", "cuda"}
    assert all(r[2] is False and r[3] is None for r in rows)
    assert statuses == {"cpu": ["success"], "cuda": ["failed"]}


def test_every_metric_param_and_tag_equals_mlflow(sweep):
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        frame = con.sql("SELECT * FROM performance_results").df().set_index("mlflow_run_id")
    for run in child_runs(sweep["uri"]):
        row = frame.loc[run.info.run_id]
        for key, value in run.data.metrics.items():
            if key in frame.columns:
                assert row[key] == value, key
        assert json.loads(row["metrics"]) == run.data.metrics
        assert json.loads(row["params"]) == run.data.params
        assert json.loads(row["tags"]) == run.data.tags
        p = run.data.params
        assert (row["backend"], row["precision"], int(row["batch_size"]), row["mode"]) == (
            p["backend"],
            p["precision"],
            int(p["batch_size"]),
            p["mode"],
        )
        assert row["status"] == run.data.tags[N.T_STATUS]
        assert row["created_at"] == pd.Timestamp(run.info.start_time, unit="ms")
        if row["status"] == "failed":
            assert row["error_category"] == "unavailable" and math.isnan(row["latency_p50_ms"])


def test_raw_samples_recompute_the_percentiles(sweep):
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        joined = con.sql(
            "SELECT r.mlflow_run_id, r.iterations, r.samples_count, s.samples, r.latency_p50_ms, s.latency_p50_ms,"
            " r.latency_p99_ms, s.latency_p99_ms, r.latency_mean_ms, s.latency_mean_ms"
            " FROM performance_results r JOIN sample_statistics s USING (mlflow_run_id)"
        ).fetchall()
        (orphans,) = con.sql(
            "SELECT count(*) FROM latency_samples"
            " WHERE mlflow_run_id NOT IN (SELECT mlflow_run_id FROM performance_results)"
        ).fetchall()[0]
    assert len(joined) == 2 and orphans == 0
    for _, iterations, count, samples, p50, s50, p99, s99, mean, smean in joined:
        assert iterations == count == samples >= 3  # a loaded machine gets few iterations in FAST's 1.5 s
        assert p50 == pytest.approx(s50, rel=1e-12)
        assert p99 == pytest.approx(s99, rel=1e-12)
        assert mean == pytest.approx(smean, rel=1e-12)
        assert s50 <= s99


def test_second_sync_changes_nothing(sweep):
    before = snapshot(sweep["db"])
    proc = sync(sweep["uri"], sweep["db"])
    assert "incremental sync" in proc.stdout and " 0 rows written, 0 removed" in proc.stdout
    assert snapshot(sweep["db"]) == before


def test_parquet_export_reads_back_the_same_rows(sweep, hwbench):
    out = sweep["dir"] / "pr.parquet"
    proc = run_cli(
        ["export", "--format", "parquet", "--output", str(out), "--table", "performance_results"], sweep["dir"]
    )
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        expected = con.sql("SELECT * FROM performance_results ORDER BY mlflow_run_id").fetchall()
        back = con.execute("SELECT * FROM read_parquet(?) ORDER BY mlflow_run_id", [str(out)]).fetchall()
    assert back == expected and len(back) == 4
    every = sweep["dir"] / "all"
    proc = run_cli(["export", "--format", "csv", "--output", str(every)], sweep["dir"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in every.iterdir()) == sorted(f"{t}.csv" for t in DATA_TABLES)
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        (total,) = con.sql("SELECT sum(samples_count) FROM performance_results").fetchall()[0]
    assert len(pd.read_csv(every / "latency_samples.csv")) == total >= 6


def test_query_is_read_only(sweep):
    proc = run_cli(["query", "DROP TABLE models"], sweep["dir"])
    assert proc.returncode == 2
    assert proc.stderr == "hwbench: error: query refused: DROP statements are not allowed; hwbench query only reads\n"
    proc = run_cli(["query", "SELECT 1; DELETE FROM models"], sweep["dir"])
    assert proc.returncode == 2 and "DELETE statements are not allowed" in proc.stderr
    proc = run_cli(
        ["query", "SELECT model, hardware, status FROM results ORDER BY 2", "--format", "json"], sweep["dir"]
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["hardware"] for r in json.loads(proc.stdout)] == ["cpu", "cpu", "cuda", "cuda"]
    proc = run_cli(["query", "SELECT * FROM nope"], sweep["dir"])
    assert proc.returncode == 2 and proc.stderr.startswith("hwbench: error: query failed: Catalog Error")
    assert "Traceback" not in proc.stderr
    frame = hb.sql("SELECT count(*) AS n FROM models", sweep["db"])
    assert frame["n"].tolist() == [1]


def test_init_db_plans_pending_rows_that_results_fill(sweep):
    proc = run_cli(
        ["init-db", "--model", "bert-tiny", "--hardware", "cpu", "--precision", "fp32,int8", "--batch-sizes", "1,8"],
        sweep["dir"],
    )
    assert proc.returncode == 0, proc.stderr
    # torch and ONNX Runtime run on the cpu platform, and ONNX Runtime Web (wasm) once `make web` ran:
    # backends × 2 precisions × 2 batch sizes, of which the sweep measured torch at batch 1
    from hwbench_mlflow import browsers

    planned = (3 if browsers.ort_dist() and browsers.browser_for("cpu", "wasm") else 2) * 2 * 2
    assert f"{planned} compatible combination(s) planned ({planned} new), {planned - 2} pending" in proc.stdout
    with duckdb.connect(str(sweep["db"]), read_only=True) as con:
        plan = con.sql(
            "SELECT precision, batch_size, status FROM benchmark_plan WHERE backend = 'torch' ORDER BY ALL"
        ).fetchall()
        (pending,) = con.sql("SELECT count(*) FROM pending_benchmarks").fetchall()[0]
        (detections,) = con.sql(
            "SELECT count(*) FROM hardware_availability_log WHERE mlflow_run_id IS NULL"
        ).fetchall()[0]
    assert plan == [("fp32", 1, "success"), ("fp32", 8, "pending"), ("int8", 1, "success"), ("int8", 8, "pending")]
    assert pending == planned - 2 and detections == len(N.PLATFORMS)


def test_hardware_detection_is_logged_when_asked_or_when_the_mirror_exists(tmp_path):
    proc = run_cli(["hardware", "--json"], tmp_path)
    assert proc.returncode == 0 and not (tmp_path / "hwbench.duckdb").exists()  # never creates one unasked
    for _ in range(2):
        proc = run_cli(["hardware", "--db-path", "hwbench.duckdb"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "detection logged to hwbench.duckdb" in proc.stderr
    proc = run_cli(["hardware", "--no-db"], tmp_path)  # the file exists now, but --no-db
    assert proc.returncode == 0 and "logged" not in proc.stderr
    with duckdb.connect(str(tmp_path / "hwbench.duckdb"), read_only=True) as con:
        rows = con.sql(
            "SELECT detection_id, hardware_type, is_available, reason FROM hardware_availability_log"
        ).fetchall()
    assert len({r[0] for r in rows}) == 2 and len(rows) == 2 * len(N.PLATFORMS)
    cpu = [r for r in rows if r[1] == "cpu"]
    assert all(r[2] is True and r[3] is None for r in cpu)
    assert all(r[3] for r in rows if not r[2])  # every unavailable platform says why


def test_no_db_leaves_no_file(tmp_path):
    # fp16 on this CPU is skipped before any worker starts: a cheap, real sweep
    args = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--precision", "fp16", "--no-db"]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "hwbench.duckdb").exists()


# ----------------------------------------------------------------------------- convergence


@pytest.fixture
def store(tmp_path):
    """A store of 3 fixture sweeps × 5 configs that ended weeks ago (outside any watermark slack)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    build_fixture(uri, 15, tmp_path / "artifacts", progress=False, configs_per_sweep=5)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(FIXTURE_EXPERIMENT).experiment_id
    return {"uri": uri, "client": client, "exp": exp, "db": tmp_path / "m.duckdb", "dir": tmp_path}


def _count(db: Path, sql: str = "SELECT count(*) FROM performance_results") -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).fetchall()[0][0]


def _syncs_until(syncer: Syncer, done, limit: int = 60) -> int:
    for n in range(1, limit + 1):
        syncer.run()
        if done():
            return n
    pytest.fail(f"not converged after {limit} syncs")


def _clean_full(store) -> dict:
    clean = store["dir"] / f"clean-{time.monotonic_ns()}.duckdb"
    sync(store["uri"], clean)
    return snapshot(clean)


def test_incremental_converges_on_every_case(store):
    uri, client, exp, db = store["uri"], store["client"], store["exp"], store["db"]
    proc = sync(uri, db)
    assert "full sync" in proc.stdout and "18 rows written" in proc.stdout  # 15 results + 3 sweeps
    assert _count(db) == 15 and _count(db, "SELECT count(*) FROM sweeps") == 3

    # new runs: a sweep that ends now
    add_sweep(client, exp, 100, 4, int(time.time() * 1000) - 60_000)
    sync(uri, db, "--recheck", "0")
    assert _count(db) == 19

    # a RUNNING config run is not a result yet; it is once it ends
    running = client.create_run(exp, tags={N.T_ROLE: "config", N.T_STATUS: "success", N.T_HOST: "h"})
    params = {"model": "bert-tiny", "hardware": "cpu", "device": "cpu", "backend": "torch", "precision": "fp32"}
    params.update({"batch_size": "2", "mode": "inference"})
    client.log_batch(running.info.run_id, params=[Param(k, v) for k, v in params.items()])
    sync(uri, db, "--recheck", "0")
    assert _count(db) == 19
    client.set_terminated(running.info.run_id, "FINISHED")
    sync(uri, db, "--recheck", "0")
    assert _count(db) == 20

    # a tag and a metric logged later onto a run that ended weeks ago: the end_time
    # watermark cannot see it; the rolling recheck does within ceil(10 * runs / recheck) syncs
    old = child_runs(uri)[-1].info.run_id
    client.set_tag(old, N.T_SIMULATION_REASON, "late note")
    client.log_metric(old, N.M_ENERGY, 1.25)
    sync(uri, db, "--recheck", "0")
    sql = f"SELECT energy_j_per_sample FROM performance_results WHERE mlflow_run_id = '{old}'"
    assert _count(db, sql) is None
    rolling = Syncer(uri, db, recheck=5)  # in-process: the loop needs no new interpreter per sync
    assert _syncs_until(rolling, lambda: _count(db, sql) == 1.25) <= 10 * 25 // 5 + 1

    # soft delete, then restore
    victim = child_runs(uri)[0].info.run_id
    client.delete_run(victim)
    sync(uri, db, "--recheck", "0")
    assert _count(db) == 19
    client.restore_run(victim)
    sync(uri, db, "--recheck", "0")
    assert _count(db) == 20

    # purged by `mlflow gc` between two syncs: only comparing ids finds it
    weeks_ago = int(time.time() * 1000) - 86_400_000
    purged = [r.info.run_id for r in child_runs(uri) if r.info.start_time < weeks_ago and r.info.run_id != old][:2]
    assert len(purged) == 2
    for rid in purged:
        client.delete_run(rid)
    gc = subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri, "--run-ids", ",".join(purged)],
        capture_output=True,
        text=True,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        timeout=300,
    )
    assert gc.returncode == 0, gc.stderr
    assert _syncs_until(rolling, lambda: _count(db) == 18) <= 10 * 25 // 5 + 1
    with duckdb.connect(str(db), read_only=True) as con:
        (orphans,) = con.sql(
            "SELECT count(*) FROM latency_samples"
            " WHERE mlflow_run_id NOT IN (SELECT mlflow_run_id FROM performance_results)"
        ).fetchall()[0]
    assert orphans == 0

    # after all that, the incremental mirror is exactly what a clean full sync builds
    assert snapshot(db) == _clean_full(store)


def test_killed_sync_leaves_the_previous_state_and_converges(store):
    uri, client, exp, db = store["uri"], store["client"], store["exp"], store["db"]
    sync(uri, db)
    before = snapshot(db)
    add_sweep(client, exp, 200, 5, int(time.time() * 1000) - 60_000)
    proc = subprocess.run(
        [sys.executable, "-c", SYNC_KILLED_AFTER_RESULTS, uri, str(db)],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(db) == before
    sync(uri, db)
    assert _count(db) == 20
    assert snapshot(db) == _clean_full(store)


def test_second_process_gets_a_clear_message(store):
    uri, db = store["uri"], store["db"]
    sync(uri, db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = db.stat().st_size
        proc = run_cli(["sync", "--tracking-uri", uri, "--db-path", str(db), "--lock-timeout", "0.5"], db.parent)
        assert proc.returncode == 1
        assert proc.stderr.startswith(f"hwbench: error: {db} is in use by another process (PID {holder.pid}")
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        proc = run_cli(["query", "SELECT 1", "--db-path", str(db)], db.parent)
        assert proc.returncode == 1 and "is in use by another process" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert db.stat().st_size == before
    assert _count(db) == 15


def test_watch_keeps_mirroring_and_stops_cleanly(store):
    uri, client, exp, db = store["uri"], store["client"], store["exp"], store["db"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwbench_mlflow", "sync", "--tracking-uri", uri, "--db-path", str(db), "--watch", "0.5"],
        cwd=store["dir"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "full sync" in proc.stdout.readline()
        add_sweep(client, exp, 300, 3, int(time.time() * 1000) - 60_000)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if " 4 rows written" in line:  # three results + their sweep
                break
        else:
            pytest.fail("watch never mirrored the new sweep")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "watch stopped" in err and "Traceback" not in err
    assert _count(db) == 18


def test_sync_refuses_a_file_of_another_store(store, tmp_path):
    sync(store["uri"], store["db"])
    other = tmp_path / "other"
    other.mkdir()
    build_fixture(f"sqlite:///{other}/mlflow.db", 2, other / "a", progress=False, configs_per_sweep=2)
    proc = run_cli(["sync", "--tracking-uri", f"sqlite:///{other}/mlflow.db", "--db-path", str(store["db"])], tmp_path)
    assert proc.returncode == 2
    assert "mirrors sqlite:///" in proc.stderr and "use --full to rebuild" in proc.stderr
    proc = run_cli(["sync", "--tracking-uri", f"sqlite:///{tmp_path}/none.db", "--db-path", "x.duckdb"], tmp_path)
    assert proc.returncode == 2 and "no MLflow store at" in proc.stderr
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "x.duckdb").exists()


def test_samples_parsed_in_a_helper_process_match_and_a_bad_file_is_reported(store, monkeypatch):
    uri, db = store["uri"], store["db"]
    sync(uri, db)
    inline = snapshot(db)
    monkeypatch.setattr(SampleLoader, "POOL_FROM_FILES", 1)  # what a big sync does
    helper_db = store["dir"] / "helper.duckdb"
    report = Syncer(uri, helper_db).run()
    assert report.samples_written == sum(1 for _ in inline["latency_samples"]) > 0
    assert snapshot(helper_db) == inline
    # one corrupt artifact: that run keeps samples_count 0, the sync says which
    victim = child_runs(uri)[0]
    path = Path(victim.info.artifact_uri.removeprefix("file://")) / N.A_RAW_SAMPLES
    path.write_text('{"latencies_ms": [1.0, ')
    report = Syncer(uri, store["dir"] / "bad.duckdb").run()
    assert report.unreadable_samples == [victim.info.run_id]
    assert f"1 unreadable {N.A_RAW_SAMPLES} (e.g. run {victim.info.run_id})" in report.line()
    sql = f"SELECT samples_count FROM performance_results WHERE mlflow_run_id = '{victim.info.run_id}'"
    assert _count(store["dir"] / "bad.duckdb", sql) == 0


# ----------------------------------------------------------------------------- schema


def test_migrations_apply_in_order_and_a_newer_file_is_refused(tmp_path):
    migrations = tmp_path / "schema"
    migrations.mkdir()
    known = schema_files()
    latest = known[-1][0]
    (migrations / known[0][1].name).write_text(known[0][1].read_text())
    db = tmp_path / "m.duckdb"
    with duckdb.connect(str(db)) as con:
        assert migrate(con, migrations) == 1
        con.execute("INSERT INTO models VALUES ('bert-tiny', 'prajjwal1/bert-tiny', 'text')")
        assert con.sql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'sweeps' AND column_name = 'kind'"
        ).fetchall() == [(0,)]
    for _, path in known[1:]:  # the later real migrations, then one from a newer hwbench
        (migrations / path.name).write_text(path.read_text())
    (migrations / f"{latest + 1:03d}_add_notes.sql").write_text("ALTER TABLE models ADD COLUMN notes VARCHAR;")
    with duckdb.connect(str(db)) as con:
        assert migrate(con, migrations) == latest + 1
        assert migrate(con, migrations) == latest + 1  # applied once
        assert con.sql("SELECT model_id, notes FROM models").fetchall() == [("bert-tiny", None)]
        versions = [r[0] for r in con.sql("SELECT version FROM schema_version ORDER BY 1").fetchall()]
        assert versions == list(range(1, latest + 2))
        # schema 2 added sweeps.kind to a file made by schema 1
        assert con.sql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'sweeps' AND column_name = 'kind'"
        ).fetchall() == [(1,)]
    # this hwbench knows `latest` only: a file from a newer one is refused, untouched
    proc = run_cli(["query", "SELECT 1", "--db-path", str(db)], tmp_path)
    assert proc.returncode == 0  # reads still work
    proc = run_cli(["sync", "--db-path", str(db), "--tracking-uri", f"sqlite:///{tmp_path}/x.db"], tmp_path)
    assert proc.returncode == 2
    proc = run_cli(["init-db", "--db-path", str(db), "--model", "bert-tiny", "--hardware", "cpu"], tmp_path)
    assert proc.returncode == 2
    assert f"schema version {latest + 1}, newer than this hwbench knows ({latest})" in proc.stderr


def test_query_without_a_mirror_says_what_to_do(tmp_path):
    proc = run_cli(["query", "SELECT 1"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "hwbench: error: no DuckDB mirror at hwbench.duckdb; run `hwbench sync` (or `hwbench run`) first\n"
    )
    (tmp_path / "junk.duckdb").write_text("not a database")
    proc = run_cli(["query", "SELECT 1", "--db-path", "junk.duckdb"], tmp_path)
    assert proc.returncode == 2 and "is not a hwbench DuckDB mirror" in proc.stderr
    assert os.path.getsize(tmp_path / "junk.duckdb") == len("not a database")
