"""The naming contract every module agrees on (DESIGN.md): params, metrics, tags, enums.

Keep this module import-free: the CLI reads it before anything heavy is loaded.
"""

from __future__ import annotations

# --- enums -------------------------------------------------------------------
PLATFORMS = ("cpu", "cuda", "rocm", "mps", "openvino", "qnn", "webnn", "webgpu")
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int4")
# Weight-only: the weights stored in 4 bits, the arithmetic in f32 (a GGUF's Q4 blocks run as they are
# by openvino_genai; scenario generate only). No forward-pass backend runs them (plan.precheck).
WEIGHT_ONLY_PRECISIONS = ("int4",)
DEFAULT_PRECISION = "fp32"  # what a config runs when none is asked, unless its runtime runs one precision only
MODES = ("inference", "training")
SCENARIOS = ("latency", "throughput", "generate")
GENERATE = "generate"  # LLM generation: prompt_tokens in, exactly new_tokens out per sequence (generation.py)
CATEGORIES = ("text", "vision", "audio", "multimodal")
STATUSES = ("success", "failed", "skipped")
ERROR_CATEGORIES = ("oom", "unsupported", "unavailable", "load_error", "runtime_error", "timeout")
E_INTERRUPTED = "interrupted"  # a sweep / search run (and its open configs) whose process is gone: orphans.py

# --- MLflow params (one run = one config) -------------------------------------
CONFIG_PARAMS = (
    "model",
    "model_name",
    "model_path",
    "category",
    "hardware",
    "hardware_name",
    "device",
    "backend",
    "precision",
    "batch_size",
    "mode",
    "scenario",
    "input_shape",
)

# --- MLflow metrics (units in the name) ---------------------------------------
M_THROUGHPUT = "throughput_samples_per_s"
M_LAT_MEAN = "latency_mean_ms"
M_LAT_P50 = "latency_p50_ms"
M_LAT_P90 = "latency_p90_ms"
M_LAT_P95 = "latency_p95_ms"
M_LAT_P99 = "latency_p99_ms"
M_LAT_MIN = "latency_min_ms"
M_LAT_MAX = "latency_max_ms"
M_LAT_STD = "latency_std_ms"
M_MEMORY_PEAK = "memory_peak_mb"
M_GPU_MEMORY_PEAK = "gpu_memory_peak_mb"
M_STARTUP = "startup_ms"
M_FIRST_INFERENCE = "first_inference_ms"
M_ITERATIONS = "iterations"
M_DURATION = "duration_s"
M_ENERGY = "energy_j_per_sample"
CONTRACT_METRICS = (
    M_THROUGHPUT,
    M_LAT_MEAN,
    M_LAT_P50,
    M_LAT_P90,
    M_LAT_P95,
    M_LAT_P99,
    M_LAT_MIN,
    M_LAT_MAX,
    M_LAT_STD,
    M_MEMORY_PEAK,
    M_STARTUP,
    M_FIRST_INFERENCE,
    M_ITERATIONS,
    M_DURATION,
)
# Additions beyond the contract (documented in the README).
M_CI_LOW = "latency_p50_ci_low_ms"
M_CI_HIGH = "latency_p50_ci_high_ms"
M_PAGE_FAULTS = "page_faults_minor_per_iter"
M_MEMORY_BASELINE = "memory_baseline_mb"
# what else ran on the host during the timed window (host_load.py)
M_HOST_OTHER_CPU = "host_other_cpu_pct"
M_HOST_STEAL = "host_steal_pct"
M_HOST_LOADAVG_START = "host_loadavg_start"
M_HOST_LOADAVG_END = "host_loadavg_end"
# the generate scenario (generation.py): per-token timings of greedy generations
M_TTFT_P50 = "ttft_p50_ms"
M_TTFT_P90 = "ttft_p90_ms"
M_TTFT_P99 = "ttft_p99_ms"
M_TTFT_MEAN = "ttft_mean_ms"
M_TPOT_MEAN = "tpot_mean_ms"
M_ITL_P50 = "itl_p50_ms"
M_ITL_P90 = "itl_p90_ms"
M_ITL_P99 = "itl_p99_ms"
M_PREFILL_TPS = "prefill_tokens_per_s"
M_DECODE_TPS = "decode_tokens_per_s"
M_OUTPUT_TPS = "output_tokens_per_s"
M_KV_CACHE = "kv_cache_mb"
M_TOKENS_GENERATED = "tokens_generated"  # the fewest new tokens of any sequence: = new_tokens when all went right
# against torch fp32's greedy tokens for the same prompt (generation_reference.py)
M_FIRST_TOKEN_AGREEMENT = "first_token_agreement"  # share of the batch's sequences whose first token agrees
M_AGREEING_PREFIX = "agreeing_prefix_tokens"  # the fewest leading tokens any sequence shares with it
GENERATION_METRICS = (
    M_TTFT_P50,
    M_TTFT_P90,
    M_TTFT_P99,
    M_TTFT_MEAN,
    M_TPOT_MEAN,
    M_ITL_P50,
    M_ITL_P90,
    M_ITL_P99,
    M_PREFILL_TPS,
    M_DECODE_TPS,
    M_OUTPUT_TPS,
    M_KV_CACHE,
    M_TOKENS_GENERATED,
    M_FIRST_TOKEN_AGREEMENT,
    M_AGREEING_PREFIX,
)
GENERATION_PARAMS = ("prompt_tokens", "new_tokens", "decoding")

