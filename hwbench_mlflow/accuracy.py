"""Does a fast config still compute the same thing? Its outputs against the reference's on the
same inputs: the errors, the cosine, top-1 agreement for class scores, and a verdict.

The reference is the model's fp32 on the CPU (torch for catalog models, ONNX Runtime for an
ONNX file), run once outside the timed loop. Verdicts, by the cosine between the flattened
outputs (and top-1 agreement where the output is class scores):

=============  ==============  ==================  =========
precision      ``ok`` from     ``degraded`` from   else
=============  ==============  ==================  =========
fp32           0.99999         0.999               ``wrong``
fp16 / bf16    0.999           0.99                ``wrong``
int8           0.99            0.95                ``wrong``
int4           0.98            0.90                ``wrong``
=============  ==============  ==================  =========

``ok`` also needs every top-1 class to agree; a NaN or infinite output, or a shape that differs
from the reference's, is ``wrong`` whatever the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# precision → (cosine for ok, cosine for degraded)
THRESHOLDS = {
    "fp32": (0.99999, 0.999),
    "fp16": (0.999, 0.99),
    "bf16": (0.999, 0.99),
    "int8": (0.99, 0.95),
    "int4": (0.98, 0.90),
}
VERDICTS = ("ok", "degraded", "wrong")


@dataclass(frozen=True)
class AccuracyCheck:
    verdict: str  # ok | degraded | wrong
    reason: str
    metrics: dict[str, float]  # output_max_abs_err, output_max_rel_err, output_cosine[, top1_agreement]


def to_arrays(out: Any) -> list[np.ndarray]:
    """The float outputs of a model call as numpy arrays, in order: a tensor, an array, a
    Mapping (a transformers ModelOutput, OpenVINO's results), or a sequence of them."""
    if hasattr(out, "detach"):  # torch.Tensor, without importing torch
        return [out.detach().float().cpu().numpy()] if out.is_floating_point() else []
    if isinstance(out, np.ndarray):
        return [out.astype(np.float64)] if np.issubdtype(out.dtype, np.floating) else []
    if isinstance(out, Mapping) or (hasattr(out, "values") and hasattr(out, "keys")):
        return [a for value in out.values() for a in to_arrays(value)]
    if isinstance(out, (list, tuple)):
        return [a for value in out for a in to_arrays(value)]
    return []


def compare_outputs(reference: Any, candidate: Any, precision: str) -> AccuracyCheck:
    """The candidate's outputs against the reference's (both as a model call returned them)."""
    ref, got = to_arrays(reference), to_arrays(candidate)
    if not ref:
        raise ValueError("the reference returned no float output")
    shapes = [a.shape for a in ref], [a.shape for a in got]
    if shapes[0] != shapes[1]:
        return AccuracyCheck("wrong", f"output shapes {shapes[1]} differ from the reference's {shapes[0]}", {})
    r = np.concatenate([a.ravel() for a in ref]).astype(np.float64)
    c = np.concatenate([a.ravel() for a in got]).astype(np.float64)
    if not np.all(np.isfinite(c)):
        bad = int(np.size(c) - np.count_nonzero(np.isfinite(c)))
        return AccuracyCheck("wrong", f"{bad} of {c.size} output values are NaN or infinite", {})
    diff = np.abs(c - r)
    scale = max(float(np.max(np.abs(r))), 1e-12)
    norms = float(np.linalg.norm(r) * np.linalg.norm(c))
    cosine = float(np.dot(r, c) / norms) if norms > 0 else (1.0 if np.array_equal(r, c) else 0.0)
    metrics = {
        "output_max_abs_err": float(np.max(diff)),
        "output_max_rel_err": float(np.max(diff)) / scale,  # relative to the reference's largest magnitude
        "output_cosine": cosine,
    }
    top1 = _top1_agreement(ref[0], got[0])
    if top1 is not None:
        metrics["top1_agreement"] = top1
    ok_from, degraded_from = THRESHOLDS.get(precision, THRESHOLDS["fp32"])
    said = f"cosine {cosine:.6f}" + (f", top-1 agreement {top1:.0%}" if top1 is not None else "")
    if cosine >= ok_from and (top1 is None or top1 == 1.0):
        return AccuracyCheck("ok", f"{said} (ok from {ok_from} for {precision})", metrics)
    if cosine >= degraded_from:
        return AccuracyCheck("degraded", f"{said} (ok from {ok_from}, degraded from {degraded_from})", metrics)
    return AccuracyCheck("wrong", f"{said} (below {degraded_from} for {precision})", metrics)


def _top1_agreement(ref: np.ndarray, got: np.ndarray) -> float | None:
    """Share of rows whose arg-max agrees, for class scores ``[batch, classes]``; else None."""
    if ref.ndim != 2 or ref.shape[1] < 2:
        return None
    return float(np.mean(np.argmax(ref, axis=1) == np.argmax(got, axis=1)))
