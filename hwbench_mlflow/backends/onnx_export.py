"""torch → ONNX export with an on-disk cache, shared by the ONNX Runtime backends.

The graph is exported with a static shape: exactly the ``[batch, seq]`` inputs of the
config (the fastest graph, and what the benchmark measures), so the input shapes are
part of the cache key. ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript) is
tried first; when it cannot export a model the TorchScript exporter is the fallback, and
the ``onnx_exporter`` / ``onnx_export_fallback`` params say so.

Cache layout (:func:`hwbench_mlflow.backends.model_cache.cache_entry`): one directory per entry
holding ``model.onnx`` and ``meta.json``. The directory is written under a temporary
name and renamed into place, so a killed export never leaves a half file behind.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from ..config import BenchmarkConfig
from ..inputs import describe_shapes
from ..model_files import file_sha256
from .model_cache import META_FILE, cache_entry, write_entry
from .torch_backend import reference_backend, reference_identity
from .torch_backend import reference_inputs as _torch_reference_inputs

DYNAMO_OPSET = 18  # the opset torch.onnx's dynamo exporter (onnxscript) targets by default
TORCHSCRIPT_OPSET = 17  # the fallback exporter; 17 has LayerNormalization
EXPORTERS = "dynamo, else torchscript"
MODEL_FILE = "model.onnx"
# Beyond ONNX's 2 GB protobuf limit the weights must live in an external data file.
EXTERNAL_DATA_MB = 1800
INT8_METHOD = "dynamic (onnxruntime.quantization.quantize_dynamic, QInt8 weights)"
FP16_METHOD = "onnxruntime.transformers.float16.convert_float_to_float16 (keep_io_types=True)"


def reference_inputs(config: BenchmarkConfig) -> dict[str, Any]:
    """The inputs of ``config`` as numpy arrays, named as the exported graph's inputs."""
    return {k: v.numpy() for k, v in _torch_reference_inputs(reference_backend(config)).items()}