# --- the memory that counts ---------------------------------------------------------
# Device memory on GPUs (the worker's peak RSS says little there), the peak RSS elsewhere.
GPU_MEMORY_PLATFORMS = ("cuda", "rocm")


def memory_metric(hardware: str) -> str:
    """The metric a platform's memory is judged by: device memory on GPUs, peak RSS elsewhere."""
    return M_GPU_MEMORY_PEAK if hardware in GPU_MEMORY_PLATFORMS else M_MEMORY_PEAK


# The same rule as a SQL expression over a results row (``hardware`` and both metric columns),
# falling back to the peak RSS where a GPU run logged no device memory.
MEMORY_MB_SQL = (
    f"CASE WHEN hardware IN ({', '.join(repr(p) for p in GPU_MEMORY_PLATFORMS)})"
    f" AND {M_GPU_MEMORY_PEAK} IS NOT NULL THEN {M_GPU_MEMORY_PEAK} ELSE {M_MEMORY_PEAK} END"
)

# --- MLflow tags ----------------------------------------------------------------
TAG_PREFIX = "hwbench."
T_STATUS = "hwbench.status"
T_ERROR_CATEGORY = "hwbench.error_category"
T_ERROR_MESSAGE = "hwbench.error_message"
T_IS_SIMULATED = "hwbench.is_simulated"
T_SIMULATION_REASON = "hwbench.simulation_reason"
T_WEIGHTS = "hwbench.weights"
T_DEVICE_KIND = "hwbench.device_kind"  # gpu | software | cpu: what really ran a web platform
T_WEIGHTS_SHA256 = "hwbench.weights_sha256"
T_HOST = "hwbench.host"
T_OWNER_PID = "hwbench.owner_pid"  # the process that opened a sweep / search run (orphans.py)
T_OWNER_STARTED = "hwbench.owner_started"  # that process's start time: a reused pid is not the owner
T_SWEEP_ID = "hwbench.sweep_id"
T_SHARED_HOST = "hwbench.shared_host"  # true: ran beside other configs (--max-workers)
T_RUN_UID = "hwbench.run_uid"  # written once: an outbox replay completes this run, never doubles it
T_ROLE = "hwbench.role"  # sweep | search | config | sync | recommend
T_STOP_REASON = "hwbench.stop_reason"
T_CI_MET = "hwbench.ci_target_met"
T_PROCESS = "hwbench.process"  # the process conditions in words: worker start, allocator, threads
T_HOST_CONTENDED = "hwbench.host_contended"  # true: other processes or steal past host_load's threshold
T_PERCENTILE_METHOD = "hwbench.percentile_method"
T_PERCENTILE_WARNING = "hwbench.percentile_warning"
T_VERSION_PREFIX = "hwbench.version."
T_HW_PREFIX = "hwbench.hw."
# hwbench search: on each trial's run and on the search's parent run
T_STUDY_NAME = "hwbench.study_name"
T_TRIAL_NUMBER = "hwbench.trial_number"
T_FEASIBLE = "hwbench.feasible"
T_SEARCH_OUTCOME = "hwbench.search.outcome"  # found | nothing_fits | no_result
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_RUN_NOTE = "mlflow.note.content"

# --- artifacts --------------------------------------------------------------------
A_RAW_SAMPLES = "raw_latencies_ms.json"
A_HARDWARE = "hardware.json"
A_RESULTS = "results.json"
A_SEARCH = "search.json"
A_RECOMMENDATIONS = "recommendations.json"

DEFAULT_EXPERIMENT = "hwbench"
OUTPUT_EXPERIMENT = "hwbench-outputs"  # recommend / compare / analyze / visualize / report records: not benchmark runs
