"""Run ONE config in a fresh process: forked from a warm fork server (default), or
``python -m hwbench_mlflow.worker spec.json out.json`` (``--worker-start exec``).

The child writes either a result or a typed error record (atomically: temp file +
rename). The parent blocks on the child (no polling loop), enforces the timeout and
turns a crash or a kill by the OS into a categorised failure.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BenchmarkConfig, MeasureSettings
from .names import GENERATE
from .runtimes import RUNTIMES
from .worker_env import TUNED_MALLOC, WORKER_ENV, apply_tuned_malloc


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
    generations: list[dict[str, Any]] = field(default_factory=list)  # scenario generate: GenerationTrace records

    @classmethod
    def failed(cls, category: str, message: str, **kw: Any) -> WorkerOutcome:
        return cls("failed", category, " ".join(message.split())[:500], **kw)


def allocator_params(settings: MeasureSettings) -> dict[str, str]:
    preload = os.environ.get("LD_PRELOAD", "")
    name = "jemalloc" if "jemalloc" in preload else "tcmalloc" if "tcmalloc" in preload else "glibc"
    params = {"allocator": name, "malloc_settings": settings.malloc, "worker_start": settings.worker_start}
    if settings.malloc == "tuned" and name == "glibc":
        params.update({f"malloc_{k}": v for k, v in TUNED_MALLOC.items()})
    return params


def _classify_exit(returncode: int, stderr_tail: str) -> tuple[str, str]:
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        if -returncode == signal.SIGKILL:
            return "oom", "worker killed by SIGKILL (the kernel OOM killer is the usual cause)"
        return "runtime_error", f"worker killed by {sig}"
    last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no output"
    return "runtime_error", f"worker exited with code {returncode}: {last}"


_FORKSERVER: Any = None
_SERVER_LOG: Path | None = None  # the fork server's stderr: what a worker printed before its own log opened
PRELOAD_MODULE = "hwbench_mlflow.worker_preload"


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_hidden() -> Any:
    """The caller's ``__main__`` script hidden from multiprocessing while it starts a process.

    multiprocessing sends the main script's path to the fork server and to each worker,
    which run that script again first: a notebook saved as ``nb.py`` would start a second
    sweep in every worker, and ``python - < nb.py`` names ``<stdin>``, which cannot be
    opened. Workers run functions of this package, never the caller's ``__main__``.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        saved = main.__dict__.pop("__file__", None) if main is not None else None
        try:
            yield
        finally:
            if saved is not None:
                main.__dict__["__file__"] = saved  # type: ignore[union-attr]


