"""Environment and allocator settings every worker runs under (imports only the core)."""

from __future__ import annotations

from .hardware import decline_vendor_telemetry  # lives in the core (detection declines too); kept importable here

__all__ = ["TUNED_MALLOC", "WORKER_ENV", "apply_tuned_malloc", "decline_vendor_telemetry"]

# Offline and quiet: no hub access at run time, no tokenizer threads.
WORKER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
    "TRANSFORMERS_VERBOSITY": "error",
}

# glibc settings for --malloc tuned (the default): raising the mmap and trim thresholds
# stops glibc from returning and re-faulting large activation buffers on every
# iteration (bert-tiny b8: ~2,100 minor page faults per forward with the defaults,
# ~3 tuned). 32 MiB is glibc's largest accepted mmap threshold on 64-bit.
TUNED_MALLOC = {"mmap_threshold": 32 * 2**20, "trim_threshold": 1024 * 2**20, "top_pad": 64 * 2**20}
_MALLOPT = {"trim_threshold": -1, "top_pad": -2, "mmap_threshold": -3}  # M_* constants from malloc.h


def apply_tuned_malloc() -> bool:
    """Apply TUNED_MALLOC through glibc's mallopt in this process; False where not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(_MALLOPT[k], v) == 1 for k, v in TUNED_MALLOC.items())
