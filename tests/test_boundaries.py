"""The MLflow / DuckDB boundary: only tracking.py (and outbox.py) talk to MLflow, only
store.py (and mirror_sync.py) write DuckDB; matrix, ui_url and freshness ask them.

The reads run against a real SQLite MLflow store in a temporary directory."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.tracking import client as tracking

PACKAGE = Path(__file__).resolve().parent.parent / "hwbench_mlflow"
MLFLOW_FOLDER = "tracking/"  # the only MLflow callers
DUCKDB_FOLDER = "mirror/"  # the only DuckDB writer


def _modules() -> list[tuple[str, ast.AST]]:
    return [(str(p.relative_to(PACKAGE)), ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))]


def _mlflow_imports(tree: ast.AST) -> list[str]:
    """The mlflow modules ``tree`` imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "mlflow"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "mlflow":
            found.append(node.module or "")
    return found


def _calls(tree: ast.AST, name: str) -> int:
    """Calls of ``name`` or ``x.name``."""
    return sum(
        isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Name) and n.func.id == name)
            or (isinstance(n.func, ast.Attribute) and n.func.attr == name)
        )
        for n in ast.walk(tree)
    )


def test_only_tracking_and_outbox_talk_to_mlflow():
    for module, tree in _modules():
        if module.startswith(MLFLOW_FOLDER):
            continue
        assert _calls(tree, "MlflowClient") == 0, module
        assert _mlflow_imports(tree) == [], module


def test_only_the_store_opens_duckdb_files():
    for module, tree in _modules():
        if module.startswith(DUCKDB_FOLDER):
            continue
        assert _calls(tree, "_connect") == 0, module
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "con" not in attrs, module  # MirrorStore's connection stays inside the store
        duckdb_connect = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and n.attr == "connect"
            and isinstance(n.value, ast.Name)
            and n.value.id == "duckdb"
        ]
        assert duckdb_connect == [], module


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with two config runs of one combination (the newer failed) and a sweep run in
    an experiment of its own."""
    from mlflow import MlflowClient

    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    default = client.create_experiment(N.DEFAULT_EXPERIMENT)
    other = client.create_experiment("elsewhere")
    params = {"model": "bert-tiny", "hardware": "cpu", "backend": "torch", "precision": "fp32", "mode": "inference"}
    ids = []
    for i, (status, category) in enumerate((("success", ""), ("failed", "oom"))):
        run = client.create_run(default, start_time=1_000 + i, tags={N.T_ROLE: "config", N.T_STATUS: status})
        for k, v in params.items():
            client.log_param(run.info.run_id, k, v)
        if category:
            client.set_tag(run.info.run_id, N.T_ERROR_CATEGORY, category)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=2_000 + i)
        ids.append(run.info.run_id)
    sweep = client.create_run(other, start_time=5_000, tags={N.T_ROLE: "sweep"})
    client.set_terminated(sweep.info.run_id, "FINISHED", end_time=6_000)
    return {"uri": uri, "dir": d, "default": default, "other": other, "configs": ids}


def test_last_config_statuses_newest_first(store):
    rows = tracking.last_config_statuses(store["uri"])
    first, second = store["configs"]
    assert rows == [
        ("bert-tiny", "cpu", "torch", "fp32", "inference", "failed", "oom", second),
        ("bert-tiny", "cpu", "torch", "fp32", "inference", "success", "", first),
    ]


def test_matrix_last_observed_from_the_store(store):
    from hwbench_mlflow.reporting.matrix import last_observed

    assert last_observed(store["uri"]) == {
        ("bert-tiny", "cpu", "torch", "fp32", "inference"): ("failed: oom", store["configs"][1])
    }


def test_missing_store_is_read_as_empty_and_not_created(tmp_path):
    from hwbench_mlflow.reporting.matrix import last_observed
    from hwbench_mlflow.tracking.ui_url import experiment_id, ui_url

    uri = f"sqlite:///{tmp_path}/absent.db"
    assert tracking.last_config_statuses(uri) == [] and last_observed(uri) == {}
    assert tracking.experiment_id_for_ui(uri, None) is None and experiment_id(uri, "hwbench") is None
    assert ui_url(uri, None, "0.0.0.0", 5000) == "http://127.0.0.1:5000/#/experiments"
    assert not list(tmp_path.iterdir())


def test_experiment_id_for_ui(store):
    from hwbench_mlflow.tracking.ui_url import experiment_id

    uri = store["uri"]
    assert experiment_id(uri, None) == store["other"]  # the newest sweep's experiment
    assert tracking.experiment_id_for_ui(uri, N.DEFAULT_EXPERIMENT) == store["default"]
    assert tracking.experiment_id_for_ui(uri, "no such experiment") is None


def test_runs_view_is_added_once_and_kept(tmp_path):
    from mlflow import MlflowClient

    from hwbench_mlflow.tracking.ui_url import (
        RUNS_VIEW_KEY,
        RUNS_VIEW_NAME,
        SHARED_VIEW_TAG_PREFIX,
        ensure_runs_view,
        ui_url,
    )

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(N.DEFAULT_EXPERIMENT)
    tag = SHARED_VIEW_TAG_PREFIX + RUNS_VIEW_KEY
    assert ui_url(uri, None, "127.0.0.1", 5000) == (
        f"http://127.0.0.1:5000/#/experiments/{exp}/runs?workflowType=machine_learning&viewStateShareKey=hwbench"
    )
    assert json.loads(client.get_experiment(exp).tags[tag])["name"] == RUNS_VIEW_NAME
    client.set_experiment_tag(exp, tag, "mine")  # a user's edit of the view is kept
    assert ensure_runs_view(uri, exp) == RUNS_VIEW_KEY
    assert tracking.ensure_experiment_tag(uri, exp, tag, "other", client) is True
    assert client.get_experiment(exp).tags[tag] == "mine"
    assert ensure_runs_view(uri, "123456") is None  # the store refuses (no such experiment)
    assert tracking.ensure_experiment_tag(uri, "123456", "k", "v") is False


def test_config_runs_ended_since(store):
    first, second = store["configs"]
    assert sorted(tracking.config_runs_ended_since(store["uri"], 0, 10)) == sorted([first, second])
    assert tracking.config_runs_ended_since(store["uri"], 2_001, 10) == [second]
    assert len(tracking.config_runs_ended_since(store["uri"], 0, 1)) == 1
    assert tracking.config_runs_ended_since(store["uri"], int(time.time() * 1000), 10) == []


def test_store_public_reads(tmp_path):
    from hwbench_mlflow.mirror.store import MirrorStore, check_mirror_opens, schema_files

    db = tmp_path / "m.duckdb"
    with MirrorStore(db) as store:
        assert store.schema_version() == schema_files()[-1][0]
        assert store.pending_plan_count() == 0
    check_mirror_opens(db)  # a mirror opens
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(BadInputError, match="is not a hwbench DuckDB mirror"):
        check_mirror_opens(bad)
