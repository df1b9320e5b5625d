"""The seams of tracking/: URIs (uri.py), clients and experiments (connect.py), the sweep
writer (sweep.py), single runs (records.py) and reads (reader.py), each against a real
SQLite MLflow store in a temporary directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.hardware import HardwareReport, PlatformInfo
from hwbench_mlflow.tracking.connect import (
    clip,
    ensure_experiment_tag,
    get_or_create_experiment,
    http_client_settings,
    open_client,
)
from hwbench_mlflow.tracking.reader import RunReader
from hwbench_mlflow.tracking.records import log_output_run, replay_outbox
from hwbench_mlflow.tracking.sweep import SweepTracker, library_versions, model_files
from hwbench_mlflow.tracking.uri import check_tracking_uri, http_auth, redact_uri, resolve_tracking_uri, sqlite_path


@pytest.fixture
def uri(tmp_path, monkeypatch):
    monkeypatch.setenv("HWBENCH_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    return f"sqlite:///{tmp_path}/mlflow.db"


# ----------------------------------------------------------------------------- uri.py


def test_resolve_tracking_uri_argument_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking_uri(None) == "http://env:5000"
    assert resolve_tracking_uri("http://given:5000") == "http://given:5000"


def test_redact_and_sqlite_path():
    assert redact_uri("postgresql://bob:secret@db:5432/mlflow") == "postgresql://bob:***@db:5432/mlflow"
    assert redact_uri("http://host:5000") == "http://host:5000"
    assert sqlite_path("sqlite:////tmp/x.db?mode=ro") == "/tmp/x.db?mode=ro"
    assert sqlite_path("http://host") is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("sqlite:///", "names no database file"),
        ("sqlite:////no/such/dir/m.db", "tracking store directory does not exist: /no/such/dir"),
        ("ftp://host/x", "unsupported tracking URI scheme 'ftp'"),
        ("http://host:notaport", "malformed tracking URI"),
    ],
)
def test_check_tracking_uri_refuses(bad, message):
    with pytest.raises(BadInputError, match=message):
        check_tracking_uri(bad)


def test_check_tracking_uri_accepts_a_new_sqlite_file(uri):
    check_tracking_uri(uri)
    assert not Path(sqlite_path(uri)).exists()  # checking creates nothing


def test_http_auth_from_mlflow_variables(monkeypatch):
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert http_auth() is None
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok")

    request = SimpleNamespace(headers={})
    assert http_auth()(request).headers["Authorization"] == "Bearer tok"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    assert http_auth() == ("bob", "pw")


# ----------------------------------------------------------------------------- connect.py


def test_clip():
    assert clip("abc") == "abc"
    assert clip("x" * 10, limit=6) == "xxx..."


def test_http_client_settings_only_for_servers_and_user_settings_win(monkeypatch):
    for var in ("MAX_RETRIES", "BACKOFF_FACTOR", "TIMEOUT"):  # undone after the test, whatever it sets
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{var}", raising=False)
    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    http_client_settings("sqlite:///x.db")
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    http_client_settings("http://host:5000")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2" and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


def test_open_client_creates_the_store_and_experiments_are_got_or_created(uri):
    client = open_client(uri)
    assert Path(sqlite_path(uri)).is_file()
    first = get_or_create_experiment(client, "exp")
    assert get_or_create_experiment(client, "exp") == first
    assert client.get_experiment(first).name == "exp"
    assert ensure_experiment_tag(uri, first, "k", "v") is True
    assert ensure_experiment_tag(uri, first, "k", "other", client) is True
    assert client.get_experiment(first).tags["k"] == "v"  # an existing tag is kept


# ----------------------------------------------------------------------------- sweep.py


def test_library_versions_and_model_files(tmp_path):
    assert "python" in library_versions()
    xml, weights, onnx = tmp_path / "m.xml", tmp_path / "m.bin", tmp_path / "m.onnx"
    xml.write_text("<net/>")
    onnx.write_bytes(b"x")
    assert model_files(str(xml)) == [xml]
    weights.write_bytes(b"w")
    assert model_files(str(xml)) == [xml, weights]
    assert model_files(str(onnx)) == [onnx]
    assert model_files("") == [] and model_files(str(tmp_path / "absent.onnx")) == []


def test_sweep_tracker_writes_a_finished_parent_with_the_runs_view(uri):
    hardware = HardwareReport("host", (PlatformInfo("cpu", True), PlatformInfo("cuda", False, reason="no GPU")))
    tracker = SweepTracker(uri, "exp", "s1")
    run_id = tracker.start(hardware, {"models": "bert-tiny"})
    tracker.finish([], "a note", metrics={"best": 2})
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "sweep-s1"
    assert run.data.params["models"] == "bert-tiny" and run.data.metrics["best"] == 2.0
    tags = run.data.tags
    assert tags[N.T_ROLE] == "sweep" and tags[N.T_SWEEP_ID] == "s1" and tags[N.MLFLOW_RUN_NOTE] == "a note"
    assert tags[N.T_HW_PREFIX + "cpu"] == "available" and tags[N.T_HW_PREFIX + "cuda"] == "unavailable: no GPU"
    exp = tracker.client.get_experiment(tracker.experiment_id)
    assert exp.name == "exp" and any(k.startswith("mlflow.sharedViewState.") for k in exp.tags)
    assert (tracker.outboxed, tracker.replayed) == (0, 0)


# ----------------------------------------------------------------------------- records.py


def test_log_output_run_is_finished_and_tagged(uri, tmp_path):
    extra = tmp_path / "table.csv"
    extra.write_text("a,b\n1,2\n")
    run_id = log_output_run(
        uri, "outputs", "report", {"db_path": "x.duckdb"}, "made", dicts={"d.json": {"n": 1}}, files=[(extra, None)]
    )
    client = open_client(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"db_path": "x.duckdb"}
    assert run.data.tags[N.T_ROLE] == "report" and run.data.tags[N.T_IS_SIMULATED] == "false"
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["d.json", "table.csv"]
    folder = client.download_artifacts(run_id, "d.json", str(tmp_path))
    assert json.loads(Path(folder).read_text()) == {"n": 1}


def test_replay_of_an_empty_outbox_writes_nothing(uri):
    assert replay_outbox(uri) == 0


# ----------------------------------------------------------------------------- reader.py


def test_run_reader_pages_deleted_and_by_id(uri):
    client = open_client(uri)
    exp = get_or_create_experiment(client, "exp")
    ids = [client.create_run(exp).info.run_id for _ in range(3)]
    client.delete_run(ids[2])
    reader = RunReader(uri)
    reader.PAGE_SIZE = 1  # a page a run
    assert reader.experiments()[exp] == "exp"
    pages = list(reader.pages([exp]))
    assert len(pages) == 2 and sorted(r.info.run_id for p in pages for r in p) == sorted(ids[:2])
    assert reader.deleted_ids([exp]) == {ids[2]}
    found = [r.info.run_id for p in reader.runs_by_id([exp], [ids[0], "not'an id", ids[2]]) for r in p]
    assert found == [ids[0]]
    assert list(reader.pages([])) == []


def test_local_artifact_paths():
    assert RunReader.local_artifact("file:///tmp/a%20b/artifacts", "x.json") == "/tmp/a b/artifacts/x.json"
    assert RunReader.local_artifact("/srv/artifacts", "x.json") == "/srv/artifacts/x.json"
    assert RunReader.local_artifact("s3://bucket/artifacts", "x.json") is None
