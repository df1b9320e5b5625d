"""Write a copy of the project for `mlflow run -b kubernetes`: MLflow's kubernetes backend
needs a Docker environment, so the copy's MLproject names the base image (docs/kubernetes/
Dockerfile) where ours names conda.yaml. Entry points, parameters and commands are the same
text, byte for byte.

    python docs/kubernetes/make_project.py build/k8s --image registry.example.com/hwbench/base:latest
    cd build/k8s && mlflow run . -e benchmark -b kubernetes \
        --backend-config docs/kubernetes/kubernetes_config.json -P model=bert -P batch_sizes=1,8,32
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_LINE = "conda_env: conda.yaml"


def make_project(out: Path, image: str) -> Path:
    """Copy the tracked files into ``out`` with a docker_env MLproject; ``out``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / name)
    mlproject = (ROOT / "MLproject").read_text()
    if mlproject.count(ENV_LINE) != 1:
        raise SystemExit(f"MLproject has no single '{ENV_LINE}' line to replace")
    (out / "MLproject").write_text(mlproject.replace(ENV_LINE, f"docker_env:\n  image: {image}"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder to write (must not exist)")
    ap.add_argument("--image", default="registry.example.com/hwbench/base:latest", help="the base image")
    args = ap.parse_args()
    if args.out.exists():
        print(f"make_project: {args.out} exists; choose a new folder", file=sys.stderr)
        return 2
    print(make_project(args.out, args.image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
