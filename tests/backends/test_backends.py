"""The runtime registry and the backend contract, without worker processes or runtimes loaded."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.backends import BACKEND_PLATFORMS, BACKENDS, Backend, get_backend_class
from hwbench_mlflow.config import DEFAULT_BACKEND, BenchmarkConfig
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.runtimes import RUNTIMES, Runtime
from hwbench_mlflow.worker import RUNTIME_PRELOADS

# The tables the registry replaced, as they were written by hand: the derived names keep them.
OLD_BACKENDS = {
    "torch": "hwbench_mlflow.backends.torch_backend:TorchBackend",
    "openvino": "hwbench_mlflow.backends.openvino_backend:OpenVINOBackend",
    "onnxruntime": "hwbench_mlflow.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "onnxruntime-web": "hwbench_mlflow.backends.ortweb_backend:OrtWebBackend",
    "openvino_genai": "hwbench_mlflow.backends.openvino_genai_backend:OpenVINOGenAIBackend",  # issue 18
    "onnxruntime_genai": "hwbench_mlflow.backends.onnxruntime_genai_backend:OnnxRuntimeGenAIBackend",  # issue 18
}
OLD_PLATFORMS = {
    "torch": ("cpu", "cuda", "rocm", "mps"),
    "openvino": ("openvino",),
    "onnxruntime": ("cpu", "cuda", "openvino", "qnn"),
    "onnxruntime-web": ("cpu", "webgpu", "webnn"),
    "openvino_genai": ("openvino",),
    "onnxruntime_genai": ("cpu",),
}
OLD_DEFAULTS = {
    "cpu": "torch",
    "cuda": "torch",
    "rocm": "torch",
    "mps": "torch",
    "openvino": "openvino",
    "qnn": "onnxruntime",
    "webnn": "onnxruntime-web",
    "webgpu": "onnxruntime-web",
}
OLD_PRELOADS = {
    "openvino": ("openvino",),
    "onnxruntime": ("onnxruntime",),
    "openvino_genai": ("openvino", "openvino_genai"),
}


def test_derived_tables_keep_their_values_and_order():
    assert list(BACKENDS.items()) == list(OLD_BACKENDS.items())
    assert list(BACKEND_PLATFORMS.items()) == list(OLD_PLATFORMS.items())
    assert list(DEFAULT_BACKEND.items()) == list(OLD_DEFAULTS.items())
    assert list(RUNTIME_PRELOADS.items()) == list(OLD_PRELOADS.items())


@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda r: r.name)
def test_every_runtime_is_consistent(runtime: Runtime):
    cls = get_backend_class(runtime.name)
    module, _, name = runtime.class_path.partition(":")
    assert cls is getattr(importlib.import_module(module), name)
    assert issubclass(cls, Backend) and cls.name == runtime.name
    assert set(runtime.platforms) <= set(N.PLATFORMS)
    assert set(runtime.default_on) <= set(runtime.platforms)
    assert set(runtime.generate_default_on) <= set(runtime.platforms)
    assert not runtime.generate_default_on or cls.generates
    assert runtime.default_precision in N.PRECISIONS


def test_generate_defaults_and_default_precisions():
    from hwbench_mlflow.config import DEFAULT_GENERATE_BACKEND, default_backend, default_precision

    assert DEFAULT_GENERATE_BACKEND == {**OLD_DEFAULTS, "openvino": "openvino_genai"}
    assert default_backend("openvino", "generate") == "openvino_genai"
    assert default_backend("openvino", "latency") == "openvino"
    assert default_backend("cpu", "generate") == "torch"
    assert [default_precision(b) for b in ("torch", "openvino", "openvino_genai", "nope")] == [
        "fp32",
        "fp32",
        "int4",
        "fp32",
    ]


def test_every_platform_has_exactly_one_default_runtime():
    for platform in N.PLATFORMS:
        assert [r.name for r in RUNTIMES if platform in r.default_on] == [OLD_DEFAULTS[platform]], platform
    assert len({r.name for r in RUNTIMES}) == len(RUNTIMES)


def test_unknown_backend_names_the_choices():
    with pytest.raises(BadInputError, match="unknown backend 'tvm'; choose from torch, openvino, onnxruntime"):
        get_backend_class("tvm")


class _Minimal(Backend):
    """A backend that implements only the abstract methods."""

    def load(self) -> dict[str, Any]:
        return {}

    def run(self) -> Any:
        return 1

    def close(self) -> None:
        return None


def test_contract_defaults():
    b = _Minimal(BenchmarkConfig("bert-tiny", "cpu", "minimal", "cpu", "fp32", 1))
    assert b.weights_sha256() == ""  # random or unknown weights: no tag
    assert b.output_dtype(b.run()) is None  # not known: no output_dtype param
    assert b.throughput_loop(None) is None and b.latency_loop(None) is None  # type: ignore[arg-type]
    assert b.own_observations() == {} and b.conditions() == {}
    assert b.device_memory_peak_mb() is None and b.energy_j() is None
    assert _Minimal.check(b.config, None) is None and _Minimal.unavailable(b.config) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_reports_its_output_dtype(name: str):
    assert get_backend_class(name).output_dtype is not Backend.output_dtype


@pytest.mark.parametrize("name", ["torch", "openvino", "onnxruntime", "openvino_genai", "onnxruntime_genai"])
def test_native_backends_know_their_weights(name: str):
    assert get_backend_class(name).weights_sha256 is not Backend.weights_sha256
