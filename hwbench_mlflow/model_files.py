"""A user's own model file: its format, digest and input signature, and the concrete input
shapes a config runs it at.

``inspect_model_file(path)`` reads what the file says about itself without running it: ONNX
(``.onnx``: graph inputs minus initializers), OpenVINO IR (``.xml``: the model's partial
shapes), ``torch.export`` (``.pt2``: the exported program's example shapes, symbolic dims
dynamic), TorchScript (``.pt`` / ``.jit``: names only, every dim to be given) and GGUF
(``.gguf``: a generative LLM, no tensor inputs). A dim is an ``int`` when the file fixes it and
``None`` when it is dynamic.

Shapes come from the user: ``"x=3x640x640"`` gives the dims after the batch dim (or all of
them, with ``N`` for the batch); ``"x=3x320x320;x=3x640x640"`` is two points of a sweep;
``"input=512,state=2xNx128"`` two inputs of one point. :func:`resolve_shapes` fills a
signature for one batch size and says, naming the input and its dims, what is left unfilled.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError

# suffix → format; the backends each format runs on follow from it (runtimes / plan)
FORMATS = {
    ".onnx": "onnx",
    ".xml": "openvino_ir",
    ".pt2": "torch_export",
    ".pt": "torchscript",
    ".jit": "torchscript",
    ".gguf": "gguf",
}
BATCH = "N"  # the batch dim in a shape the user writes: 2xNx128
_DIM = re.compile(r"^(?:[1-9][0-9]*|N)$")


@dataclass(frozen=True)
class InputSpec:
    """One input of a model file: ``dims`` is None for a signature the file does not give
    (TorchScript); inside it, None is a dynamic dim."""

    name: str
    dtype: str  # numpy's name: float32, int64, ...
    dims: tuple[int | None, ...] | None

    def describe(self) -> str:
        """``x [?, 3, ?, ?] float32``."""
        if self.dims is None:
            return f"{self.name} (shape not in the file) {self.dtype}"
        return f"{self.name} [{', '.join('?' if d is None else str(d) for d in self.dims)}] {self.dtype}"


@dataclass(frozen=True)
class ModelFile:
    path: Path
    format: str
    sha256: str
    size_bytes: int
    inputs: tuple[InputSpec, ...]


def model_format(path: str | os.PathLike[str]) -> str | None:
    """The format a path's suffix names, or None (a folder, a catalog key, an unknown suffix)."""
    return FORMATS.get(Path(path).suffix.lower())


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cached_file_sha256(path: Path) -> str:
    """:func:`file_sha256`, computed once per file version (path, size, mtime) in a process:
    a large weights file (a GGUF) is read again only when it changes."""
    st = path.stat()
    return _cached_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.cache
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))


def inspect_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Format, sha256, size and input signature of a model file; BadInputError (``model``) for
    a missing file, an unknown suffix or a file its format's reader rejects."""
    p = Path(path).expanduser()
    fmt = model_format(p)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise BadInputError(f"model: '{path}' is not a model file this reads ({known})", param="model")
    if not p.is_file():
        raise BadInputError(f"model: no file '{path}'", param="model")
    readers = {
        "onnx": _onnx_inputs,
        "openvino_ir": _openvino_inputs,
        "torch_export": _torch_export_inputs,
        "torchscript": _torchscript_inputs,
        "gguf": lambda _: (),
    }
    try:
        inputs = readers[fmt](p)
    except BadInputError:
        raise
    except Exception as exc:  # the format's own reader: a truncated or foreign file
        raise BadInputError(
            f"model: '{path}' is not a readable {fmt} file: {type(exc).__name__}: {exc}", param="model"
        ) from exc
    return ModelFile(p.resolve(), fmt, file_sha256(p), p.stat().st_size, tuple(inputs))


def _onnx_inputs(path: Path) -> list[InputSpec]:
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    out = []
    for value in graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)
        out.append(InputSpec(value.name, str(tensor_dtype_to_np_dtype(tensor.elem_type)), dims))
    return out


def _openvino_inputs(path: Path) -> list[InputSpec]:
    import openvino as ov

    model = ov.Core().read_model(str(path))
    out = []
    for port in model.inputs:
        shape = port.get_partial_shape()
        dims = tuple(d.get_length() if d.is_static else None for d in shape) if shape.rank.is_static else None
        out.append(InputSpec(port.get_any_name(), port.get_element_type().to_dtype().name, dims))
    return out


