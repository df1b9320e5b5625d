"""Hardware detection: a CPU-only torch build is told apart without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hwbench_mlflow.hardware import _torch_build


def test_torch_build_is_read_from_its_version_file():
    import torch

    build = _torch_build()
    assert build["__version__"] == torch.__version__
    assert build["cuda"] == torch.version.cuda and build["hip"] == torch.version.hip


def test_a_cpu_only_build_is_detected_without_importing_torch():
    if _torch_build().get("cuda") or _torch_build().get("hip"):
        pytest.skip("this torch is a GPU build: detection must import it")
    code = (
        "import sys\n"
        "from hwbench_mlflow.hardware import detect_hardware\n"
        "cuda = detect_hardware().get('cuda')\n"
        "print(cuda.available, cuda.reason, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[0] == "False" and out.stdout.strip().endswith("is a CPU-only build False"), out.stderr
