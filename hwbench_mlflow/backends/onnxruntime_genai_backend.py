"""ONNX Runtime GenAI backend: the ``generate`` scenario on an ONNX model built by its model builder.

What runs, and where the time goes:

* ``prepare`` (not timed): the model's weights as a transformers folder (a GGUF: its exact
  dequantization, the torch backend's cached folder), then ONNX Runtime GenAI's model builder
  (``python -m onnxruntime_genai.models.builder -i FOLDER -p fp32|int4 -e cpu``) in a separate
  process, once per (weights, precision, onnxruntime-genai version), cached under the model cache
  (``onnxruntime-genai/``); ``build_ms`` says what a first build cost.
* ``load`` (``startup_ms``): ``onnxruntime_genai.Model(folder)``; the prompts are tokenized with
  the folder's Hugging Face tokenizer (:func:`hwbench_mlflow.generation.prompt_token_ids`), the same
  ids as on every backend.
* ``generate``: ``Generator.append_tokens(prompt)`` (the prefill), then ``generate_next_token()``
  once per token, our ``time.perf_counter()`` read after each: the token is chosen when the call
  returns. Greedy, exactly ``new_tokens`` (``min_length = max_length = prompt + new``), every
  batch size on our own clock.

Precisions: ``fp32`` (the builder's fp32 graph: exactly torch fp32's greedy tokens on SmolLM2) and
``int4`` (the builder's weight-only int4: ``MatMulNBits``, blocks of 32, the builder's default
accuracy level for the CPU — activations quantized to int8 inside those MatMuls; said in
``weights_executed``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

from ..config import BenchmarkConfig
from ..errors import ConfigFailure
from ..generation import GenerationTrace, kv_cache_mb, prompt_token_ids
from ..hardware import HardwareReport
from ..model_files import cached_file_sha256, file_sha256
from ..names import GENERATE
from .base import Backend
from .model_cache import META_FILE, cache_entry, write_entry

PRECISIONS = ("fp32", "int4")
BUILD_TIMEOUT_S = 1800.0
WEIGHTS_EXECUTED = {
    "fp32": "float32: the model builder's fp32 ONNX graph",
    "int4": "int4 weights (MatMulNBits, block 32, the builder's CPU accuracy level: activations int8 inside "
    "those MatMuls), the rest fp32",
}


def _installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime_genai") is not None


@cache
def _og_version() -> str:
    from importlib.metadata import version

    return version("onnxruntime-genai")


class OnnxRuntimeGenAIBackend(Backend):
    name = "onnxruntime_genai"
    generates = True
    weight_only_precisions = ("int4",)

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        if not _installed():
            return "onnxruntime-genai is not installed (pip install onnxruntime-genai==0.18.0)"
        return None

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        if config.mode != "inference" or config.scenario != GENERATE:
            return "onnxruntime_genai runs only the generate scenario"
        if config.hardware != "cpu":
            return f"this build of onnxruntime-genai runs on the cpu, not {config.hardware}"
        if config.precision not in PRECISIONS:
            return f"onnxruntime_genai's model builder makes fp32 and int4 models here, not {config.precision}"
        from ..catalog import resolve_model

        spec = resolve_model(config.model)
        if spec.gguf_file is None and spec.local_weights_dir() is None:
            return f"onnxruntime_genai builds from the model's weights; {config.model} has none here (random weights)"
        return None

    # ------------------------------------------------------------------ prepare / load

    def prepare(self) -> None:
        import onnxruntime_genai as og

        from ..catalog import resolve_model
        from .torch_backend import dequantized_gguf

        self.og = og
        cfg = self.config
        self.spec = resolve_model(cfg.model)
        self.gguf = self.spec.gguf_path()
        try:
            self.source = dequantized_gguf(self.gguf) if self.gguf is not None else self.spec.local_weights_dir()
        except Exception as exc:
            raise ConfigFailure("load_error", f"the model's weights: {type(exc).__name__}: {exc}") from exc
        if self.source is None:
            raise ConfigFailure("unavailable", f"no weights for {cfg.model} here")
        self.prompt_tokens, self.new_tokens = int(cfg.prompt_tokens or 0), int(cfg.new_tokens or 0)
        t0 = time.perf_counter()
        self.folder, self.cache = self._built()
        self.build_ms = (time.perf_counter() - t0) * 1e3

    def _built(self) -> tuple[Path, str]:
        """The builder's output folder for these weights and this precision (built once), and hit | miss."""
        entry = cache_entry(
            "onnxruntime-genai",
            model=self.config.model,
            weights=self.weights_sha256(),
            precision=self.config.precision,
            onnxruntime_genai=_og_version(),
        )
        if (entry / META_FILE).exists():
            return entry, "hit"

        def build(tmp: Path) -> None:
            cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(self.source), "-o", str(tmp)]
            cmd += ["-p", self.config.precision, "-e", "cpu", "-c", str(tmp / ".builder-cache")]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ConfigFailure("load_error", f"onnxruntime_genai model builder: {tail[0]}")
            import shutil

            shutil.rmtree(tmp / ".builder-cache", ignore_errors=True)
            (tmp / META_FILE).write_text('{"builder": "onnxruntime_genai.models.builder"}')

        write_entry(entry, build)
        return entry, "miss"

    def load(self) -> dict[str, Any]:
        import numpy as np
        import transformers

        og, cfg = self.og, self.config
        try:
            self.model = og.Model(str(self.folder))
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.source), local_files_only=True)
        except Exception as exc:
            raise ConfigFailure("load_error", f"{type(exc).__name__}: {exc}") from exc
        self.ids = np.asarray(prompt_token_ids(tokenizer, self.prompt_tokens, cfg.batch_size), dtype=np.int32)
        self.hf_config = transformers.AutoConfig.from_pretrained(str(self.source), local_files_only=True)
        params: dict[str, Any] = {
            "model_path": str(self.folder / "model.onnx"),
            "model_format": "onnx (onnxruntime_genai model builder)",
            "weights": "pretrained",
            "weights_executed": WEIGHTS_EXECUTED[cfg.precision],
            "converter": f"onnxruntime_genai.models.builder -p {cfg.precision} -e cpu",
            "genai_model_cache": self.cache,
            "build_ms": round(self.build_ms, 1),
            "tokenizer": "transformers.AutoTokenizer of the weights' folder",
            "token_timestamps": "ours: time.perf_counter() after each Generator.generate_next_token()",
            "og_version": _og_version(),
        }
        if self.gguf is not None:
            from .torch_backend import gguf_quant_type

            params["weights_format"] = f"gguf:{gguf_quant_type(self.gguf)}"
        return params

    # ------------------------------------------------------------------ the timed call

    def run(self) -> Any:
        return self.generate()

    def generate(self) -> GenerationTrace:
        og, clock = self.og, time.perf_counter
        batch, total = self.config.batch_size, self.prompt_tokens + self.new_tokens
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=total, min_length=total, do_sample=False, batch_size=batch)
        times: list[float] = []
        try:
            gen = og.Generator(self.model, params)
            t0 = clock()
            gen.append_tokens(self.ids)
            while not gen.is_done():
                gen.generate_next_token()
                times.append(clock())
            tokens = tuple(tuple(int(t) for t in gen.get_sequence(i)[self.prompt_tokens :]) for i in range(batch))
        except Exception as exc:
            raise ConfigFailure("runtime_error", f"generate: {type(exc).__name__}: {exc}") from exc
        return GenerationTrace(t0, tuple(times), tokens)

    def kv_cache_mb(self) -> float | None:
        return kv_cache_mb(self.hf_config, self.prompt_tokens + self.new_tokens, self.config.batch_size, 4)

    # ------------------------------------------------------------------ reporting

    def conditions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"og_version": _og_version()}
        with contextlib.suppress(AttributeError, OSError):
            out["cpus_allowed"] = len(os.sched_getaffinity(0))
        return out

    def output_dtype(self, out: Any) -> str:
        return "int32 (token ids)"

    def weights_sha256(self) -> str:
        if getattr(self, "gguf", None) is not None:
            return cached_file_sha256(self.gguf)
        from .torch_backend import _weights_file

        wfile = _weights_file(self.source) if getattr(self, "source", None) is not None else None
        return file_sha256(wfile) if wfile else ""

    def close(self) -> None:
        self.model = None
