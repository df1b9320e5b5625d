"""What a sweep will measure: model selection, devices, the grid, and the checks made before any worker starts."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from . import names as N
from .backends import BACKEND_PLATFORMS, BACKENDS, GENERATE_ONLY, get_backend_class
from .catalog import CATALOG, DEFAULT_MODELS, ModelSpec, models_in_category, resolve_model
from .config import DEFAULT_BACKEND, BenchmarkConfig, default_backend, default_precision
from .errors import BadInputError
from .hardware import HardwareReport


def select_models(models: Iterable[str] = (), category: str | None = None, all_models: bool = False) -> list[ModelSpec]:
    """Resolve the user's model selection; no selection means the default sweep."""
    if category is not None and category not in N.CATEGORIES:
        raise BadInputError(f"unknown category '{category}'; choose from {', '.join(N.CATEGORIES)}")
    if all_models:
        specs = list(CATALOG.values())
    elif models:
        specs = [resolve_model(m) for m in models]
    elif category:
        specs = models_in_category(category)
    else:
        specs = [CATALOG[k] for k in DEFAULT_MODELS]
    if category:
        specs = [s for s in specs if s.category == category]
    if not specs:
        raise BadInputError(f"no model matches category '{category}'")
    return list(dict.fromkeys(specs))


def devices_for(platform: str, report: HardwareReport, backend: str = "") -> list[str]:
    """The devices a platform's configs run on: every OpenVINO device detected (CPU, GPU.0,
    NPU, ...) and every WebNN device type, the browser's ``wasm`` for onnxruntime-web on the
    CPU, the first device elsewhere; ``none`` when the platform is absent."""
    if backend == "onnxruntime-web" and platform == "cpu":
        return ["wasm"]
    info = report.get(platform)
    if not (info.available and info.devices):
        return ["none"]
    return list(info.devices) if platform in ("openvino", "webnn") else [info.devices[0]]


def default_platforms(report: HardwareReport) -> list[str]:
    """What a sweep without ``--hardware`` measures: every available platform except a WebGPU
    whose only adapter is software (SwiftShader: a CPU rasteriser, hundreds of times slower
    than the CPU itself); ``--hardware webgpu`` measures it all the same."""
    return [p.platform for p in report.platforms if p.available and p.details.get("device_kind") != "software"]


def build_plan(
    specs: Sequence[ModelSpec],
    hardware: Sequence[str] | None,
    backends: Sequence[str] | None,
    batch_sizes: Sequence[int],
    precisions: Sequence[str] | None,
    modes: Sequence[str],
    seq_length: int,
    report: HardwareReport,
    scenarios: Sequence[str] = ("latency",),
    every_backend: bool = False,
    prompt_tokens: Sequence[int] = (),
    new_tokens: Sequence[int] = (),
) -> list[BenchmarkConfig]:
    """The grid of configs, in a stable order; ``hardware=None`` means every available platform.

    Without ``backends``, each platform gets its own runtime for the scenario
    (``config.default_backend``: openvino_genai generates on openvino), or every runtime that
    executes on it when ``every_backend`` (``--all``). Without ``precisions``, each runtime runs
    its default (``config.default_precision``: fp32; openvino_genai int4). Scenario
    ``generate`` configs are one per (``prompt_tokens``, ``new_tokens``) pair after the batch.
    """
    for b in backends or ():
        if b not in BACKENDS:
            raise BadInputError(f"unknown backend '{b}'; choose from {', '.join(BACKENDS)}")
    if hardware is None:
        hardware = [p for p in default_platforms(report) if any(p in BACKEND_PLATFORMS[b] for b in BACKENDS)]
    plan = []
    for spec, hw, scenario in itertools.product(specs, hardware, scenarios):
        if backends:
            chosen = [b for b in backends if hw in BACKEND_PLATFORMS[b]]
        elif every_backend:
            chosen = [
                b
                for b, platforms in BACKEND_PLATFORMS.items()
                if hw in platforms and (scenario == N.GENERATE or b not in GENERATE_ONLY)
            ]
        else:
            chosen = [default_backend(hw, scenario)]
        if backends and not chosen:
            raise BadInputError(f"none of the backends {', '.join(backends)} runs on '{hw}'")
        pairs = [(b, d) for b in chosen for d in devices_for(hw, report, b)]
        for (backend, device), mode in itertools.product(pairs, modes):
            for precision, batch in itertools.product(precisions or [default_precision(backend)], batch_sizes):
                shapes = itertools.product(prompt_tokens, new_tokens) if scenario == N.GENERATE else [(None, None)]
                for prompt, new in shapes:
                    plan.append(
                        BenchmarkConfig(
                            spec.key, hw, backend, device, precision, batch, mode, scenario, seq_length, prompt, new
                        )
                    )
    return plan


