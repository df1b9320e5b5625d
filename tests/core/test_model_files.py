"""Model files: format, digest and input signature read from the file; shapes filled per batch."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest

from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.model_files import (
    InputSpec,
    inspect_model_file,
    parse_input_shapes,
    parse_input_values,
    resolve_shapes,
)


def _package_file(package: str, relative: str) -> Path:
    """A model file a PyPI package ships (installed with --no-deps by `make install`)."""
    return Path(importlib.util.find_spec(package).origin).parent / relative


OCR_DET = _package_file("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx")
VAD = _package_file("silero_vad", "data/silero_vad.onnx")
VAD_JIT = _package_file("silero_vad", "data/silero_vad.jit")


def test_onnx_signature_digest_and_size():
    det = inspect_model_file(OCR_DET)
    assert det.format == "onnx" and det.size_bytes == OCR_DET.stat().st_size
    assert det.sha256 == hashlib.sha256(OCR_DET.read_bytes()).hexdigest()
    assert det.inputs == (InputSpec("x", "float32", (None, 3, None, None)),)
    vad = inspect_model_file(VAD)
    assert [i.describe() for i in vad.inputs] == ["input [?, ?] float32", "state [2, ?, 128] float32", "sr [] int64"]


def test_openvino_ir_and_torch_export_signatures(tmp_path):
    import openvino as ov
    import torch

    ov.save_model(ov.convert_model(str(OCR_DET)), str(tmp_path / "det.xml"))
    ir = inspect_model_file(tmp_path / "det.xml")
    assert ir.format == "openvino_ir" and ir.inputs == (InputSpec("x", "float32", (None, 3, None, None)),)

    class Tiny(torch.nn.Module):
        def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
            return x.sum(-1) + ids.float()

    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(
        Tiny(), (torch.zeros(4, 8), torch.zeros(4, dtype=torch.int64)), dynamic_shapes=({0: batch}, {0: batch})
    )
    torch.export.save(program, tmp_path / "tiny.pt2")
    exported = inspect_model_file(tmp_path / "tiny.pt2")
    assert exported.format == "torch_export"
    assert exported.inputs == (InputSpec("x", "float32", (None, 8)), InputSpec("ids", "int64", (None,)))


def test_torchscript_gives_names_only():
    jit = inspect_model_file(VAD_JIT)
    assert jit.format == "torchscript" and [i.name for i in jit.inputs] == ["x", "sr"]
    assert all(i.dims is None for i in jit.inputs)
    with pytest.raises(BadInputError, match=r"^input_shapes: input x \(shape not in the file\) float32 has dynamic"):
        resolve_shapes(jit.inputs, 1)


def test_shapes_fill_the_batch_and_the_dynamic_dims():
    det = inspect_model_file(OCR_DET).inputs
    small, large = parse_input_shapes("x=3x320x320;x=3x640x640")
    assert resolve_shapes(det, 4, small) == {"x": (4, 3, 320, 320)}
    assert resolve_shapes(det, 1, large) == {"x": (1, 3, 640, 640)}
    assert resolve_shapes(det, 2, {"x": ("N", 3, 64, 96)}) == {"x": (2, 3, 64, 96)}  # all dims, N = the batch
    vad = inspect_model_file(VAD).inputs
    (point,) = parse_input_shapes("input=512, state=2xNx128")
    assert resolve_shapes(vad, 8, point, parse_input_values("sr=16000")) == {
        "input": (8, 512),
        "state": (2, 8, 128),
        "sr": (),
    }


@pytest.mark.parametrize(
    ("model", "shapes", "values", "message"),
    [
        (OCR_DET, "", "", r"input_shapes: input x \[\?, 3, \?, \?\] float32 has dynamic dims; give them as x=DIMxDIM…"),
        (OCR_DET, "x=4x64x64", "", r"input_shapes: dim 1 of input x \[\?, 3, \?, \?\] float32 is 3 in the file, got 4"),
        (OCR_DET, "x=64x64", "", r"input_shapes: 2 dims given for input x \[\?, 3, \?, \?\] float32, which has 4"),
        (OCR_DET, "y=3x64x64", "", r"input_shapes: the model has no input 'y' \(it has x\)"),
        (VAD, "input=512,state=2xNx128", "", r"input_values: input 'sr' is a scalar int64; give its value as sr=VALUE"),
        (VAD, "input=512", "sr=16000", r"input_shapes: input state \[2, \?, 128\] float32 has dynamic dims"),
    ],
)
def test_what_is_left_unfilled_is_one_line_naming_the_input(model, shapes, values, message):
    inputs = inspect_model_file(model).inputs
    point = parse_input_shapes(shapes)[0] if shapes else {}
    with pytest.raises(BadInputError, match=f"^{message}") as err:
        resolve_shapes(inputs, 1, point, parse_input_values(values) if values else None)
    assert "\n" not in str(err.value)
    flag = {"input_shapes": "--input-shape", "input_values": "--input-value"}
    assert err.value.renamed(flag).startswith(flag[err.value.param] + ": ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "input_shapes: 'x' is not NAME=DIMxDIM… (positive integers, N for the batch)"),
        ("x=3x0", "input_shapes: 'x=3x0' is not NAME=DIMxDIM…"),
        ("x=3xHx4", "input_shapes: 'x=3xHx4' is not NAME=DIMxDIM…"),
        ("x=3,x=4", "input_shapes: 'x' given twice in one shape"),
    ],
)
def test_bad_shape_text(text, message):
    with pytest.raises(BadInputError, match="^" + re.escape(message)):
        parse_input_shapes(text)


def test_bad_value_text_and_files(tmp_path):
    with pytest.raises(BadInputError, match=r"^input_values: 'sr=fast' is not NAME=NUMBER$"):
        parse_input_values("sr=fast")
    with pytest.raises(BadInputError, match=r"^model: no file '/nonexistent/m\.onnx'$"):
        inspect_model_file("/nonexistent/m.onnx")
    with pytest.raises(BadInputError, match=r"^model: 'notes\.txt' is not a model file this reads \(\.gguf, \.jit,"):
        inspect_model_file("notes.txt")
    (tmp_path / "broken.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(BadInputError, match=r"^model: '.*broken\.onnx' is not a readable onnx file: "):
        inspect_model_file(tmp_path / "broken.onnx")
