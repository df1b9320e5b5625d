"""The SweepSession that a sweep and a search share, against a real SQLite MLflow store in a
temporary directory: start → record → finish, an exception or Ctrl-C inside, the mirror sync
after. No worker runs: the results are built from hand-made WorkerOutcomes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from hwbench_mlflow import names as N
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.hardware import HardwareReport, PlatformInfo
from hwbench_mlflow.results import SweepResult, build_result, summarise
from hwbench_mlflow.runner import SweepSession
from hwbench_mlflow.worker import WorkerOutcome

REPORT = HardwareReport(
    "testhost", (PlatformInfo("cpu", True, "Test CPU", ("cpu",)), PlatformInfo("cuda", False, reason="no GPU"))
)
CONFIG = BenchmarkConfig("bert-tiny", "cpu", "torch", "cpu", "fp32", 1)
SETTINGS = MeasureSettings()


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)  # not under `mlflow run`
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HWBENCH_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path}/mlflow.db"


def ok() -> WorkerOutcome:
    samples = [5.0, 6.0, 7.0] * 10
    return WorkerOutcome(
        "success", observed={N.M_MEMORY_PEAK: 300.0}, samples_ms=samples, wall_s=0.2, stop_reason="max_time"
    )


def runs(uri: str, session: SweepSession) -> tuple[object, list[object]]:
    client = MlflowClient(uri)
    parent = client.get_run(session.parent_run_id)
    children = client.search_runs([session.experiment_id], f"tags.`{N.MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}'")
    return parent, children


def test_start_record_finish_leaves_a_finished_sweep(uri: str) -> None:
    session = SweepSession(uri, "exp-a", db_path=None)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", session.sweep_id)
    assert session.sweep_id == session.sweep_id  # made once
    with session.start(REPORT, {"sweep_configs": 2}, SETTINGS) as s:
        assert s is session
        first = build_result(CONFIG, ok(), REPORT, SETTINGS)
        run_id = session.record(first, started=1.0)
        assert run_id and first.run_id == run_id and session.results == [first]
        session.finish(summarise(session.results))
    parent, children = runs(uri, session)
    assert parent.info.status == "FINISHED" and parent.info.run_name == f"sweep-{session.sweep_id}"
    tags = parent.data.tags
    assert tags[N.T_ROLE] == "sweep" and tags[N.T_SWEEP_ID] == session.sweep_id
    assert tags[N.T_HW_PREFIX + "cpu"] == "available" and tags[N.T_HW_PREFIX + "cuda"] == "unavailable: no GPU"
    assert tags[N.MLFLOW_RUN_NOTE] == summarise([first])
    assert parent.data.params["sweep_configs"] == "2"
    assert parent.data.params["settings.warmup"] == str(SETTINGS.warmup)
    assert session.experiment_name == "exp-a"
    assert [c.info.run_id for c in children] == [run_id]
    child = children[0]
    assert child.info.status == "FINISHED" and child.data.tags[N.T_ROLE] == "config"
    assert child.data.tags[N.T_SWEEP_ID] == session.sweep_id
    sweep = SweepResult(session.sweep_id, session.uri, session.experiment_id, session.parent_run_id, session.results)
    session.conclude(sweep)  # db_path None: no sync
    assert (sweep.outboxed, sweep.replayed, sweep.experiment, sweep.sync_report) == (0, 0, "exp-a", None)


def test_a_failed_config_makes_the_sweep_failed(uri: str) -> None:
    session = SweepSession(uri, "exp-b", db_path=None)
    with session.start(REPORT, {}, SETTINGS):
        session.record(build_result(CONFIG, WorkerOutcome.failed("oom", "too big"), REPORT, SETTINGS), 1.0)
        session.finish("done")
    parent, children = runs(uri, session)
    assert parent.info.status == "FAILED" and [c.info.status for c in children] == ["FAILED"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_inside_leaves_a_killed_sweep_with_what_was_recorded(uri: str, error: BaseException) -> None:
    session = SweepSession(uri, "exp-c", db_path=None)
    with pytest.raises(type(error)), session.start(REPORT, {}, SETTINGS):
        session.record(build_result(CONFIG, ok(), REPORT, SETTINGS), 1.0)
        raise error
    parent, children = runs(uri, session)
    assert parent.info.status == "KILLED"
    assert parent.data.tags[N.MLFLOW_RUN_NOTE] == summarise(session.results) + "\n\n**Interrupted.**"
    assert [c.info.status for c in children] == ["FINISHED"]  # the child recorded before: whole
    results = json.loads(Path(MlflowClient(uri).download_artifacts(parent.info.run_id, N.A_RESULTS)).read_text())
    assert [r["status"] for r in results["results"]] == ["success"]


def test_a_search_session_says_its_role_and_its_own_interrupted_note(uri: str) -> None:
    session = SweepSession(uri, "exp-d", role="search", db_path=None, interrupted_note=lambda _: "stopped.")
    with pytest.raises(KeyboardInterrupt), session.start(REPORT, {"model": "bert-tiny"}, SETTINGS, tags={"k": "v"}):
        raise KeyboardInterrupt
    parent, children = runs(uri, session)
    assert parent.info.run_name == f"search-{session.sweep_id}" and parent.info.status == "KILLED"
    assert parent.data.tags[N.T_ROLE] == "search" and parent.data.tags["k"] == "v"
    assert parent.data.tags[N.MLFLOW_RUN_NOTE] == "stopped." and children == []


def test_a_finish_that_fails_is_not_finished_again(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    session = SweepSession(uri, "exp-e", db_path=None)
    calls = []
    with pytest.raises(OSError), session.start(REPORT, {}, SETTINGS):

        def refuse(*args: object, **kwargs: object) -> None:
            calls.append(kwargs)
            raise OSError("refused")

        monkeypatch.setattr(session.tracker, "finish", refuse)
        session.finish("done")
    assert calls == [{}]  # once, not again as an interruption


def test_the_tracking_uri_is_checked_when_the_session_is_made(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="tracking store directory does not exist"):
        SweepSession(f"sqlite:///{tmp_path}/missing/mlflow.db", "exp")


def test_conclude_syncs_the_mirror(uri: str, tmp_path: Path) -> None:
    session = SweepSession(uri, "exp-f", db_path=tmp_path / "hwbench.duckdb")
    with session.start(REPORT, {}, SETTINGS):
        session.record(build_result(CONFIG, ok(), REPORT, SETTINGS), 1.0)
        session.finish("done")
    sweep = SweepResult(session.sweep_id, session.uri, session.experiment_id, session.parent_run_id, session.results)
    session.conclude(sweep)
    assert sweep.sync_error == "" and sweep.sync_report is not None
    assert (tmp_path / "hwbench.duckdb").is_file()