def _export(model: Any, inputs: dict[str, Any], path: Path, external: bool) -> dict[str, Any]:
    """Export with the dynamo exporter, falling back to TorchScript; returns what was used."""
    import torch

    names = list(inputs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (),
                str(path),
                kwargs=dict(inputs),
                input_names=names,
                opset_version=DYNAMO_OPSET,
                dynamo=True,
                external_data=external,
                verbose=False,
            )
        return {"onnx_exporter": "dynamo", "onnx_opset": DYNAMO_OPSET}
    except Exception as exc:  # the exporter cannot handle this model: try TorchScript
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
        for p in path.parent.iterdir():
            p.unlink()

    class Positional(torch.nn.Module):
        """TorchScript export binds positional args only: map them back to keywords."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            out = self.inner(**dict(zip(names, args, strict=True)))
            return tuple(out.values()) if hasattr(out, "values") else out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Positional(model),
            tuple(inputs.values()),
            str(path),
            input_names=names,
            opset_version=TORCHSCRIPT_OPSET,
            dynamo=False,
        )
    return {"onnx_exporter": "torchscript", "onnx_opset": TORCHSCRIPT_OPSET, "onnx_export_fallback": reason}


def export_onnx(config: BenchmarkConfig) -> tuple[Path, dict[str, Any]]:
    """The fp32 ONNX file of ``config``'s model at ``config``'s input shapes, exported or from the cache.

    Returns ``(path, params)``. params: ``onnx_cache`` (hit | miss), ``export_ms`` (what
    producing this file took, on a hit when it was made), ``onnx_exporter``,
    ``onnx_opset``, ``onnx_sha256``, ``input_shape``, and from the torch model
    ``weights``, ``weights_sha256``, ``model_params``, ``model_size_mb``, ``model_class``.
    On a hit the torch model is not built. The cache key holds everything that shapes
    the file: model, weights hash (or the catalog architecture for random weights),
    input shapes, exporter choice and opsets, torch / transformers / onnxscript versions.
    """
    import onnxscript
    import torch
    import transformers

    ref = reference_backend(config)
    inputs = _torch_reference_inputs(ref)
    weights_sha = ref.weights_sha256()
    key = {
        **reference_identity(ref, describe_shapes(inputs)),
        "exporters": EXPORTERS,
        "opsets": [DYNAMO_OPSET, TORCHSCRIPT_OPSET],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxscript": onnxscript.__version__,
    }
    entry = cache_entry("onnx", **key)
    cache = "hit"
    if not (entry / META_FILE).exists():
        cache = "miss"

        def build(tmp: Path) -> None:
            ref.load_params = ref.load()  # the seeded random (or real) weights, fp32 on the CPU
            lp = ref.load_params
            t0 = time.perf_counter()
            used = _export(ref.model, ref.inputs, tmp / MODEL_FILE, lp["model_size_mb"] > EXTERNAL_DATA_MB)
            export_ms = (time.perf_counter() - t0) * 1e3
            meta = {
                **used,
                "export_ms": round(export_ms, 1),
                "onnx_sha256": file_sha256(tmp / MODEL_FILE),
                "input_shape": describe_shapes(ref.inputs),
                "weights": lp["weights"],
                "weights_sha256": weights_sha,
                "model_params": lp["model_params"],
                "model_size_mb": lp["model_size_mb"],
                "model_class": lp["model_class"],
                "source_model": lp["model_path"],
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1))

        write_entry(entry, build)
        ref.close()
    meta = json.loads((entry / META_FILE).read_text())
    return entry / MODEL_FILE, {"onnx_cache": cache, **meta}


def _derived(fp32_path: Path, kind: str, method: str, convert: Any) -> tuple[Path, dict[str, Any]]:
    """A file made from the cached fp32 export by ``convert(src, dst, external_data)``, itself cached.

    Keyed by the fp32 file's hash (which already encodes its source), the method and
    the onnxruntime version. Returns ``(path, {"<kind>_cache", "<kind>_ms", "onnx_sha256"})``.
    """
    import onnxruntime

    fp32_path = Path(fp32_path)
    key = {
        "model": fp32_path.parent.name,
        "fp32_sha256": json.loads((fp32_path.parent / META_FILE).read_text())["onnx_sha256"],
        "method": method,
        "onnxruntime": onnxruntime.__version__,
    }
    entry = cache_entry(f"onnx-{kind}", **key)
    cache = "hit"
    if not (entry / META_FILE).exists():
        cache = "miss"
        external = fp32_path.stat().st_size > EXTERNAL_DATA_MB * 2**20

        def build(tmp: Path) -> None:
            t0 = time.perf_counter()
            convert(fp32_path, tmp / MODEL_FILE, external)
            meta = {
                f"{kind}_ms": round((time.perf_counter() - t0) * 1e3, 1),
                "onnx_sha256": file_sha256(tmp / MODEL_FILE),
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1))

        write_entry(entry, build)
    meta = json.loads((entry / META_FILE).read_text())
    return entry / MODEL_FILE, {f"{kind}_cache": cache, **meta}


def quantize_int8(fp32_path: Path) -> tuple[Path, dict[str, Any]]:
    """``fp32_path`` through ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights), cached.

    Weights are int8 in the file; activations are quantized per call
    (DynamicQuantizeLinear → MatMulInteger, or the fused DynamicQuantizeMatMul).
    params: ``quantization``, ``quantize_cache`` (hit | miss), ``quantize_ms``, ``onnx_sha256``.
    """

    def convert(src: Path, dst: Path, external: bool) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, use_external_data_format=external)

    path, params = _derived(fp32_path, "quantize", INT8_METHOD, convert)
    return path, {"quantization": INT8_METHOD, **params}


def convert_fp16(fp32_path: Path) -> tuple[Path, dict[str, Any]]:
    """``fp32_path`` with fp16 weights and compute (inputs / outputs stay fp32), cached.

    params: ``fp16_conversion``, ``fp16_cache`` (hit | miss), ``fp16_ms``, ``onnx_sha256``.
    """

    def convert(src: Path, dst: Path, external: bool) -> None:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        onnx.save(model, str(dst), save_as_external_data=external)

    path, params = _derived(fp32_path, "fp16", FP16_METHOD, convert)
    return path, {"fp16_conversion": FP16_METHOD, **params}
