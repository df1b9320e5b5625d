"""The accuracy check: errors, cosine, top-1 agreement and the verdict per precision."""

from __future__ import annotations

import numpy as np
import pytest

from hwbench_mlflow.accuracy import THRESHOLDS, compare_outputs, to_arrays

REF = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)  # class scores: 4 rows, 10 classes


def _noisy(relative: float) -> np.ndarray:
    noise = np.random.default_rng(1).standard_normal(REF.shape).astype(np.float32)
    return REF + relative * float(np.std(REF)) * noise


def test_identical_outputs_are_ok_with_zero_error():
    check = compare_outputs(REF, REF.copy(), "fp32")
    assert check.verdict == "ok"
    assert check.metrics["output_max_abs_err"] == 0.0 and check.metrics["output_cosine"] == pytest.approx(1.0)
    assert check.metrics["top1_agreement"] == 1.0


def test_errors_are_the_measured_ones():
    got = REF.copy()
    got[1, 2] += 0.5
    m = compare_outputs(REF, got, "int8").metrics
    assert m["output_max_abs_err"] == pytest.approx(0.5, rel=1e-6)
    assert m["output_max_rel_err"] == pytest.approx(0.5 / np.max(np.abs(REF)), rel=1e-6)
    expected_cos = float(np.dot(REF.ravel(), got.ravel()) / (np.linalg.norm(REF) * np.linalg.norm(got)))
    assert m["output_cosine"] == pytest.approx(expected_cos, rel=1e-6)


@pytest.mark.parametrize(
    ("precision", "noise", "verdict"),
    [("int8", 0.01, "ok"), ("int8", 0.2, "degraded"), ("int8", 1.0, "wrong"), ("fp32", 0.01, "degraded")],
)
def test_the_verdict_follows_the_precision_thresholds(precision, noise, verdict):
    check = compare_outputs(REF, _noisy(noise), precision)
    ok_from, degraded_from = THRESHOLDS[precision]
    cosine = check.metrics["output_cosine"]
    assert check.verdict == verdict, check.reason
    assert (cosine >= ok_from) == (verdict == "ok") or check.metrics["top1_agreement"] < 1
    assert (cosine < degraded_from) == (verdict == "wrong")


def test_a_flipped_class_is_not_ok_even_at_a_high_cosine():
    big = np.tile(np.linspace(0, 100, 10, dtype=np.float32), (4, 1))
    got = big.copy()
    got[0, 8], got[0, 9] = got[0, 9], got[0, 8]  # row 0's top class changes; the cosine barely moves
    check = compare_outputs(big, got, "int8")
    assert check.metrics["output_cosine"] > THRESHOLDS["int8"][0]
    assert check.metrics["top1_agreement"] == 0.75 and check.verdict == "degraded"


def test_nan_or_a_different_shape_is_wrong():
    got = REF.copy()
    got[0, 0] = np.nan
    assert compare_outputs(REF, got, "bf16").verdict == "wrong"
    assert compare_outputs(REF, got, "bf16").reason == "1 of 40 output values are NaN or infinite"
    check = compare_outputs(REF, REF[:, :5], "fp32")
    assert check.verdict == "wrong" and check.reason == "output shapes [(4, 5)] differ from the reference's [(4, 10)]"


def test_model_outputs_of_every_runtime_flatten_in_order():
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    hidden, pooled = torch.ones(2, 3, 4), torch.zeros(2, 4)
    arrays = to_arrays(BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled))
    assert [a.shape for a in arrays] == [(2, 3, 4), (2, 4)]
    assert [a.shape for a in to_arrays([np.ones((2, 2)), np.arange(3)])] == [(2, 2)]  # integer outputs left out
    assert [a.shape for a in to_arrays({"logits": np.ones((1, 5), dtype=np.float16)})] == [(1, 5)]
    bf16 = torch.randn(2, 4).to(torch.bfloat16)
    assert compare_outputs(bf16.float(), bf16, "bf16").verdict == "ok"
