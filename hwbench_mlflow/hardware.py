"""Detection of the hardware that is *really* present, each platform with a reason when not.

Nothing here honours an environment override: a platform is available only when the
runtime that would execute on it says so.
"""

from __future__ import annotations

import importlib.util
import os
import platform as _platform
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .names import PLATFORMS

# CPU feature flags that decide whether a precision runs natively.
CPU_FLAGS_OF_INTEREST = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "avx_vnni",
)


def decline_vendor_telemetry() -> None:
    """Decline OpenVINO's and NNCF's usage telemetry in this process, before they load.

    Both send an event to Google Analytics on import unless the user declined it once or
    ``CI=true``: a network call at run time, made from a ``multiprocessing`` child that a
    background thread forks. Inside the worker fork server that child is reaped by the
    server's own ``waitpid(-1)`` ("forkserver: waitpid returned unexpected pid"). Declining
    here (their consent check answers "declined") sends nothing and forks nothing; the
    user's consent file is not touched.
    """
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED  # type: ignore[method-assign]


@dataclass(frozen=True)
class PlatformInfo:
    """One platform's detection result."""

    platform: str
    available: bool
    name: str = ""
    devices: tuple[str, ...] = ()
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["devices"] = list(self.devices)
        return d


@dataclass(frozen=True)
class HardwareReport:
    host: str
    platforms: tuple[PlatformInfo, ...]

    def get(self, platform: str) -> PlatformInfo:
        for p in self.platforms:
            if p.platform == platform:
                return p
        raise KeyError(platform)

    def available(self) -> list[str]:
        return [p.platform for p in self.platforms if p.available]

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "platforms": [p.to_dict() for p in self.platforms]}


def _cpu() -> PlatformInfo:
    import psutil

    model = _platform.processor() or _platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", _platform.machine(), "x86_64"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                if flags and model not in ("", "x86_64"):
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    details = {
        "physical_cores": psutil.cpu_count(logical=False) or 0,
        "logical_cores": psutil.cpu_count(logical=True) or 0,
        "usable_cores": usable,
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20),
        "arch": _platform.machine(),
        "flags": [f for f in CPU_FLAGS_OF_INTEREST if f in flags],
    }
    return PlatformInfo("cpu", True, model, ("cpu",), "", details)


