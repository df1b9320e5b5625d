"""Whether a runtime generates the right tokens: every generate config against torch fp32.

The reference is torch's greedy generation in fp32 on the CPU (for a GGUF: its exact
dequantization) of the same prompt and length: computed once per (model, weights, prompt
tokens, new tokens) in a separate process (``python -m hwbench_mlflow.generation_reference``,
outside the timed window and outside the worker's memory peak) and cached on disk under the
model cache (``generation-reference/``). A torch fp32 CPU config is the reference itself and
stores its own tokens. Two metrics say how far a config follows it:

* ``first_token_agreement`` — the share of the batch's sequences whose first new token is the
  reference's (1.0: all; the prompt decides it, so a wrong runtime shows here first);
* ``agreeing_prefix_tokens`` — the fewest leading tokens any sequence shares with the reference
  (``new_tokens``: the whole generation agrees). Greedy decoding amplifies one different argmax
  into a different continuation, so a lower-precision runtime parts from it after a while; a
  runtime that parts at once computes something else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import names as N
from .config import BenchmarkConfig

REFERENCE = "torch fp32 cpu, greedy"
TIMEOUT_S = 900.0  # a first reference may dequantize a GGUF (~20 s here) and load transformers


def reference_config(config: BenchmarkConfig) -> BenchmarkConfig:
    """The config whose tokens are the reference: torch, CPU, fp32, batch 1, same prompt and length."""
    return replace(config, hardware="cpu", backend="torch", device="cpu", precision="fp32", batch_size=1)


def is_reference(config: BenchmarkConfig) -> bool:
    return (config.hardware, config.backend, config.precision) == ("cpu", "torch", "fp32")


def _entry(config: BenchmarkConfig, weights_sha256: str) -> Path:
    from .backends.model_cache import cache_entry

    return cache_entry(
        "generation-reference",
        model=config.model,
        weights=weights_sha256 or "random (seed 0)",
        prompt_tokens=config.prompt_tokens,
        new_tokens=config.new_tokens,
        seq="v1",
    )


def _store(entry: Path, tokens: Sequence[int]) -> None:
    from .backends.model_cache import META_FILE, write_entry

    def build(tmp: Path) -> None:
        (tmp / "tokens.json").write_text(json.dumps([int(t) for t in tokens]))
        (tmp / META_FILE).write_text(json.dumps({"reference": REFERENCE}))

    write_entry(entry, build)


def _cached(entry: Path) -> list[int] | None:
    try:
        return [int(t) for t in json.loads((entry / "tokens.json").read_text())]
    except (OSError, ValueError):
        return None


def reference_tokens(config: BenchmarkConfig, weights_sha256: str, own: Sequence[int]) -> tuple[list[int], str]:
    """The reference's tokens for ``config`` and where they came from; ``own``: the config's first
    sequence (stored as the reference when the config is torch fp32 on the CPU)."""
    entry = _entry(config, weights_sha256)
    cached = _cached(entry)
    if is_reference(config):
        if cached is None:
            _store(entry, own)
        return list(own), "this run (it is the reference)"
    if cached is not None:
        return cached, f"cached ({entry})"
    ref = reference_config(config)
    cmd = [sys.executable, "-m", "hwbench_mlflow.generation_reference", json.dumps(ref.to_dict())]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the torch fp32 reference failed: {tail[0]}")
    tokens = [int(t) for t in json.loads(done.stdout.strip().splitlines()[-1])]
    _store(entry, tokens)
    return tokens, "computed in a separate process (torch fp32, cpu)"


def agreeing_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two sequences share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def agreement(tokens: Sequence[Sequence[int]], reference: Sequence[int]) -> dict[str, float]:
    """``first_token_agreement`` and ``agreeing_prefix_tokens`` of a batch's sequences against the reference."""
    if not tokens or not reference:
        return {}
    return {
        N.M_FIRST_TOKEN_AGREEMENT: sum(1 for s in tokens if s and s[0] == reference[0]) / len(tokens),
        N.M_AGREEING_PREFIX: float(min(agreeing_prefix(s, reference) for s in tokens)),
    }


def _main(argv: list[str]) -> int:
    """Generate the reference once and print its token ids as JSON (the last stdout line)."""
    from .backends.torch_backend import TorchBackend

    config = BenchmarkConfig.from_dict(json.loads(argv[0]))
    backend = TorchBackend(config)
    backend.prepare()
    backend.load()
    trace: Any = backend.generate()
    backend.close()
    print(json.dumps(list(trace.tokens[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
