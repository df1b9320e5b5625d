"""The library's errors name its parameters (``BadInputError.param``); the CLI says its flags.

One table: parameter name → the flag that sets it. Sections by the modules that raise."""

from __future__ import annotations

PARAM_FLAGS = {
    # config / measure settings
    "warmup": "--warmup",
    "min_iterations": "--min-iterations",
    "min_time_s": "--min-time",
    "max_time_s": "--max-time",
    "timeout_s": "--timeout",
    "target_ci": "--target-ci",
    "malloc": "--malloc",
    "worker_start": "--worker-start",
    "seq_length": "--seq-length",
    "scenario": "--scenario",
    "prompt_tokens": "--prompt-tokens",
    "new_tokens": "--new-tokens",
    # runner / worker
    "max_workers": "--max-workers",
    # search (its timeout_s is --timeout too: in the config section)
    "max_batch": "--max-batch",
    "memory_limit_mb": "--memory-limit",
    "latency_limit_ms": "--latency-limit",
    "itl_limit_ms": "--itl-limit",
    "n_trials": "--n-trials",
    "repeats": "--repeats",
    "storage": "--storage",
    "study_name": "--study-name",
    "objective": "--objective",
    # tracking / mirror
    "db_path": "--db-path",
    "output": "--output",
    "recheck": "--recheck",
    # reporting (memory_limit_mb, output: above)
    "baseline": "--baseline",
    "baseline_path": "--compare-to",
    "baseline_sweep": "--baseline-sweep",
    "threshold": "--regression-alert",
    "latency": "--latency",
    "output_dir": "--output-dir",
}
