"""The team path: `mlflow server` (basic auth) on PostgreSQL, Optuna's storage on the same
PostgreSQL, several hosts logging at once, the server going away mid-sweep, and no secret
anywhere. Real PostgreSQL and a real server, started on loopback by tests/_servers.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from hwbench_mlflow import names as N
from tests._servers import MLFLOW_ADMIN_PASSWORD, PG_PASSWORD, MlflowServer, Postgres, pg_bin
from tests._util import SYNC_KILLED_AFTER_RESULTS, clean_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed (.ci/run installs it)"),
]

QUICK = ["--warmup", "1", "--min-iterations", "5", "--min-time", "0.2", "--max-time", "0.4"]
SECRETS = (PG_PASSWORD, MLFLOW_ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pg = Postgres().start()
    try:
        server = MlflowServer(pg.create_database("mlflow"), tmp_path_factory.mktemp("server")).start()
        try:
            yield pg, server
        finally:
            server.stop()
    finally:
        pg.stop()


def hwbench(server: MlflowServer, cwd: Path, *args: str, password: str = MLFLOW_ADMIN_PASSWORD) -> subprocess.Popen:
    env = clean_env(**server.client_env(password))
    return subprocess.Popen(
        [sys.executable, "-m", "hwbench_mlflow", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def client(server: MlflowServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    for k, v in server.client_env().items():
        monkeypatch.setenv(k, v)
    return MlflowClient(server.url)


def runs_of(mlflow_client, sweep_id: str) -> list:  # type: ignore[no-untyped-def]
    from mlflow.entities import ViewType

    exp = mlflow_client.get_experiment_by_name(N.DEFAULT_EXPERIMENT)
    if exp is None:
        return []
    return mlflow_client.search_runs(
        [exp.experiment_id], f"tags.`{N.T_SWEEP_ID}` = '{sweep_id}'", run_view_type=ViewType.ALL, max_results=1000
    )


def sweep_id_of(stdout: str) -> str:
    return stdout.split("(sweep id ")[1].split(")")[0]


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a password leaked: {text[-2000:]}"


def test_two_hosts_log_into_one_server_and_sync_mirrors_them(team, tmp_path, monkeypatch) -> None:
    _, server = team
    hosts = []
    for i, batch in enumerate(("1", "2")):
        cwd = tmp_path / f"host{i}"
        cwd.mkdir()
        args = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", batch, "--no-db", *QUICK]
        hosts.append(hwbench(server, cwd, *args))
    done = [finish(p) for p in hosts]
    for rc, out, err in done:
        assert rc == 0, err
        no_secret(out, err)
        assert "mlflow.db" not in out  # logged into the server, not a local file
    sweeps = [sweep_id_of(out) for _, out, _ in done]
    assert len(set(sweeps)) == 2

    db = tmp_path / "team.duckdb"
    rc, out, err = finish(hwbench(server, tmp_path, "sync", "--db-path", str(db)))
    assert rc == 0, err
    no_secret(out, err)
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT sweep_id, batch_size, status, throughput_samples_per_s, latency_p50_ms FROM results "
        "WHERE sweep_id IN (?, ?) ORDER BY batch_size",
        sweeps,
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(sweeps[0], 1, "success"), (sweeps[1], 2, "success")]
    assert all(r[3] > 0 and r[4] > 0 for r in rows)
    n_samples = con.execute(
        "SELECT count(*) FROM latency_samples JOIN results USING (mlflow_run_id) WHERE sweep_id IN (?, ?)", sweeps
    ).fetchone()[0]
    assert n_samples >= 2  # raw samples came through the server's artifact proxy

    mlflow_client = client(server, monkeypatch)
    for sweep in sweeps:
        for r in runs_of(mlflow_client, sweep):
            no_secret(repr(r.data.params), repr(r.data.tags))


def test_wrong_password_is_one_line_and_shows_no_secret(team, tmp_path) -> None:
    _, server = team
    for args in (["run", "--model", "bert-tiny", "--hardware", "cpu", "--no-db", *QUICK], ["sync"]):
        rc, out, err = finish(hwbench(server, tmp_path, *args, password="wrong-Pa55"), timeout=60)
        assert rc == 2, err
        assert err.splitlines() == [
            f"hwbench: error: the tracking server at {server.url} refused the credentials (HTTP 401): "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        ], err
        assert "wrong-Pa55" not in out + err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_server_gone_mid_sweep_keeps_runs_and_replay_loses_none_doubles_none(team, tmp_path, monkeypatch) -> None:
    _, server = team
    mlflow_client = client(server, monkeypatch)
    slow = ["--warmup", "1", "--min-iterations", "5", "--min-time", "1.5", "--max-time", "1.5"]
    sweep = hwbench(
        server,
        tmp_path,
        "run",
        "--model",
        "bert-tiny",
        "--hardware",
        "cpu",
        "--batch-sizes",
        "1,2,3",
        "--no-db",
        *slow,
    )
    # stop the server once the first config is in it, while the others are still to come
    deadline = time.monotonic() + 180
    sweep_id = ""
    while time.monotonic() < deadline:
        parents = [
            r
            for r in mlflow_client.search_runs(["0", *_exp(mlflow_client)], f"tags.`{N.T_ROLE}` = 'sweep'")
            if r.info.status == "RUNNING"
        ]
        if parents:
            sweep_id = parents[0].data.tags[N.T_SWEEP_ID]
            if any(r.data.tags.get(N.T_ROLE) == "config" for r in runs_of(mlflow_client, sweep_id)):
                break
        assert sweep.poll() is None, sweep.communicate()
        time.sleep(0.3)
    assert sweep_id, "the sweep never logged its first config"
    server.stop()
    try:
        rc, _, err = finish(sweep)
    finally:
        server.start()  # whatever happens, the next tests find the server up
    assert rc == 1, err
    assert "the tracking store stopped answering" in err and "hwbench sync --replay" in err, err
    outbox = tmp_path / "hwbench-outbox"
    kept = sorted(outbox.glob("*.json"))
    assert len(kept) >= 2  # at least one config and the parent's closing record

    seen_before = runs_of(mlflow_client, sweep_id)
    assert sum(r.data.tags.get(N.T_ROLE) == "config" for r in seen_before) < 3
    # the next run against the server replays the outbox first
    rc, _out, err = finish(
        hwbench(server, tmp_path, "run", "--model", "bert-tiny", "--hardware", "cpu", "--no-db", *QUICK)
    )
    assert rc == 0, err
    assert f"hwbench: replayed {len(kept)} run(s) kept in the outbox" in err, err
    assert not list(outbox.glob("*.json"))
    # a second replay finds nothing, and the mirror agrees with the server
    db = tmp_path / "team.duckdb"
    rc, _, err = finish(hwbench(server, tmp_path, "sync", "--replay", "--db-path", str(db)))
    assert rc == 0, err
    assert err.startswith("replayed 0 run(s) from the outbox"), err

    runs = runs_of(mlflow_client, sweep_id)
    children = [r for r in runs if r.data.tags.get(N.T_ROLE) == "config"]
    assert sorted(int(r.data.params["batch_size"]) for r in children) == [1, 2, 3]  # none lost, none doubled
    assert {r.info.status for r in children} == {"FINISHED"}
    assert all(r.data.metrics[N.M_LAT_P50] > 0 for r in children)
    (parent,) = [r for r in runs if r.data.tags.get(N.T_ROLE) == "sweep"]
    assert parent.info.status == "FINISHED"
    assert "3/3 configs measured" in parent.data.tags[N.MLFLOW_RUN_NOTE]
    assert {c.data.tags[N.MLFLOW_PARENT_RUN_ID] for c in children} == {parent.info.run_id}
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM results WHERE sweep_id = ?", [sweep_id]).fetchone()[0] == 3


def _exp(mlflow_client) -> list[str]:  # type: ignore[no-untyped-def]
    exp = mlflow_client.get_experiment_by_name(N.DEFAULT_EXPERIMENT)
    return [exp.experiment_id] if exp else []


def test_two_search_workers_share_one_study_in_postgresql(team, tmp_path, monkeypatch) -> None:
    pg, server = team
    storage = pg.create_database("optuna")
    args = [
        "search",
        "--model",
        "bert-tiny",
        "--hardware",
        "cpu",
        "--memory-limit",
        "8192",
        "--max-batch",
        "8",
        "--n-trials",
        "1",
        "--storage",
        storage,
        "--study-name",
        "team-study",
        "--no-db",
        *QUICK,
    ]
    workers = [hwbench(server, tmp_path, *args) for _ in range(2)]
    done = [finish(w) for w in workers]
    for rc, out, err in done:
        assert rc == 0, err
        no_secret(out, err)
        assert "postgresql://hwbench:***@127.0.0.1" in out
    import optuna

    study = optuna.load_study(study_name="team-study", storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2  # one per worker, one study
    assert len({t.number for t in complete}) == 2
    mlflow_client = client(server, monkeypatch)
    trial_runs = mlflow_client.search_runs(
        _exp(mlflow_client), f"tags.`{N.T_STUDY_NAME}` = 'team-study'", max_results=100
    )
    children = [r for r in trial_runs if r.data.tags.get(N.T_ROLE) == "config"]
    assert sorted(int(r.data.tags[N.T_TRIAL_NUMBER]) for r in children) == sorted(t.number for t in complete)
    parents = [r for r in trial_runs if r.data.tags.get(N.T_ROLE) == "search"]
    assert len(parents) == 2
    for r in trial_runs:
        no_secret(repr(r.data.params), repr(r.data.tags))


def test_sync_from_the_server_killed_halfway_converges_on_rerun(team, tmp_path, monkeypatch) -> None:
    _, server = team
    env = clean_env(**server.client_env())
    mlflow_client = client(server, monkeypatch)
    if not mlflow_client.search_runs(_exp(mlflow_client), f"tags.`{N.T_ROLE}` = 'config'", max_results=1):
        args = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--no-db", *QUICK]
        rc, _, err = finish(hwbench(server, tmp_path, *args))  # run alone: give the server a sweep
        assert rc == 0, err
    db, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    # SIGKILL right after the results were written, before the transaction commits
    proc = subprocess.run(
        [sys.executable, "-c", SYNC_KILLED_AFTER_RESULTS, "-", str(db)], env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr
    if db.exists():  # nothing of the killed sync is visible
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM performance_results").fetchone() == (0,)
    for target in (db, clean):
        rc, _, err = finish(hwbench(server, tmp_path, "sync", "--db-path", str(target)))
        assert rc == 0, err
    ids = []
    for target in (db, clean):
        with duckdb.connect(str(target), read_only=True) as con:
            ids.append(
                con.execute(
                    "SELECT mlflow_run_id, latency_p50_ms, (SELECT count(*) FROM latency_samples l "
                    "WHERE l.mlflow_run_id = r.mlflow_run_id) FROM performance_results r ORDER BY 1"
                ).fetchall()
            )
    assert ids[0] == ids[1] and len(ids[0]) >= 1  # the rerun converged on what a clean sync builds
