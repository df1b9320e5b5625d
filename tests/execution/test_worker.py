"""The worker's in-process parts: the backend contract as ``_measure`` uses it, core sets."""

from __future__ import annotations

import os
from typing import Any

import pytest

from hwbench_mlflow import backends, worker
from hwbench_mlflow.backends import Backend
from hwbench_mlflow.cli.flags import PARAM_FLAGS
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.errors import BadInputError

SETTINGS = MeasureSettings(warmup=1, min_iterations=3, min_time_s=0.01, max_time_s=0.2)


class FakeBackend(Backend):
    """No runtime: ``run`` returns a constant; ``digest`` / ``dtype`` say what the contract reports."""

    name = "fake"
    digest = ""
    dtype: str | None = None

    def load(self) -> dict[str, Any]:
        return {"loaded": "yes"}

    def run(self) -> Any:
        return [0.0]

    def weights_sha256(self) -> str:
        return self.digest

    def output_dtype(self, out: Any) -> str | None:
        return self.dtype

    def close(self) -> None:
        return None


class KnownFake(FakeBackend):
    digest = "ab" * 32
    dtype = "float32"


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "fake", f"{__name__}:FakeBackend")
    monkeypatch.setitem(backends.BACKENDS, "known-fake", f"{__name__}:KnownFake")


@pytest.mark.parametrize(
    ("backend", "sha", "dtype"), [("fake", "", None), ("known-fake", "ab" * 32, "float32")], ids=["defaults", "known"]
)
def test_measure_calls_the_contract(registered: None, backend: str, sha: str, dtype: str | None):
    config = BenchmarkConfig("bert-tiny", "cpu", backend, "cpu", "fp32", 1)
    result = worker._measure(config, SETTINGS)
    assert result["status"] == "success" and result["params"]["loaded"] == "yes"
    assert result["params"]["weights_sha256"] == sha
    assert result["params"].get("output_dtype") == dtype and ("output_dtype" in result["params"]) == (dtype is not None)
    assert len(result["samples_ms"]) >= 3


def test_too_many_workers_names_the_parameter():
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(BadInputError) as exc:
        worker.split_cores(cores + 1)
    assert exc.value.param == "max_workers"
    assert str(exc.value).startswith(f"max_workers {cores + 1} needs {cores + 1} usable CPU cores")
    assert exc.value.renamed(PARAM_FLAGS).startswith(f"--max-workers {cores + 1} needs {cores + 1} usable CPU cores")


def test_split_cores_covers_every_core_once():
    usable = sorted(os.sched_getaffinity(0))
    sets = worker.split_cores(len(usable))
    assert [c for s in sets for c in s] == usable
