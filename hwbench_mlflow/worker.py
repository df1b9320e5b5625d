"""Run ONE config in a fresh process: ``python -m hwbench_mlflow.worker spec.json out.json``.

The child writes either a result or a typed error record (atomically: temp file +
rename). The parent blocks on the child (no polling loop), enforces the timeout and
turns a crash or a kill by the OS into a categorised failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BenchmarkConfig, MeasureSettings

# glibc settings for the worker when --malloc tuned (the default): raising the mmap and
# trim thresholds stops glibc from returning and re-faulting large activation buffers
# on every iteration (bert-tiny b8: ~2,100 minor page faults per forward with the
# defaults). 32 MiB is glibc's largest accepted mmap threshold on 64-bit.
TUNED_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 2**20),
    "MALLOC_TOP_PAD_": str(64 * 2**20),
}
WORKER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
    "TRANSFORMERS_VERBOSITY": "error",
}


@dataclass
class WorkerOutcome:
    """What came back from one worker: raw observations, never derived statistics."""

    status: str  # success | failed
    error_category: str = ""
    error_message: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, float] = field(default_factory=dict)  # startup_ms, memory_peak_mb, ...
    samples_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    stop_reason: str = ""
    ci_met: bool = False
    worker_wall_s: float = 0.0

    @classmethod
    def failed(cls, category: str, message: str, **kw: Any) -> WorkerOutcome:
        return cls("failed", category, " ".join(message.split())[:500], **kw)


def allocator_params(settings: MeasureSettings) -> dict[str, str]:
    preload = os.environ.get("LD_PRELOAD", "")
    name = "jemalloc" if "jemalloc" in preload else "tcmalloc" if "tcmalloc" in preload else "glibc"
    params = {"allocator": name, "malloc_settings": settings.malloc}
    if settings.malloc == "tuned" and name == "glibc":
        params.update({k.strip("_").lower(): v for k, v in TUNED_MALLOC_ENV.items()})
    return params


def _classify_exit(returncode: int, stderr_tail: str) -> tuple[str, str]:
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        if -returncode == signal.SIGKILL:
            return "oom", "worker killed by SIGKILL (the kernel OOM killer is the usual cause)"
        return "runtime_error", f"worker killed by {sig}"
    last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no output"
    return "runtime_error", f"worker exited with code {returncode}: {last}"


def run_in_worker(config: BenchmarkConfig, settings: MeasureSettings) -> WorkerOutcome:
    """Run ``config`` in a fresh subprocess and return its outcome (never raises for the config)."""
    env = {**os.environ, **WORKER_ENV}
    if settings.malloc == "tuned":
        env.update(TUNED_MALLOC_ENV)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwbench-") as tmp:
        spec, out = Path(tmp, "spec.json"), Path(tmp, "result.json")
        spec.write_text(json.dumps({"config": config.to_dict(), "settings": settings.to_dict()}))
        proc = subprocess.Popen([sys.executable, "-m", "hwbench_mlflow.worker", str(spec), str(out)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env, text=True, errors="replace")
        try:
            _, stderr = proc.communicate(timeout=settings.timeout_s)  # blocks in select(): no spinning
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return WorkerOutcome.failed("timeout", f"no result within --timeout {settings.timeout_s:g} s",
                                        worker_wall_s=time.perf_counter() - start)
        except BaseException:  # Ctrl-C: end the child, then let the caller close the runs
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        if out.exists():
            data = json.loads(out.read_text())
            return WorkerOutcome(**data, worker_wall_s=wall)
        category, message = _classify_exit(proc.returncode, stderr[-2000:])
        return WorkerOutcome.failed(category, message, worker_wall_s=wall)


# ----------------------------------------------------------------------------- child side


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc)


def _measure(config: BenchmarkConfig, settings: MeasureSettings) -> dict[str, Any]:
    from .backends import get_backend_class
    from .errors import ConfigFailure
    from .measure import StopRule, peak_rss_mb, timed_loop

    cls = get_backend_class(config.backend)
    backend = cls(config)
    observed: dict[str, float] = {}
    stage = "load"
    try:
        backend.prepare()
        observed["memory_baseline_mb"] = peak_rss_mb()  # runtime imported, no model yet
        t0 = time.perf_counter()
        params = backend.load()
        backend.synchronize()
        observed["startup_ms"] = (time.perf_counter() - t0) * 1e3
        if hasattr(backend, "weights_sha256"):
            params["weights_sha256"] = backend.weights_sha256()
        stage = "run"
        t0 = time.perf_counter()
        out = backend.run()
        backend.synchronize()
        observed["first_inference_ms"] = (time.perf_counter() - t0) * 1e3
        if hasattr(backend, "output_dtype"):
            params["output_dtype"] = backend.output_dtype(out)
        del out
        for _ in range(settings.warmup):
            backend.run()
        backend.synchronize()
        energy0 = backend.energy_j()
        loop = timed_loop(backend.run, backend.synchronize, StopRule.from_settings(settings), config.batch_size)
        energy1 = backend.energy_j()
        m = loop.measurement
        observed["page_faults_minor_per_iter"] = loop.minor_faults / m.n
        if energy0 is not None and energy1 is not None:
            observed["energy_j_per_sample"] = (energy1 - energy0) / (m.n * config.batch_size)
        gpu = backend.device_memory_peak_mb()
        if gpu is not None:
            observed["gpu_memory_peak_mb"] = gpu
        params.update(backend.conditions())
        params.update(allocator_params(settings))
    except ConfigFailure:
        raise
    except Exception as exc:
        category = "oom" if _is_oom(exc) else ("load_error" if stage == "load" else "runtime_error")
        raise ConfigFailure(category, f"{type(exc).__name__}: {exc}") from exc
    finally:
        backend.close()
    observed["memory_peak_mb"] = peak_rss_mb()
    return {
        "status": "success",
        "params": params,
        "observed": observed,
        "samples_ms": list(m.samples_ms),
        "wall_s": m.wall_s,
        "stop_reason": loop.stop_reason,
        "ci_met": loop.ci_met,
    }


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    config = BenchmarkConfig.from_dict(spec["config"])
    settings = MeasureSettings(**spec["settings"])
    from .errors import ConfigFailure

    try:
        result = _measure(config, settings)
    except ConfigFailure as exc:
        result = {"status": "failed", "error_category": exc.category, "error_message": exc.message}
    except Exception as exc:  # import errors and the like
        result = {"status": "failed", "error_category": "load_error", "error_message": f"{type(exc).__name__}: {exc}"}
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