def _torch_build() -> dict[str, Any]:
    """torch's ``version.py`` (``__version__``, ``cuda``, ``hip``) read without importing torch
    (~2 s): a CPU-only build is told apart before any import."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return {}
    namespace: dict[str, Any] = {}
    try:
        path = Path(next(iter(spec.submodule_search_locations))) / "version.py"
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    except (OSError, SyntaxError, StopIteration):
        import torch  # an unusual install: ask the package itself

        return {"__version__": torch.__version__, "cuda": torch.version.cuda, "hip": torch.version.hip}
    return namespace


def _torch_gpu(kind: str) -> PlatformInfo:
    build = _torch_build()
    if not build:
        return PlatformInfo(kind, False, reason="torch is not installed")
    hip, cuda_build, version = build.get("hip"), build.get("cuda"), build.get("__version__", "?")
    if kind == "cuda" and not cuda_build:
        why = "torch build is for ROCm" if hip else f"torch {version} is a CPU-only build"
        return PlatformInfo(kind, False, reason=why)
    if kind == "rocm" and not hip:
        return PlatformInfo(kind, False, reason=f"torch {version} has no ROCm/HIP support")
    import torch

    if not torch.cuda.is_available():
        return PlatformInfo(kind, False, reason="no GPU visible to torch (no device or driver)")
    n = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    details: dict[str, Any] = {
        "device_count": n,
        "memory_total_mb": round(props.total_memory / 2**20),
        "capability": f"{props.major}.{props.minor}",
        "runtime": hip or cuda_build,
        "driver": _nvidia_driver() if kind == "cuda" else "",
        "bf16_supported": bool(torch.cuda.is_bf16_supported()),
    }
    return PlatformInfo(kind, True, props.name, tuple(f"cuda:{i}" for i in range(n)), "", details)


def _nvidia_driver() -> str:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _mps() -> PlatformInfo:
    if _platform.system() != "Darwin":
        return PlatformInfo("mps", False, reason=f"MPS needs macOS on Apple silicon (this is {_platform.system()})")
    if importlib.util.find_spec("torch") is None:
        return PlatformInfo("mps", False, reason="torch is not installed")
    import torch

    if not torch.backends.mps.is_available():
        return PlatformInfo("mps", False, reason="torch reports MPS unavailable")
    return PlatformInfo("mps", True, "Apple MPS", ("mps",))


def _openvino() -> PlatformInfo:
    if importlib.util.find_spec("openvino") is None:
        return PlatformInfo("openvino", False, reason="the openvino package is not installed")
    decline_vendor_telemetry()  # detection must not phone home
    import openvino as ov

    devices = tuple(ov.Core().available_devices)
    if not devices:
        return PlatformInfo("openvino", False, reason="OpenVINO found no device")
    return PlatformInfo("openvino", True, f"OpenVINO {ov.__version__}", devices, "", {"version": ov.__version__})


def _qnn() -> PlatformInfo:
    if importlib.util.find_spec("onnxruntime") is None:
        return PlatformInfo("qnn", False, reason="onnxruntime (with the QNN execution provider) is not installed")
    import onnxruntime as ort

    if "QNNExecutionProvider" not in ort.get_available_providers():
        return PlatformInfo("qnn", False, reason="onnxruntime has no QNNExecutionProvider (Qualcomm AI SDK absent)")
    return PlatformInfo("qnn", True, "Qualcomm QNN", ("QNN",))


def _web(kind: str) -> PlatformInfo:
    """webgpu / webnn as the browsers here really provide them (each browser's feature test runs)."""
    from . import browsers

    if browsers.ort_dist() is None:
        return PlatformInfo(kind, False, reason=f"onnxruntime-web is not installed: {browsers.INSTALL_HINT}")
    found = browsers.detect_browsers()
    if not found:
        return PlatformInfo(kind, False, reason=f"no Chromium found: {browsers.INSTALL_HINT}")
    seen = [
        {
            "browser": b.name,
            "version": b.version,
            "path": b.path,
            "devices": b.devices(kind),
            "reason": "" if b.provides(kind) else b.why_not(kind),
        }
        for b in found
    ]
    providers = browsers.providers(kind)  # a real GPU first: the first device is the one a sweep plans
    devices = list(dict.fromkeys(d for b in providers for d in b.devices(kind)))
    details: dict[str, Any] = {"browsers": seen}
    name = ""
    if kind == "webgpu" and devices:
        adapter = providers[0].probe["webgpu"]
        details["device_kind"] = browsers.device_kind(adapter)
        details["adapter"] = {k: adapter.get(k, "") for k in ("vendor", "architecture", "description")}
        details["is_fallback_adapter"] = bool(adapter.get("is_fallback_adapter"))
        name = f"WebGPU {adapter.get('vendor', '')} {adapter.get('architecture', '')} ({details['device_kind']})"
    if kind == "webnn" and devices:
        # a context for gpu/npu is created even where no such device exists (Chromium's Linux
        # WebNN runs every device type through TFLite on the CPU): plan only what is really here
        real_gpu = any(b.provides("webgpu") and browsers.device_kind(b.probe["webgpu"]) == "gpu" for b in found)
        dropped = [d for d in devices if d == "npu" or (d == "gpu" and not real_gpu)]
        devices = [d for d in devices if d not in dropped]
        if dropped:
            details["not_planned"] = (
                f"{', '.join(dropped)}: the browser creates the context, but this host has no such device "
                "(Chromium's Linux WebNN runs it on the CPU)"
            )
        name = "WebNN (" + ", ".join(b.name for b in found if b.provides("webnn")) + ")"
    if not devices:
        why = "; ".join(f"{s['browser']}: {s['reason'] or 'not provided'}" for s in seen)
        return PlatformInfo(kind, False, reason=why, details=details)
    return PlatformInfo(kind, True, name, tuple(devices), "", details)


_DETECTORS = {
    "cpu": _cpu,
    "cuda": lambda: _torch_gpu("cuda"),
    "rocm": lambda: _torch_gpu("rocm"),
    "mps": _mps,
    "openvino": _openvino,
    "qnn": _qnn,
    "webnn": lambda: _web("webnn"),
    "webgpu": lambda: _web("webgpu"),
}


@lru_cache(maxsize=1)
def detect_hardware() -> HardwareReport:
    """Detect every platform in names.PLATFORMS; a detector that raises reports the error as the reason."""
    found = []
    for name in PLATFORMS:
        try:
            found.append(_DETECTORS[name]())
        except Exception as exc:  # a broken runtime is a reason, not a crash
            found.append(PlatformInfo(name, False, reason=f"detection failed: {type(exc).__name__}: {exc}"))
    return HardwareReport(socket.gethostname(), tuple(found))