def _torch_export_inputs(path: Path) -> list[InputSpec]:
    import torch

    program = torch.export.load(str(path))
    user_inputs = set(program.graph_signature.user_inputs)
    out = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user_inputs:
            continue
        val = node.meta.get("val")
        dims = tuple(d if isinstance(d, int) else None for d in val.shape) if val is not None else None
        dtype = str(val.dtype).removeprefix("torch.") if val is not None else "float32"
        out.append(InputSpec(node.name, dtype, dims))
    return out


def _torchscript_inputs(path: Path) -> list[InputSpec]:
    import torch

    module = torch.jit.load(str(path), map_location="cpu")
    args = module.forward.schema.arguments[1:]  # after self
    return [InputSpec(a.name, "float32", None) for a in args]


def parse_input_shapes(text: str) -> list[dict[str, tuple[int | str, ...]]]:
    """``"x=3x320x320;x=3x640x640"`` → one dict per sweep point; ``","`` separates the inputs of
    one point. Dims are positive integers or ``N`` (the batch)."""
    points: list[dict[str, tuple[int | str, ...]]] = []
    for point_text in text.split(";"):
        point: dict[str, tuple[int | str, ...]] = {}
        for item in point_text.split(","):
            name, sep, dims_text = item.strip().partition("=")
            name = name.strip()
            dims = [d.strip() for d in dims_text.lower().replace("n", "N").split("x")] if sep else []
            if not name or not dims or not all(_DIM.match(d) for d in dims):
                raise BadInputError(
                    f"input_shapes: '{item.strip()}' is not NAME=DIMxDIM… (positive integers, N for the batch)",
                    param="input_shapes",
                )
            if name in point:
                raise BadInputError(f"input_shapes: '{name}' given twice in one shape", param="input_shapes")
            point[name] = tuple(d if d == BATCH else int(d) for d in dims)
        points.append(point)
    return points


def parse_input_values(text: str) -> dict[str, float]:
    """``"sr=16000"`` → ``{"sr": 16000.0}``: the values of scalar inputs."""
    values: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = (part.strip() for part in item.partition("="))
        try:
            if not (name and sep):
                raise ValueError
            values[name] = float(value)
        except ValueError:
            raise BadInputError(f"input_values: '{item.strip()}' is not NAME=NUMBER", param="input_values") from None
    return values


def resolve_shapes(
    inputs: tuple[InputSpec, ...],
    batch_size: int,
    shapes: dict[str, tuple[int | str, ...]] | None = None,
    values: dict[str, float] | None = None,
) -> dict[str, tuple[int, ...]]:
    """The concrete shape of every input for ``batch_size``; BadInputError naming the input and
    its dims for a dim left dynamic, a shape that contradicts the file, or an unknown name."""
    shapes = shapes or {}
    values = values or {}
    known = {i.name for i in inputs}
    for name in (*shapes, *values):
        if name not in known:
            raise BadInputError(
                f"input_shapes: the model has no input '{name}' (it has {', '.join(sorted(known))})",
                param="input_shapes",
            )
    out: dict[str, tuple[int, ...]] = {}
    for spec in inputs:
        given = shapes.get(spec.name)
        if spec.dims == () and given is None:  # a scalar
            if spec.name not in values:
                raise BadInputError(
                    f"input_values: input '{spec.name}' is a scalar {spec.dtype}; give its value as {spec.name}=VALUE",
                    param="input_values",
                )
            out[spec.name] = ()
            continue
        out[spec.name] = _fill(spec, batch_size, given)
    return out


def _fill(spec: InputSpec, batch_size: int, given: tuple[int | str, ...] | None) -> tuple[int, ...]:
    dims = spec.dims
    if given is None:
        if dims is not None and all(d is not None for d in dims[1:]):
            return (batch_size if dims[0] is None else dims[0], *dims[1:]) if dims else ()
        raise BadInputError(
            f"input_shapes: input {spec.describe()} has dynamic dims; give them as {spec.name}=DIMxDIM… "
            "(the first dim is the batch size; write N for it elsewhere)",
            param="input_shapes",
        )
    if dims is not None and len(given) == len(dims) - 1 and BATCH not in given and dims[0] is None:
        given = (BATCH, *given)
    if dims is not None and len(given) != len(dims):
        raise BadInputError(
            f"input_shapes: {len(given)} dims given for input {spec.describe()}, which has {len(dims)}",
            param="input_shapes",
        )
    filled = tuple(batch_size if d == BATCH else int(d) for d in given)
    for axis, (want, got) in enumerate(zip(dims or (), filled, strict=False)):
        if want is not None and want != got:
            raise BadInputError(
                f"input_shapes: dim {axis} of input {spec.describe()} is {want} in the file, got {got}",
                param="input_shapes",
            )
    return filled
