"""A GGUF file re-written in another tensor type, from the exact dequantization of its weights.

Why: OpenVINO GenAI's GGUF reader runs a GGUF's own block types, so the file's type decides the
precision of the weights it executes. Re-writing the 4-bit SmolLM2 file as F16 (``fp16``: every
weight the nearest f16 of its exact value) or Q8_0 (``int8``: per block of 32 an f16 scale and
8-bit weights) gives the runtime those weights; the arithmetic stays f32. Tensors of one
dimension (norms, biases) stay F32, as llama.cpp's own quantizer keeps them.

The file is written once per (source sha256, type, gguf package version) under the model cache
(``gguf-rewritten/``), through a temporary directory renamed into place (no half file).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..model_files import cached_file_sha256
from .model_cache import META_FILE, cache_entry, write_entry

# precision → (GGUF tensor type, general.file_type: llama.cpp's LLAMA_FTYPE numbers)
REWRITES: dict[str, tuple[str, int]] = {"fp32": ("F32", 0), "fp16": ("F16", 1), "int8": ("Q8_0", 7)}


def rewritten_gguf(source: Path, precision: str) -> Path:
    """``source`` re-written with its matrices in the type of ``precision`` (cached); the path of the file."""
    import gguf

    qtype, _ = REWRITES[precision]
    entry = cache_entry(
        "gguf-rewritten",
        model=source.stem,
        sha256=cached_file_sha256(source),
        type=qtype,
        gguf=getattr(gguf, "__version__", "") or _gguf_version(),
    )
    target = entry / f"{source.stem.split('.')[0]}.{qtype}.gguf"
    if not (entry / META_FILE).exists():
        write_entry(entry, lambda tmp: _write(source, tmp / target.name, precision))
    return target


def _gguf_version() -> str:
    from importlib.metadata import version

    return version("gguf")


def _write(source: Path, dest: Path, precision: str) -> None:
    import gguf
    import numpy as np
    from gguf.quants import dequantize, quantize

    qtype_name, file_type = REWRITES[precision]
    qtype = getattr(gguf.GGMLQuantizationType, qtype_name)
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(dest), arch=arch)
    for f in reader.fields.values():
        if f.name == gguf.Keys.General.ARCHITECTURE or f.name.startswith("GGUF."):
            continue
        if f.name == gguf.Keys.General.FILE_TYPE:
            writer.add_key_value(f.name, file_type, gguf.GGUFValueType.UINT32)
            continue
        value_type = f.types[0]
        sub_type = f.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, f.contents(), value_type, sub_type=sub_type)
    for t in reader.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        weights = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if weights.ndim < 2 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(t.name, weights, raw_dtype=gguf.GGMLQuantizationType.F32)
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(t.name, weights.astype(np.float16))
        else:
            packed = quantize(weights, qtype)
            writer.add_tensor(t.name, packed, raw_shape=packed.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (dest.parent / META_FILE).write_text(json.dumps({"source": str(source), "type": qtype_name}))
