"""The runtime registry: one entry per runtime. Adding a runtime = its module in ``backends/``
+ one ``Runtime`` here.

Plain data in the core stage, so every stage can read it: ``config.DEFAULT_BACKEND`` (the
platform defaults; ``config.default_backend`` for a scenario), ``config.default_precision``,
``backends.BACKENDS`` / ``BACKEND_PLATFORMS`` (class paths, platforms) and
``worker.RUNTIME_PRELOADS`` (what the fork server imports ahead) are derived from it. Backend
classes are named by dotted path and imported only inside the worker, so plans and configs
load without the runtime installed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    """One runtime: the backend class that drives it and the platforms it serves."""

    name: str  # the ``backend`` param and ``--backend`` choice
    class_path: str  # "module:Class", a ``backends.base.Backend`` subclass
    platforms: tuple[str, ...]  # where it can execute (checked before a worker starts)
    default_on: tuple[str, ...] = ()  # platforms it runs on when no backend is chosen
    preload_modules: tuple[str, ...] = ()  # imported by the fork server before the first worker
    generate_default_on: tuple[str, ...] = ()  # platforms it runs scenario generate on when no backend is chosen
    default_precision: str = "fp32"  # what it runs when no precision is asked (names.DEFAULT_PRECISION)
    generate_only: bool = False  # runs scenario generate only (--all plans it for nothing else)


RUNTIMES: tuple[Runtime, ...] = (
    Runtime(
        "torch",
        "hwbench_mlflow.backends.torch_backend:TorchBackend",
        platforms=("cpu", "cuda", "rocm", "mps"),
        default_on=("cpu", "cuda", "rocm", "mps"),
    ),
    Runtime(
        "openvino",
        "hwbench_mlflow.backends.openvino_backend:OpenVINOBackend",
        platforms=("openvino",),
        default_on=("openvino",),
        preload_modules=("openvino",),
    ),
    Runtime(
        "onnxruntime",
        "hwbench_mlflow.backends.onnxruntime_backend:OnnxRuntimeBackend",
        platforms=("cpu", "cuda", "openvino", "qnn"),
        default_on=("qnn",),
        preload_modules=("onnxruntime",),
    ),
    Runtime(
        "onnxruntime-web",
        "hwbench_mlflow.backends.ortweb_backend:OrtWebBackend",
        platforms=("cpu", "webgpu", "webnn"),
        default_on=("webnn", "webgpu"),
    ),
    Runtime(
        "openvino_genai",
        "hwbench_mlflow.backends.openvino_genai_backend:OpenVINOGenAIBackend",
        platforms=("openvino",),
        preload_modules=("openvino", "openvino_genai"),
        generate_default_on=("openvino",),
        default_precision="int4",  # the GGUF's 4-bit weights as they are
        generate_only=True,
    ),
    Runtime(
        "onnxruntime_genai",
        "hwbench_mlflow.backends.onnxruntime_genai_backend:OnnxRuntimeGenAIBackend",
        platforms=("cpu",),  # the CPU package; onnxruntime-genai-cuda would add cuda
        generate_only=True,
    ),
)
