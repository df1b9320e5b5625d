"""Synthetic input generators, one per input kind, with documented shapes.

| kind        | tensors (B = batch, S = --seq-length, default 128)                          |
|-------------|------------------------------------------------------------------------------|
| text        | input_ids [B, S] int64, attention_mask [B, S] (S capped at the model's max)   |
| text2text   | input_ids, attention_mask, decoder_input_ids: all [B, S] (teacher forcing)    |
| vision      | pixel_values [B, C, H, W] float, H = W = the config's image_size (default 224) |
| audio       | input_features [B, mel_bins, 2 × max_source_positions] (Whisper: 80 × 3000,   |
|             | 30 s of log-mel), decoder_input_ids [B, min(S, max_target_positions)]         |
| multimodal  | input_ids / attention_mask [B, min(S, 77)], pixel_values [B, 3, 224, 224]     |

Token ids and pixels are random but seeded, so every run sees the same data.
"""

from __future__ import annotations

from typing import Any

from .catalog import DEFAULT_IMAGE_SIZE, ModelSpec


def _text_len(spec: ModelSpec, cfg: Any, seq_length: int) -> int:
    limit = spec.max_text_length or getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    return min(seq_length, limit) if limit else seq_length


def make_inputs(
    spec: ModelSpec, cfg: Any, batch: int, seq_length: int, float_dtype: Any, device: str
) -> dict[str, Any]:
    """Build the input dict for ``model(**inputs)``; float tensors in ``float_dtype``."""
    import torch

    g = torch.Generator().manual_seed(1234)

    def ids(vocab: int, length: int) -> dict[str, Any]:
        return {
            "input_ids": torch.randint(0, vocab, (batch, length), generator=g),
            "attention_mask": torch.ones(batch, length, dtype=torch.long),
        }

    def pixels(vcfg: Any) -> Any:
        size = getattr(vcfg, "image_size", None) or DEFAULT_IMAGE_SIZE
        chans = getattr(vcfg, "num_channels", None) or 3
        return torch.rand(batch, chans, size, size, generator=g)

    kind = spec.inputs
    if kind == "text":
        out = ids(cfg.vocab_size, _text_len(spec, cfg, seq_length))
    elif kind == "text2text":
        out = ids(cfg.vocab_size, seq_length)
        out["decoder_input_ids"] = torch.randint(0, cfg.vocab_size, (batch, seq_length), generator=g)
    elif kind == "vision":
        out = {"pixel_values": pixels(cfg)}
    elif kind == "audio":
        frames = 2 * cfg.max_source_positions
        dec = min(seq_length, cfg.max_target_positions)
        out = {
            "input_features": torch.randn(batch, cfg.num_mel_bins, frames, generator=g),
            "decoder_input_ids": torch.randint(0, cfg.vocab_size, (batch, dec), generator=g),
        }
    elif kind == "multimodal":
        tcfg = cfg.text_config
        out = ids(tcfg.vocab_size, min(seq_length, tcfg.max_position_embeddings))
        out["pixel_values"] = pixels(cfg.vision_config)
    else:
        raise ValueError(f"unknown input kind {kind!r}")
    return {k: (v.to(float_dtype) if v.is_floating_point() else v).to(device) for k, v in out.items()}


def describe_shapes(inputs: dict[str, Any]) -> str:
    """``input_ids=[8,128];attention_mask=[8,128]`` — the ``input_shape`` param."""
    return ";".join(f"{k}=[{','.join(str(d) for d in v.shape)}]" for k, v in inputs.items())