DEFAULT_PROMPT_TOKENS = 128
DEFAULT_NEW_TOKENS = 64


def generation_shapes(
    specs: Sequence[ModelSpec],
    scenarios: Sequence[str],
    prompt_tokens: int | Sequence[int] | None,
    new_tokens: int | Sequence[int] | None,
) -> tuple[list[int], list[int]]:
    """The checked prompt and new token counts of a plan (defaults 128 and 64 for
    ``generate``; none for the other scenarios): every model generative, every length
    positive, prompt + new within each model's context."""
    lists = {}
    for param, value, default in (
        ("prompt_tokens", prompt_tokens, DEFAULT_PROMPT_TOKENS),
        ("new_tokens", new_tokens, DEFAULT_NEW_TOKENS),
    ):
        given = [value] if isinstance(value, int) else list(value or ())
        if given and N.GENERATE not in scenarios:
            raise BadInputError(f"{param} needs scenario 'generate'", param=param, params=("scenario",))
        for v in given:
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadInputError(f"{param}: '{v}' is not an integer", param=param)
            if v < 1:
                raise BadInputError(f"{param} must be >= 1, got {v}", param=param)
        lists[param] = list(dict.fromkeys(given)) or ([default] if N.GENERATE in scenarios else [])
    prompts, news = lists["prompt_tokens"], lists["new_tokens"]
    if N.GENERATE in scenarios:
        for spec in specs:
            if not spec.generative:
                can = ", ".join(k for k, s in CATALOG.items() if s.generative)
                raise BadInputError(
                    f"scenario 'generate' needs a model that generates (a causal LM); {spec.key} does not "
                    f"(catalog models that do: {can})",
                    param="scenario",
                )
            limit = spec.max_text_length
            if limit and max(prompts) + max(news) > limit:
                raise BadInputError(
                    f"prompt_tokens + new_tokens = {max(prompts)} + {max(news)} exceeds {spec.key}'s context of "
                    f"{limit} tokens",
                    param="prompt_tokens",
                    params=("new_tokens",),
                )
    return prompts, news


def precheck(config: BenchmarkConfig, report: HardwareReport) -> tuple[str, str] | None:
    """(category, reason) when a config cannot run here, decided before any worker starts."""
    info = report.get(config.hardware)
    if not info.available:
        return "unavailable", f"{config.hardware} is not available on this host: {info.reason}"
    if config.backend not in BACKENDS:
        return "unsupported", f"no '{config.backend}' backend for {config.hardware} in this version of hwbench"
    try:
        backend_cls = get_backend_class(config.backend)
    except ImportError as exc:  # a runtime that is not installed is a reason, not a crash
        return "unavailable", f"the {config.backend} backend cannot load here: {exc}"
    if config.scenario == N.GENERATE and not backend_cls.generates:
        return "unsupported", f"no generation loop for {config.backend} yet"
    if config.precision in N.WEIGHT_ONLY_PRECISIONS and config.precision not in backend_cls.weight_only_precisions:
        return "unsupported", (
            f"{config.precision} is weight-only (a GGUF's 4-bit weights, scenario generate): "
            "openvino_genai runs it, not " + config.backend
        )
    missing = backend_cls.unavailable(config)
    if missing:
        return "unavailable", missing
    reason = backend_cls.check(config, report)
    return ("unsupported", reason) if reason else None


# ----------------------------------------------------------------------------- argument helpers


def as_list(value: str | Sequence[Any] | None) -> list[Any]:
    """``"a"`` → ``["a"]``; a sequence → a list; None → ``[]``."""
    return [value] if isinstance(value, str) else list(value or ())


def backends_asked(
    hardware: str | Sequence[str] | None,
    backend: str | Sequence[str] | None,
    every_backend: bool = False,
    scenarios: str | Sequence[str] = (),
) -> list[str] | None:
    """The backends a selection can use, known before hardware detection (for what the worker
    fork server preloads); None when it can be any (no --hardware, or every backend)."""
    if backend:
        return as_list(backend)
    if not hardware or every_backend:
        return None
    wanted = as_list(scenarios) or ["latency"]
    return sorted({default_backend(h, s) for h in as_list(hardware) for s in wanted if h in DEFAULT_BACKEND})
