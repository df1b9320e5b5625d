"""PyTorch backend: cpu, cuda, rocm, mps; fp32 / bf16 / fp16 / int8; inference and training."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

from ..catalog import resolve_model
from ..config import BenchmarkConfig
from ..errors import ConfigFailure
from ..hardware import HardwareReport
from ..inputs import describe_shapes, make_inputs
from .base import Backend
from .model_cache import sha256_file

INT8_METHOD = "dynamic (torch.ao.quantization.quantize_dynamic: qint8 weights, Linear layers)"
TRAINING_STEP = "forward + loss (mean square of the first output) + backward + AdamW step + zero_grad"


def _weights_file(path: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).exists():
            return path / name
    return None


class TorchBackend(Backend):
    name = "torch"

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        p, hw = config.precision, config.hardware
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
        try:
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
        return params

    def _build_model(self) -> tuple[Any, dict[str, Any]]:
        import transformers

        local = self.local_weights
        params: dict[str, Any] = {}
        try:
            if local is not None:
                model = transformers.AutoModel.from_pretrained(str(local), config=self.hf_config, local_files_only=True)
                params.update(weights="pretrained", model_path=str(local))
            else:
                model = transformers.AutoModel.from_config(self.hf_config)
                params.update(weights="random", model_path=f"config:{self.spec.hf_id}")
        except Exception as exc:  # a broken checkpoint or config is a load error
            raise ConfigFailure("load_error", f"{type(exc).__name__}: {exc}") from exc
        n_params = sum(p.numel() for p in model.parameters())
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        size += sum(b.numel() * b.element_size() for b in model.buffers())
        params.update(model_params=n_params, model_size_mb=round(size / 2**20, 3), model_class=type(model).__name__)
        return model, params

    def weights_sha256(self) -> str:
        """SHA-256 of the real weights file ('' for random weights); outside startup_ms."""
        wfile = _weights_file(self.local_weights) if self.local_weights is not None else None
        return sha256_file(wfile) if wfile else ""

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
