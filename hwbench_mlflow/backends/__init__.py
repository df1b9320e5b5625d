"""Runtime backends. Adding a runtime = one module + one line in BACKENDS.

Classes are named by dotted path and imported only when used (inside the worker), so
plans and configs load without the runtime installed.
"""

from __future__ import annotations

import importlib

from ..errors import BadInputError
from .base import Backend

BACKENDS: dict[str, str] = {
    "torch": "hwbench_mlflow.backends.torch_backend:TorchBackend",
    "openvino": "hwbench_mlflow.backends.openvino_backend:OpenVINOBackend",
    "onnxruntime": "hwbench_mlflow.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "onnxruntime-web": "hwbench_mlflow.backends.ortweb_backend:OrtWebBackend",
}

# Platforms each backend can execute on (checked before a worker starts).
BACKEND_PLATFORMS: dict[str, tuple[str, ...]] = {
    "torch": ("cpu", "cuda", "rocm", "mps"),
    "openvino": ("openvino",),
    "onnxruntime": ("cpu", "cuda", "openvino", "qnn"),
    "onnxruntime-web": ("cpu", "webgpu", "webnn"),
}


def get_backend_class(name: str) -> type[Backend]:
    """Import and return the backend class registered under ``name``."""
    try:
        module_name, _, cls_name = BACKENDS[name].partition(":")
    except KeyError:
        raise BadInputError(f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), cls_name)


__all__ = ["BACKENDS", "BACKEND_PLATFORMS", "Backend", "get_backend_class"]