@contextlib.contextmanager
def _stderr_to(log_path: Path) -> Any:
    """Our stderr file descriptor pointed at ``log_path`` (the fork server inherits it)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    stderr = os.dup(2)
    sys.stderr.flush()
    os.dup2(fd, 2)
    try:
        yield
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(fd)


# backend → the modules the fork server preloads for it (runtimes.Runtime.preload_modules)
RUNTIME_PRELOADS = {r.name: r.preload_modules for r in RUNTIMES if r.preload_modules}


def start_fork_server(backends: Sequence[str] | None = None) -> None:
    """Start the fork server now, preloading torch, transformers and the runtimes of
    ``backends`` (None: every installed one). It imports in its own process, so a caller
    that goes on importing MLflow and opening its store waits for neither; the first worker
    waits only for what is left. A later config on another runtime imports it itself."""
    chosen = RUNTIME_PRELOADS if backends is None else {b: RUNTIME_PRELOADS.get(b, ()) for b in backends}
    _forkserver([m for mods in chosen.values() for m in mods if importlib.util.find_spec(m) is not None])


def _forkserver(runtimes: Sequence[str] | None = None) -> Any:
    """The multiprocessing fork server, started once per process with the runtimes preloaded
    (``runtimes``: module names; None: every installed one)."""
    global _FORKSERVER, _SERVER_LOG
    if _FORKSERVER is None:
        import atexit
        import multiprocessing
        from multiprocessing import forkserver

        if runtimes is None:
            runtimes = [m for mods in RUNTIME_PRELOADS.values() for m in mods if importlib.util.find_spec(m)]
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([PRELOAD_MODULE, *runtimes])
        fd, name = tempfile.mkstemp(prefix="hwbench-forkserver-", suffix=".log")
        os.close(fd)
        _SERVER_LOG = Path(name)
        atexit.register(_SERVER_LOG.unlink, missing_ok=True)
        with _main_hidden(), _stderr_to(_SERVER_LOG):
            forkserver.ensure_running()
        _FORKSERVER = ctx
    return _FORKSERVER


def server_log_size() -> int:
    """Where the fork server's log ends now (a worker's early output starts past it)."""
    try:
        return _SERVER_LOG.stat().st_size if _SERVER_LOG else 0
    except OSError:
        return 0


def server_log_since(offset: int) -> str:
    """What the fork server and its workers printed past ``offset`` (before a worker's own log)."""
    if _SERVER_LOG is None:
        return ""
    try:
        with open(_SERVER_LOG, "rb") as f:
            f.seek(offset)
            return f.read(64_000).decode(errors="replace")
    except OSError:
        return ""


def process_peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of another process's resident set (VmHWM), in MiB; 0 if gone."""
    from .measure import peak_rss_mb

    return peak_rss_mb(pid)


@dataclass
class MemoryGuard:
    """Stops a worker whose peak resident memory passes ``limit_mb`` (polled from outside,
    from the kernel's high-water mark, so a short spike between polls is still seen)."""

    limit_mb: float
    why: str = "the memory limit"
    interval_s: float = 0.02
    peak_mb: float = 0.0

    def wait(self, pid: int, is_done: Callable[[float], bool], timeout_s: float) -> str:
        """Block until the worker ends (``done``), passes the limit (``memory``) or ``timeout``."""
        self.peak_mb = 0.0
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if is_done(min(self.interval_s, left)):
                return "done"
            self.peak_mb = max(self.peak_mb, process_peak_rss_mb(pid))
            if self.peak_mb > self.limit_mb:
                return "memory"


def _wait(pid: int, is_done: Callable[[float], bool], timeout_s: float, guard: MemoryGuard | None) -> str:
    if guard is None:
        return "done" if is_done(timeout_s) else "timeout"  # blocks on the child: no polling
    return guard.wait(pid, is_done, timeout_s)


_LIVE: dict[int, Any] = {}  # pid → process object of every worker running now (any thread)


def kill_live_workers() -> None:
    """End every worker still running (Ctrl-C while several run at once: --max-workers)."""
    for proc in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            proc.kill()


def _supervise(
    proc: Any, is_done: Callable[[float], bool], reap: Callable[[], Any], timeout_s: float, guard: MemoryGuard | None
) -> str:
    """Wait for the started worker ``proc`` (a Process or a Popen) as ``_wait`` does; kill and
    ``reap`` it when it did not end by itself, or on Ctrl-C (then the caller closes the runs)."""
    _LIVE[proc.pid] = proc
    try:
        ended = _wait(proc.pid, is_done, timeout_s, guard)
    except BaseException:
        proc.kill()
        reap()
        raise
    finally:
        _LIVE.pop(proc.pid, None)
    if ended != "done":
        proc.kill()
        reap()
    return ended


def run_in_worker(
    config: BenchmarkConfig,
    settings: MeasureSettings,
    guard: MemoryGuard | None = None,
    cpu_cores: tuple[int, ...] = (),
) -> WorkerOutcome:
    """Run ``config`` in a fresh process and return its outcome (never raises for the config).

    ``settings.worker_start``: ``forkserver`` (default) forks each worker from a server
    that has already imported torch and transformers (~0.2 s instead of ~3 s per config);
    ``exec`` starts ``python -m hwbench_mlflow.worker`` from scratch. Either way the
    worker is a new process with its own peak memory, and the parent blocks on it.
    With a ``guard``, a worker whose peak memory passes the guard's limit is killed and
    comes back as ``oom`` with the peak it had reached (``memory_peak_mb``).
    With ``cpu_cores``, the worker pins itself to those cores and sizes its thread pools to
    them before the runtime loads (``--max-workers``: concurrent configs on disjoint cores).
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwbench-") as tmp:
        spec, out, log = Path(tmp, "spec.json"), Path(tmp, "result.json"), Path(tmp, "worker.log")
        spec.write_text(
            json.dumps({"config": config.to_dict(), "settings": settings.to_dict(), "cpu_cores": list(cpu_cores)})
        )
        if settings.worker_start == "forkserver":
            proc = _forkserver().Process(target=child_entry, args=(str(spec), str(out), str(log)))
            early = server_log_size()
            with _main_hidden():
                proc.start()

            def forked_done(t: float) -> bool:
                proc.join(t)  # waits on the process sentinel
                return proc.exitcode is not None

            ended = _supervise(proc, forked_done, proc.join, settings.timeout_s, guard)
            returncode = proc.exitcode if ended == "done" else None
        else:
            env = {**os.environ, **WORKER_ENV}
            with open(log, "w") as logf:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "hwbench_mlflow.worker", str(spec), str(out)],
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    env=env,
                )

                def exec_done(t: float) -> bool:
                    try:
                        popen.wait(t)
                    except subprocess.TimeoutExpired:
                        return False
                    return True

                ended = _supervise(popen, exec_done, popen.wait, settings.timeout_s, guard)
                returncode = popen.returncode if ended == "done" else None
        wall = time.perf_counter() - start
        if ended == "memory":
            assert guard is not None
            return WorkerOutcome.failed(
                "oom",
                f"stopped by the memory guard: peak RSS {guard.peak_mb:.0f} MB passed {guard.why} "
                f"({guard.limit_mb:.0f} MB)",
                observed={"memory_peak_mb": guard.peak_mb},
                worker_wall_s=wall,
            )
        if returncode is None:
            return WorkerOutcome.failed(
                "timeout", f"no result within --timeout {settings.timeout_s:g} s", worker_wall_s=wall
            )
        if out.exists():
            outcome = WorkerOutcome(**json.loads(out.read_text()), worker_wall_s=wall)
            if outcome.status == "failed" and guard is not None and guard.peak_mb > 0:
                outcome.observed.setdefault("memory_peak_mb", guard.peak_mb)  # how far it got
            return outcome
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if not tail.strip() and settings.worker_start == "forkserver":  # died before its log opened
            tail = server_log_since(early)[-2000:]
        category, message = _classify_exit(returncode, tail)
        seen = {"memory_peak_mb": guard.peak_mb} if guard is not None and guard.peak_mb > 0 else {}
        return WorkerOutcome.failed(category, message, observed=seen, worker_wall_s=wall)


# ----------------------------------------------------------------------------- child side


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc)


def _measure(config: BenchmarkConfig, settings: MeasureSettings) -> dict[str, Any]:
    from .backends import get_backend_class
    from .errors import ConfigFailure
    from .host_load import HostLoadWindow
    from .measure import StopRule, peak_rss_mb, timed_loop

    cls = get_backend_class(config.backend)
    backend = cls(config)
    observed: dict[str, float] = {}
    generations: list[dict[str, Any]] = []
    stage = "load"
    generating, loop_peak_mb = config.scenario == GENERATE, 0.0
    try:
        backend.prepare()
        observed["memory_baseline_mb"] = peak_rss_mb()  # runtime imported, no model yet
        t0 = time.perf_counter()
        params = backend.load()
        backend.synchronize()
        observed["startup_ms"] = (time.perf_counter() - t0) * 1e3
        params["weights_sha256"] = backend.weights_sha256()
        stage = "run"
        t0 = time.perf_counter()
        out = backend.generate() if generating else backend.run()  # a generation: its warmup too
        backend.synchronize()
        observed["first_inference_ms"] = (time.perf_counter() - t0) * 1e3
        dtype = None if generating else backend.output_dtype(out)
        if dtype is not None:
            params["output_dtype"] = dtype
        del out
        for _ in range(0 if generating else settings.warmup):
            backend.run()
        backend.synchronize()
        energy0 = backend.energy_j()
        host = HostLoadWindow().start()
        rule = StopRule.from_settings(settings)
        loop = backend.throughput_loop(rule) if config.scenario == "throughput" else None
        if loop is None and config.scenario == "latency":
            loop = backend.latency_loop(rule)
        if generating:
            loop, traces = generation_loop(backend.generate, rule, config.batch_size, config.new_tokens or 1)
            generations = [t.to_record() for t in traces]
            loop_peak_mb = peak_rss_mb()  # not what follows: KV size, reference
            kv = backend.kv_cache_mb()
            if kv is not None:
                observed["kv_cache_mb"] = kv
            observed.update(_token_agreement(config, params, traces[-1].tokens))
        if loop is None:
            loop = timed_loop(backend.run, backend.synchronize, rule, config.batch_size)
            if config.scenario == "throughput":
                params.setdefault(
                    "throughput_mode", "sequential: one request at a time, the runtime parallelises inside it"
                )
        host.stop()
        energy1 = backend.energy_j()
        m = loop.measurement
        observed.update(host.metrics())
        observed["page_faults_minor_per_iter"] = loop.minor_faults / m.n
        if energy0 is not None and energy1 is not None:
            observed["energy_j_per_sample"] = (energy1 - energy0) / (m.n * config.batch_size)
        gpu = backend.device_memory_peak_mb()
        if gpu is not None:
            observed["gpu_memory_peak_mb"] = gpu
        params.update(backend.conditions())
        params.update(allocator_params(settings))
        own = backend.own_observations()
    except ConfigFailure:
        raise
    except Exception as exc:
        category = "oom" if _is_oom(exc) else ("load_error" if stage == "load" else "runtime_error")
        raise ConfigFailure(category, f"{type(exc).__name__}: {exc}") from exc
    finally:
        backend.close()
    observed["memory_peak_mb"] = loop_peak_mb if generating else peak_rss_mb()
    for key, value in own.items():  # what the runtime measured itself (a browser page) replaces the worker's view
        if value is None:
            observed.pop(key, None)
        else:
            observed[key] = value
    return {
        "status": "success",
        "params": params,
        "observed": observed,
        "samples_ms": list(m.samples_ms),
        "wall_s": m.wall_s,
        "stop_reason": loop.stop_reason,
        "ci_met": loop.ci_met,
        "generations": generations,
    }


def _token_agreement(config: BenchmarkConfig, params: dict[str, Any], tokens: Any) -> dict[str, float]:
    """The generation's tokens against torch fp32's (generation_reference), after the timed window;
    a reference that cannot be had is said in ``token_reference``, never a failed config."""
    from .generation_reference import REFERENCE, agreement, reference_tokens

    try:
        ref, source = reference_tokens(config, str(params.get("weights_sha256") or ""), tokens[0])
    except Exception as exc:
        params["token_reference"] = f"none: {type(exc).__name__}: {exc}"[:500]
        return {}
    params["token_reference"] = f"{REFERENCE}: {source}"
    return agreement(tokens, ref)


def generation_loop(generate: Callable[[], Any], rule: Any, batch_size: int, new_tokens: int) -> tuple[Any, list[Any]]:
    """The ``generate`` scenario's timed loop: ``generate()`` (one GenerationTrace) until the
    stop rule (measure.LoopWindow) holds on the end-to-end latencies (tN − t0 of each trace).

    The rule's sample minimum (LoadGen's, for the p99) counts tokens here: the ITL percentiles
    come from every token, so ``ceil(minimum / new_tokens)`` generations give it (TTFT's
    percentiles are flagged when the generations are few)."""
    import dataclasses
    import math

    from .measure import LoopWindow

    rule = dataclasses.replace(rule, min_samples=math.ceil(rule.min_samples / max(new_tokens, 1)))
    traces: list[Any] = []
    samples: list[float] = []
    with LoopWindow(rule) as window:
        start = time.perf_counter()
        while True:
            trace = generate()
            traces.append(trace)
            samples.append(trace.e2e_ms)
            if window.should_stop(samples, time.perf_counter() - start):
                break
        wall = time.perf_counter() - start
    return window.result(samples, batch_size, wall), traces


def pin_to_cores(cores: tuple[int, ...]) -> None:
    """This process (and the threads it starts) runs on ``cores`` only, with thread pools of
    that size: torch's (already imported in a forked worker) and OpenMP's (read at load)."""
    os.sched_setaffinity(0, cores)
    os.environ["OMP_NUM_THREADS"] = str(len(cores))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(len(cores))


def format_cores(cores: tuple[int, ...]) -> str:
    """(0, 1, 2, 5) → "0-2,5"."""
    out: list[str] = []
    for core in sorted(cores):
        if out and out[-1].split("-")[-1] == str(core - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{core}"
        else:
            out.append(str(core))
    return ",".join(out)


def split_cores(workers: int) -> list[tuple[int, ...]]:
    """The usable cores in ``workers`` disjoint, contiguous sets (sizes differ by one at most)."""
    from .errors import BadInputError

    usable = sorted(os.sched_getaffinity(0))
    if workers > len(usable):
        raise BadInputError(
            f"max_workers {workers} needs {workers} usable CPU cores (one per worker); this process may use "
            f"{len(usable)}",
            param="max_workers",
        )
    size, extra = divmod(len(usable), workers)
    sets, at = [], 0
    for i in range(workers):
        n = size + (i < extra)
        sets.append(tuple(usable[at : at + n]))
        at += n
    return sets


def child_entry(spec_path: str, out_path: str, log_path: str) -> None:
    """Forked-worker entry: output to the log file, allocator settings, then main()."""
    # What the fork server preloaded lives as long as this worker: out of the collector's
    # sight, so the gc.collect() before the timed window (measure.LoopWindow) does not walk
    # torch's and the runtimes' objects again (~0.2 s a config).
    gc.freeze()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    main([spec_path, out_path])


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    if spec["settings"].get("malloc") == "tuned":
        apply_tuned_malloc()
    config = BenchmarkConfig.from_dict(spec["config"])
    settings = MeasureSettings(**spec["settings"])
    cores = tuple(spec.get("cpu_cores") or ())
    if cores:
        pin_to_cores(cores)
    from .errors import ConfigFailure

    try:
        result = _measure(config, settings)
        if cores and result.get("status") == "success":
            result["params"]["cpu_cores"] = format_cores(cores)
            result["params"]["cpu_affinity_observed"] = format_cores(tuple(sorted(os.sched_getaffinity(0))))
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
